/**
 * The page's side of the analysis worker: reads only the VOI block of the volume, sends it,
 * and resolves with the result. Also exports the engine for running in the page itself.
 */
import type { BackendName } from '../engine/backend';
import type { ModelCard } from '../engine/weights';
import { AnalysisResult, Progress, voiBlock } from '../pipeline/analyze';
import type { VolumeSource } from '../pipeline/voi';
import type { Vec3 } from '../volume';
import type { FromWorker, ToWorker } from './protocol';

export { setWasmPath } from '../engine/backend';
export { loadModel, urlReader } from '../engine/weights';
export { Analyzer } from '../pipeline/analyze';
export { arraySource } from '../pipeline/voi';

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
type Pending = { resolve: (m: FromWorker) => void; reject: (e: Error) => void; onProgress?: (p: Progress) => void };

export class EngineWorker {
  private nextId = 1;
  private pending = new Map<number, Pending>();
  card?: ModelCard;
  backend?: { backend: BackendName; reason: string };

  constructor(private readonly worker: Worker) {
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      const msg = e.data;
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

  cancel(): void {
    void this.send({ type: 'cancel' }).catch(() => undefined);
  }

  terminate(): void {
    this.worker.terminate();
  }
}
