/**
 * One click to one result: VOI -> N network passes -> lesion mask on the source grid,
 * P(malignant), size, the backend that ran, and where the time went.
 */
import * as tf from '@tensorflow/tfjs-core';
import { activeWebGPUDevice, BackendChange, BackendChoice, BackendName, BackendSettings, chooseBackend, GpuDeviceLike } from '../engine/backend';
import { forwardPass, Weights } from '../engine/network';
import type { KernelOptions } from '../engine/ops';
import { LoadedModel, ModelCard, splitDetectorWeights } from '../engine/weights';
import { detectorProbability } from './detector';
import { IDENTITY_DIRECTION, Vec3, VolumeGeometry } from '../volume';
import { malignancyProbability, logit } from './classifier';
import { Descriptors, lesionDescriptors } from './descriptors';
import { componentAtCenter, LesionSize, measureLesion } from './postprocess';
import { Verdict, verdictClass, verdictFor } from './verdict';
import { AbortError, checkAbort, nextTask } from './abort';
import { FlipAxis, flipGrid, flipViews } from './flips';
import { analyzeAtLesion, lesionMoved, VoiRunMode } from './lesion-centre';
import { ScanOptions, ScanResult, scanVolume, WindowRunner } from './scan';

export { AbortError };
import { arraySource, focusOnGrid, gridMaskToSource, normalizeVoi, planFocus, VoiPlan, VolumeSource, WindowGrid } from './voi';
import type { AnalysisResult, AnalyzeOptions, Progress } from './result';

export type { AnalysisResult, AnalyzeOptions, Progress, Stage } from './result';

interface ScopedDevice extends GpuDeviceLike {
  pushErrorScope?(filter: 'validation' | 'out-of-memory'): void;
  popErrorScope?(): Promise<{ message: string } | null>;
}

function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Makes a started backend the active one before it returns: tfjs-core's engine.setBackend awaits
 * only a first initialisation, so for a backend already started the switch is done when the call
 * returns, and the tensor work that follows in the same task runs on it.
 */
function activate(name: BackendName): void {
  if (tf.getBackend() === name) return;
  if (!tf.findBackend(name)) throw new Error(`This engine's backend (${name}) is no longer started; load the model again`);
  void tf.setBackend(name);
  if (tf.getBackend() !== name) throw new Error(`This engine's backend (${name}) could not be made active again`);
}

