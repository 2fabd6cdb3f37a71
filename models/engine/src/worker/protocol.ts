/** Messages between the page and the analysis Web Worker. Only a VOI's or a scan window's resampled grid crosses, never the volume. */
import type { BackendChange, BackendName } from '../engine/backend';
import type { ModelCard } from '../engine/weights';
import type { AnalysisResult, Progress } from '../pipeline/analyze';
import type { VoiPlan } from '../pipeline/voi';
import type { FlipAxis } from '../pipeline/flips';
import type { VolumeGeometry } from '../volume';

export type ToWorker =
  | { id: number; type: 'init'; weightsUrl: string; backend: BackendName | 'auto'; wasmPath?: string; warmUp: boolean; wasmThreads?: number; simdConv?: boolean }
  /** The page planned the VOI and read its grid slab by slab (in readMs); the worker analyses it, with these flipped views averaged. */
  | { id: number; type: 'analyze'; geometry: VolumeGeometry; plan: VoiPlan; values: Float32Array; inside: Uint8Array; flips: FlipAxis[]; readMs: number; look: boolean; reusePlain: boolean }
  /** One window of a scan, read and resampled by the page (scan.ts readWindow); the worker returns its probability map. */
  | { id: number; type: 'window'; plan: VoiPlan; values: Float32Array; inside: Uint8Array; iterations?: number }
  | { id: number; type: 'warm-up' }
  | { id: number; type: 'cancel' };

export type FromWorker =
  | { id: number; type: 'ready'; backend: BackendName; reason: string; card: ModelCard }
  | { id: number; type: 'progress'; progress: Progress }
  | { id: number; type: 'result'; result: AnalysisResult }
  | { id: number; type: 'window-result'; probability: Float32Array }
  | { id: number; type: 'warmed-up'; ms: number }
  | { id: number; type: 'cancelled' }
  | { id: number; type: 'error'; message: string }
  /** Unrequested: posted once the worker has restarted after a GPU loss. */
  | ({ type: 'backend-changed' } & BackendChange);
