/**
 * The page's side of the analysis worker: reads only the VOI block of the volume, sends it,
 * and resolves with the result. Also exports the engine for running in the page itself.
 */
import type { BackendName } from '../engine/backend';
import type { ModelCard } from '../engine/weights';
import { AnalysisResult, Progress, voiBlock } from '../pipeline/analyze';
import type { VolumeSource } from '../pipeline/voi';
import type { Vec3 } from '../volume';
import type { BackendChange, FromWorker, ToWorker } from './protocol';

export { setWasmPath } from '../engine/backend';
export { loadModel, urlReader } from '../engine/weights';
export { Analyzer } from '../pipeline/analyze';
export { arraySource } from '../pipeline/voi';
export type { BackendChange } from './protocol';

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
type Pending = { resolve: (m: FromWorker) => void; reject: (e: Error) => void; onProgress?: (p: Progress) => void };

export class EngineWorker {
  private nextId = 1;
  private pending = new Map<number, Pending>();
  card?: ModelCard;
  /** Undefined before init, and after a GPU loss from which no backend could restart. */
  backend?: { backend: BackendName; reason: string };
  /**
   * Called when the worker changed backend by itself (the GPU was lost), after `backend` is
   * updated. The analysis that was running has already failed with a "The GPU was lost" error;
   * the next analyze() runs on the new backend. Show `change.message` to the user.
   */
  onBackendChange?: (change: BackendChange) => void;

  constructor(private readonly worker: Worker) {
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      const msg = e.data;
      if (msg.type === 'backend-changed') {
        const change: BackendChange = { backend: msg.backend, reason: msg.reason, lost: msg.lost, message: msg.message };
        this.backend = change.backend ? { backend: change.backend, reason: change.reason } : undefined;
        this.onBackendChange?.(change);
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      if (msg.type === 'progress') return p.onProgress?.(msg.progress);
      this.pending.delete(msg.id);
      if (msg.type === 'error') p.reject(new Error(msg.message));
      else if (msg.type === 'cancelled') p.reject(Object.assign(new Error('Analysis cancelled'), { name: 'AbortError' }));
      else p.resolve(msg);
    };
    worker.onerror = (e) => this.pending.forEach((p) => p.reject(new Error(`Analysis worker failed: ${e.message}`)));
  }

  private send(msg: WithoutId<ToWorker>, transfer: Transferable[] = [], onProgress?: (p: Progress) => void): Promise<FromWorker> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  async init(weightsUrl: string, backend: BackendName | 'auto' = 'auto', wasmPath?: string): Promise<void> {
    const msg = await this.send({ type: 'init', weightsUrl, backend, wasmPath });
    if (msg.type !== 'ready') throw new Error(`Unexpected worker reply ${msg.type}`);
    this.card = msg.card;
    this.backend = { backend: msg.backend, reason: msg.reason };
  }

  async analyze(source: VolumeSource, center: Vec3, options: { centerSpace?: 'patient' | 'voxel'; threshold?: number; onProgress?: (p: Progress) => void } = {}): Promise<AnalysisResult> {
    if (!this.card) throw new Error('Call init() first');
    const geometry = { dims: source.dims, spacing: source.spacing, origin: source.origin, direction: source.direction };
    const { center: index, min, max } = voiBlock(this.card, geometry, center, options.centerSpace ?? 'patient');
    const block = source.readBlock(min, max);
    const msg = await this.send({ type: 'analyze', geometry, center: index, blockMin: min, blockMax: max, block, threshold: options.threshold }, [block.buffer as ArrayBuffer], options.onProgress);
    if (msg.type !== 'result') throw new Error(`Unexpected worker reply ${msg.type}`);
    return msg.result;
  }

  /**
   * Test and diagnostic hook: destroys the worker's GPU device, as a driver reset would lose it.
   * Resolves false when the worker is not on webgpu. onBackendChange follows once it restarted.
   */
  async testLoseDevice(): Promise<boolean> {
    const msg = await this.send({ type: 'test-lose-device' });
    if (msg.type !== 'test-device-destroyed') throw new Error(`Unexpected worker reply ${msg.type}`);
    return msg.destroyed;
  }

  cancel(): void {
    void this.send({ type: 'cancel' }).catch(() => undefined);
  }

  terminate(): void {
    this.worker.terminate();
  }
}