/** The voxel-wise mean of equal-length maps. */
function averageMaps(maps: Float32Array[]): Float32Array {
  const out = new Float32Array(maps[0].length);
  for (const m of maps) for (let i = 0; i < out.length; i++) out[i] += m[i] / maps.length;
  return out;
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/**
 * What runs a model: in this thread (Analyzer) or in a Web Worker (WorkerEngine), made by load().
 * analyze() plans the click's VOI, reads only its block from the source, analyses it, and again on
 * the lesion's own centre (lesion-centre.ts); it resolves with the lesion at the click, or "no
 * lesion here".
 */
export interface Engine {
  readonly card: ModelCard;
  /** The backend that runs and why; undefined in a worker after a GPU loss that no backend could replace. */
  readonly backend: { backend: BackendName; reason: string } | undefined;
  analyze(source: VolumeSource, click: Vec3, options?: AnalyzeOptions): Promise<AnalysisResult>;
  /**
   * "Find lesions": scans the whole volume window by window (each window's block read on its own),
   * then analyses the best candidates as clicks; resolves with them ranked (see scan.ts).
   */
  scan(source: VolumeSource, options?: ScanOptions): Promise<ScanResult>;
  /** Compiles the kernels on an empty VOI, so the first click is not slower than the next; ms. */
  warmUp(): Promise<number>;
  /** Stops the analyses and scans this engine is running: each rejects with an AbortError. */
  cancel(): void;
  /**
   * Set by the caller: told when the engine changed backend by itself (a worker engine after a GPU
   * loss), after `backend` is updated. Show `change.message` to the user.
   */
  onBackendChange?: (change: BackendChange) => void;
  dispose(): void;
}

/** What load() fixes for one engine: how its backend starts and which kernels it runs. */
export interface EngineSettings extends BackendSettings {
  /** WebGPU 'workgroup' tilings per convolution shape (KernelOptions.tilings). */
  tilings?: KernelOptions['tilings'];
}

export class Analyzer implements Engine, WindowRunner {
  private readonly kernels: KernelOptions;
  /** The card's detector's weights, without their prefix (the same tensors). */
  private readonly detectorWeights: Weights;

  private constructor(
    readonly card: ModelCard,
    private readonly weights: Weights,
    readonly backend: BackendChoice,
    /** Kept, so that a worker's restart after a GPU loss starts the next backend the same way. */
    readonly settings: EngineSettings,
  ) {
    this.kernels = { simdConv: settings.simdConv, tilings: settings.tilings };
    this.detectorWeights = splitDetectorWeights(weights).detector;
  }

  /** An in-thread engine keeps the backend it was loaded on: this is never called. */
  onBackendChange?: (change: BackendChange) => void;
  /** One controller per analysis or scan in flight, for cancel(). */
  private readonly running = new Set<AbortController>();
  /**
   * The unflipped view of the last VOI analysed in full. Re-centring analyses the VOI it settled
   * on once more with the flips (lesion-centre.ts, reusePlain); that analysis' unflipped view is
   * this one, and taking it from here saves a quarter of its network passes and changes no
   * number. It is taken only when asked and when the network's input is the same to the last value.
   */
  private lastPlainView: { voi: Float32Array; probMap: Float32Array | null; networkProbability: number | null } | undefined;

  /**
   * Takes ownership of the model's weights; moves them to the chosen backend. `backend`: a name or
   * 'auto' (chooseBackend picks now, with the settings), or a choice chooseBackend already made.
   */
  static async create(model: LoadedModel, backend: BackendName | 'auto' | BackendChoice = 'auto', settings: EngineSettings = {}): Promise<Analyzer> {
    const choice = typeof backend === 'object' ? backend : await chooseBackend(backend, settings);
    if (!model.card.folded) throw new Error('Inference needs folded weights (batch norm folded into the convolutions)');
    // Re-create the weights on the chosen backend so the first analysis does not pay for the move
    // (made active again after each wait: another engine may be loading at the same time).
    const weights: Weights = {};
    for (const [name, t] of Object.entries(model.weights)) {
      const values = await t.data();
      activate(choice.backend);
      weights[name] = tf.tensor(values, t.shape, t.dtype);
      t.dispose();
    }
    return new Analyzer(model.card, weights, choice, settings);
  }

  /**
   * TensorFlow.js has one active backend per page, and another engine may have switched it since
   * this one last ran: called right before the tensor work that needs this engine's (activate).
   */
  private useOwnBackend(): void {
    activate(this.backend.backend);
  }

  /**
   * One analysis of an empty volume of the model's own grid, so that the backend compiles its
   * kernels (WebGPU pipelines, wasm set-up) before the user's first click instead of during it.
   * Returns how long it took (ms).
   */
  async warmUp(): Promise<number> {
    const t0 = now();
    const { grid, voxelMm } = this.card.input;
    const dims: Vec3 = [grid[0], grid[1], grid[2]];
    const volume = { dims, spacing: [voxelMm, voxelMm, voxelMm] as Vec3, origin: [0, 0, 0] as Vec3, direction: IDENTITY_DIRECTION, data: Uint8Array.from({ length: dims[0] * dims[1] * dims[2] }, (_, i) => i % 251) };
    // Every analysis runs the same layer shapes (the model's fixed grid), so a shader that fails
    // to compile or a dispatch past the device's limits shows here, caught by WebGPU error scopes,
    // instead of as silent zeros in a user's result.
    this.useOwnBackend();
    const device = this.backend.backend === 'webgpu' ? (activeWebGPUDevice() as ScopedDevice | undefined) : undefined;
    device?.pushErrorScope?.('validation');
    device?.pushErrorScope?.('out-of-memory');
    try {
      await this.analyze(arraySource(volume), [(dims[0] - 1) / 2, (dims[1] - 1) / 2, (dims[2] - 1) / 2], { centerSpace: 'voxel' });
    } finally {
      const errors = device?.popErrorScope ? [await device.popErrorScope(), await device.popErrorScope()].filter(Boolean) : [];
      if (errors.length) throw new Error(`WebGPU could not run the network: ${errors.map((e) => e!.message).join('; ')}`);
    }
    return now() - t0;
  }

  analyze(source: VolumeSource, click: Vec3, options: AnalyzeOptions = {}): Promise<AnalysisResult> {
    return this.cancellable(options.signal, (signal) => {
      const cancellableOptions = { ...options, signal };
      return analyzeAtLesion(this.card, source, click, cancellableOptions, (plan, grid, flips, readMs, mode) => this.run(plan, source, grid, { ...cancellableOptions, ...mode, flips, readMs }));
    });
  }

  scan(source: VolumeSource, options: ScanOptions = {}): Promise<ScanResult> {
    return this.cancellable(options.signal, (signal) => scanVolume(this, source, { ...options, signal }));
  }

  cancel(): void {
    this.running.forEach((controller) => controller.abort());
  }

  /** Runs work with a signal that the caller's signal and cancel() both abort. */
  private async cancellable<T>(signal: AbortSignal | undefined, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const forward = () => controller.abort();
    if (signal?.aborted) controller.abort();
    signal?.addEventListener('abort', forward);
    this.running.add(controller);
    try {
      return await work(controller.signal);
    } finally {
      this.running.delete(controller);
      signal?.removeEventListener('abort', forward);
    }
  }

  /**
   * The analysis of a planned VOI whose grid has been read (readWindow, slab by slab): what a worker runs. With flips, each
   * view's map is mirrored back and the maps and network outputs are averaged; the lesion, its
   * descriptors and P come from the average, and each view's own P widens probabilityRange.
   */
  async run(plan: VoiPlan, source: VolumeGeometry, grid: WindowGrid, options: AnalyzeOptions & VoiRunMode & { readMs?: number } = {}): Promise<AnalysisResult> {
    const timings: Record<string, number> = { readVoi: Math.round((options.readMs ?? 0) * 10) / 10 };
    const t0 = now() - (options.readMs ?? 0);
    let mark = now();
    const lap = (name: string) => {
      const t = now();
      timings[name] = Math.round(((timings[name] ?? 0) + t - mark) * 10) / 10;
      mark = t;
    };
    const { architecture: config, input } = this.card;
    const voiData = normalizeVoi(grid.values, grid.inside);
    lap('resample');
    checkAbort(options.signal);

    const views = flipViews(options.flips ?? []);
    const maps: Float32Array[] = [];
    const networkPs: number[] = [];
    const iterations = config.iterations;
    // Re-centring's look (lesion-centre.ts): after the first pass, go on only if its lesion's
    // centre is where this VOI already is; otherwise the first pass was only a look.
    const stayed = options.look && views.length === 1 ? (map: Float32Array) => {
      const { found, lesion } = this.lesionOf(plan, source, voiData, map, null);
      return !found || !lesionMoved(this.card, source, plan, lesion);
    } : undefined;
    let passesRun = iterations;
    for (const [v, flips] of views.entries()) {
      const steps = { of: views.length * iterations, done: v * iterations };
      const onProgress = options.onProgress && ((p: Progress) => options.onProgress!(p.stage === 'iteration' ? { ...p, step: steps.done + p.step!, of: steps.of } : p));
      const known = !flips.length && options.reusePlain && this.lastPlainView && sameValues(this.lastPlainView.voi, voiData) ? this.lastPlainView : undefined;
      const out = known ? { ...known, passes: iterations } : await this.passes(flipGrid(voiData, input.grid, flips), input.grid, iterations, { ...options, onProgress }, (k) => lap(v ? `flips` : `iteration${k}`), stayed);
      if (!flips.length && out.passes === iterations) this.lastPlainView = { voi: voiData, probMap: out.probMap, networkProbability: out.networkProbability };
      passesRun = out.passes;
      if (out.probMap) maps.push(flipGrid(out.probMap, input.grid, flips));
      if (out.networkProbability !== null) networkPs.push(out.networkProbability);
    }
    lap('download');
    options.onProgress?.({ stage: 'post-processing' });
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const probMap = maps.length > 1 ? averageMaps(maps) : (maps[0] ?? null);
    const networkProbability = networkPs.length ? mean(networkPs) : null;
    const lesionOf = (map: Float32Array | null, netP: number | null) => this.lesionOf(plan, source, voiData, map, netP);
    const { found, lesion, size, descriptors, probability } = lesionOf(probMap, networkProbability);
    // Each view's own answer, only where there is one view's P to compare.
    const viewPs = probability !== null && views.length > 1 ? maps.map((m, v) => lesionOf(m, networkPs[v] ?? null).probability).filter((p): p is number => p !== null) : [];
    const probabilityRange: [number, number] | null = probability === null ? null : [Math.min(probability, ...viewPs), Math.max(probability, ...viewPs)];
    const verdict = verdictFor(probability, this.card.operatingPoints, probabilityRange);
    lap('postprocess');
    timings.total = Math.round((now() - t0) * 10) / 10;
    return {
      found,
      probability,
      probabilityRange,
      views: views.length,
      networkProbability,
      descriptors,
      verdict,
      label: verdictClass(verdict),
      lesion,
      size,
      centerIndex: planFocus(plan),
      clickIndex: planFocus(plan),
      analyses: 1,
      passes: passesRun,
      backend: this.backend.backend,
      backendReason: this.backend.reason,
      timingsMs: timings,
      notice: this.card.notice,
    };
  }

  /** The lesion of a probability map: its component at the VOI's focus (the click, or the lesion's centre), the card's "no lesion" rule, descriptors and P. */
  private lesionOf(plan: VoiPlan, source: VolumeGeometry, voiData: Float32Array, probMap: Float32Array | null, networkProbability: number | null) {
    const { input } = this.card;
    const [gx, gy, gz] = input.grid;
    const detection = this.card.detection ?? { clickRadiusMm: Infinity, minLesionMl: 0 };
    const component = probMap ? componentAtCenter(probMap, input.grid, focusOnGrid(plan, source.spacing), 0.5, detection.clickRadiusMm / input.voxelMm) : new Uint8Array(gx * gy * gz);
    const segment = gridMaskToSource(plan, source, component);
    const segmentSize = measureLesion(segment, source.spacing);
    const found = segment.voxelCount > 0 && segmentSize.volumeMl >= detection.minLesionMl;
    const gridMask = found ? component : new Uint8Array(gx * gy * gz);
    const lesion = found ? segment : gridMaskToSource(plan, source, gridMask);
    const size = found ? segmentSize : measureLesion(lesion, source.spacing);
    const descriptors = found && networkProbability !== null ? lesionDescriptors(gridMask, voiData, input.grid, logit(networkProbability)) : null;
    const probability = found && networkProbability !== null ? malignancyProbability(this.card.classifier, descriptors, networkProbability) : null;
    return { found, lesion, size, descriptors, probability };
  }

  /**
   * The segmentation probability over one window already resampled to the model's voxels
   * (scan.ts readWindow): `iterations` network passes (the card's N by default), nothing after.
   * What the scan runs on each window. The window's grid may be larger than the card's (the
   * network is fully convolutional), each side a multiple of 16 voxels. A card with a detector
   * runs the detector instead (one pass, `iterations` does not apply; each side a multiple of 32).
   */
  async windowProbability(plan: VoiPlan, window: WindowGrid, options: { iterations?: number; signal?: AbortSignal } = {}): Promise<Float32Array> {
    if (plan.voxelMm !== this.card.input.voxelMm) throw new Error(`A window's voxels must be the model's (${this.card.input.voxelMm} mm), got ${plan.voxelMm} mm`);
    checkAbort(options.signal);
    if (this.card.detector) {
      this.useOwnBackend();
      return detectorProbability(this.card.detector, this.detectorWeights, plan.grid, window.values, window.inside, this.kernels);
    }
    const { probMap } = await this.passes(normalizeVoi(window.values, window.inside), plan.grid, options.iterations ?? this.card.architecture.iterations, options);
    if (!probMap) throw new Error('This model has no segmentation output: it cannot scan a volume');
    return probMap;
  }

  /** N passes over a normalised VOI, each after the first seeing the last one's map; cancellable between passes. */
  private async passes(voiData: Float32Array, grid: Vec3, iterations: number, options: AnalyzeOptions, onPass?: (k: number) => void, goOnAfterFirst?: (segProb: Float32Array) => boolean): Promise<{ probMap: Float32Array | null; networkProbability: number | null; passes: number }> {
    const config = this.card.architecture;
    const [gx, gy, gz] = grid;
    this.useOwnBackend();
    const voi = tf.tensor5d(voiData, [1, gz, gy, gx, 1]);
    let prior: tf.Tensor5D | undefined;
    let clsProb: tf.Tensor | undefined;
    try {
      for (let k = 1; k <= iterations; k++) {
        this.useOwnBackend();
        options.onProgress?.({ stage: 'iteration', step: k, of: iterations });
        const pass = tf.tidy(() => {
          const out = forwardPass(config, this.weights, voi, prior, { kernels: this.kernels });
          return { segProb: out.segProb, clsProb: out.clsProb };
        });
        tf.dispose([prior, clsProb].filter(Boolean) as tf.Tensor[]);
        prior = pass.segProb;
        clsProb = pass.clsProb;
        // Waiting for a value makes the per-iteration time real on asynchronous (GPU) backends.
        await (clsProb ?? prior)?.data();
        onPass?.(k);
        // A task boundary between passes: a cancel (a worker message, a Node signal) is handled here, not after the last pass.
        if (options.signal) await nextTask();
        checkAbort(options.signal);
        if (k === 1 && k < iterations && goOnAfterFirst && prior) {
          const first = (await prior.data()) as Float32Array;
          if (!goOnAfterFirst(first)) return { probMap: first, networkProbability: null, passes: 1 };
        }
      }
      const networkProbability = clsProb ? (await clsProb.data())[0] : null;
      const probMap = prior ? ((await prior.data()) as Float32Array) : null;
      return { probMap, networkProbability, passes: iterations };
    } finally {
      tf.dispose([voi, prior, clsProb].filter(Boolean) as tf.Tensor[]);
    }
  }

  dispose(): void {
    this.lastPlainView = undefined;
    tf.dispose(Object.values(this.weights));
  }
}
