/** Messages between the page and the analysis Web Worker. Only the VOI block crosses, never the volume. */
import type { BackendName } from '../engine/backend';
import type { ModelCard } from '../engine/weights';
import type { AnalysisResult, Progress } from '../pipeline/analyze';
import type { Vec3, VolumeGeometry } from '../volume';

export type ToWorker =
  | { id: number; type: 'init'; weightsUrl: string; backend?: BackendName | 'auto'; wasmPath?: string }
  | { id: number; type: 'analyze'; geometry: VolumeGeometry; center: Vec3; blockMin: Vec3; blockMax: Vec3; block: Float32Array; threshold?: number }
  | { id: number; type: 'cancel' };

export type FromWorker =
  | { id: number; type: 'ready'; backend: BackendName; reason: string; card: ModelCard }
  | { id: number; type: 'progress'; progress: Progress }
  | { id: number; type: 'result'; result: AnalysisResult }
  | { id: number; type: 'cancelled' }
  | { id: number; type: 'error'; message: string };
