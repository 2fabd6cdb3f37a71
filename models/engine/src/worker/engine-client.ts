/**
 * The Engine of a Web Worker (made by load() with a worker): the page plans each click's VOI
 * (and re-plans it on the lesion's centre, lesion-centre.ts), reads it from its VolumeSource slab
 * by slab, resampled to the network's grid, and sends that grid; the worker analyses it. A scan runs
 * its loop here the same way: one window at a time, read slab by slab and resampled here, goes to the worker, its probability
 * map comes back, and the candidates are analysed as clicks.
 */
import type { BackendName } from '../engine/backend';
import type { ModelCard } from '../engine/weights';
import { AnalysisResult, AnalyzeOptions, Engine, Progress } from '../pipeline/analyze';
import { analyzeAtLesion } from '../pipeline/lesion-centre';
import { ScanOptions, ScanResult, scanVolume, WindowGrid, WindowRunner } from '../pipeline/scan';
import type { VoiPlan, VolumeSource } from '../pipeline/voi';
import type { Vec3 } from '../volume';
import type { BackendChange } from '../engine/backend';
import type { FromWorker, ToWorker } from './protocol';

/** The part of a Worker the client uses (a DOM Worker, or a stand-in in tests). */
export interface WorkerLike {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent) => void) | null;
  onerror: ((event: ErrorEvent) => void) | null;
  terminate(): void;
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
type Pending = { resolve: (m: FromWorker) => void; reject: (e: Error) => void; onProgress?: (p: Progress) => void };

export class WorkerEngine implements Engine, WindowRunner {
  private nextId = 1;
  private pending = new Map<number, Pending>();
  card!: ModelCard;
  backend: { backend: BackendName; reason: string } | undefined;
  /**
   * Called when the worker changed backend by itself (the GPU was lost), after `backend` is
   * updated. The analysis that was running has already failed with a "The GPU was lost" error;
   * the next analyze() runs on the new backend. Show `change.message` to the user.
   */
  onBackendChange?: (change: BackendChange) => void;

  private constructor(private readonly worker: WorkerLike) {
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

  /** Starts the model in the worker (checksums verified there); see load(). */
  static async start(worker: WorkerLike, init: { weightsUrl: string; backend: BackendName | 'auto'; wasmPath?: string; warmUp: boolean; wasmThreads?: number; simdConv?: boolean }): Promise<WorkerEngine> {
    const engine = new WorkerEngine(worker);
    const msg = await engine.send({ type: 'init', ...init });
    if (msg.type !== 'ready') throw new Error(`Unexpected worker reply ${msg.type}`);
    engine.card = msg.card;
    engine.backend = { backend: msg.backend, reason: msg.reason };
    return engine;
  }

  private send(msg: WithoutId<ToWorker>, transfer: Transferable[] = [], onProgress?: (p: Progress) => void): Promise<FromWorker> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  analyze(source: VolumeSource, click: Vec3, options: AnalyzeOptions = {}): Promise<AnalysisResult> {
    const geometry = { dims: source.dims, spacing: source.spacing, origin: source.origin, direction: source.direction };
    return analyzeAtLesion(this.card, source, click, options, async (plan, grid, flips, readMs, mode) => {
      if (options.signal?.aborted) throw Object.assign(new Error('Analysis cancelled'), { name: 'AbortError' });
      const cancel = () => this.cancel();
      options.signal?.addEventListener('abort', cancel);
      try {
        const msg = await this.send({ type: 'analyze', geometry, plan, values: grid.values, inside: grid.inside, flips, readMs, look: Boolean(mode.look), reusePlain: Boolean(mode.reusePlain) }, [grid.values.buffer as ArrayBuffer, grid.inside.buffer as ArrayBuffer], options.onProgress);
        if (msg.type !== 'result') throw new Error(`Unexpected worker reply ${msg.type}`);
        return msg.result;
      } finally {
        options.signal?.removeEventListener('abort', cancel);
      }
    });
  }

  scan(source: VolumeSource, options: ScanOptions = {}): Promise<ScanResult> {
    return scanVolume(this, source, options);
  }

  /** One scan window in the worker (see WindowRunner); its grid arrays are transferred, not copied. */
  async windowProbability(plan: VoiPlan, window: WindowGrid, options: { iterations?: number; signal?: AbortSignal } = {}): Promise<Float32Array> {
    if (options.signal?.aborted) throw Object.assign(new Error('Analysis cancelled'), { name: 'AbortError' });
    const cancel = () => this.cancel();
    options.signal?.addEventListener('abort', cancel);
    try {
      const msg = await this.send({ type: 'window', plan, values: window.values, inside: window.inside, iterations: options.iterations }, [window.values.buffer as ArrayBuffer, window.inside.buffer as ArrayBuffer]);
      if (msg.type !== 'window-result') throw new Error(`Unexpected worker reply ${msg.type}`);
      return msg.probability;
    } finally {
      options.signal?.removeEventListener('abort', cancel);
    }
  }

  async warmUp(): Promise<number> {
    const msg = await this.send({ type: 'warm-up' });
    if (msg.type !== 'warmed-up') throw new Error(`Unexpected worker reply ${msg.type}`);
    return msg.ms;
  }

  /** Stops the analysis in flight; it rejects with an AbortError. */
  cancel(): void {
    void this.send({ type: 'cancel' }).catch(() => undefined);
  }

  dispose(): void {
    this.worker.terminate();
  }
}
