/**
 * The front door: load(options) gives an Engine, in this thread or in a Web Worker, with its
 * options checked once here. The in-process engine is the Analyzer; the worker engine
 * (WorkerEngine) runs one inside the worker and sends it only each click's VOI block.
 */
import { BACKEND_ORDER, BackendName, chooseBackend, dropWebGPU } from './engine/backend';
import { cachedUrlReader, FileReader, folderReader, LoadedModel, loadModel } from './engine/weights';
import { nodeBuiltin } from './io/node-builtin';
import { Analyzer, Engine, EngineSettings } from './pipeline/analyze';
import { WorkerEngine, WorkerLike } from './worker/engine-client';

export interface LoadOptions {
  /**
   * The model: a folder URL (or, in Node, a folder path), a FileReader, or a model already
   * loaded. A worker engine takes a URL, which the worker fetches itself.
   */
  weights: string | FileReader | LoadedModel;
  /** 'auto' (default): webgpu, webgl, wasm, cpu, the first that starts; or one forced. */
  backend?: BackendName | 'auto';
  /** Run in this Web Worker (the bundle's abus-worker.js); without it, in this thread. */
  worker?: WorkerLike;
  /** Where tfjs-wasm's .wasm binaries are served (browsers). */
  wasmPath?: string;
  /** Compile the kernels now, not at the first click (default true). */
  warmUp?: boolean;
  /**
   * tfjs-wasm threads (default: one per core). They run only where the page and the worker are
   * cross-origin isolated (COOP/COEP headers); elsewhere wasm has one thread whatever this says.
   */
  wasmThreads?: number;
  /** false: XNNPACK conv2d runs every convolution on wasm, not this project's SIMD kernel (benchmarks compare the two). */
  simdConv?: boolean;
  /** WebGPU tilings per convolution shape, as `bench:kernels --sweep` writes them (benchmarks; in this thread only). */
  tilings?: EngineSettings['tilings'];
}

/** A FileReader for a model folder: a URL is fetched (and cached in a browser), a path is read from disk (Node). */
export function readerFor(location: string): FileReader {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(location) || !nodeBuiltin('fs') ? cachedUrlReader(location) : folderReader(location);
}

function checkOptions(options: LoadOptions): void {
  const backend = options.backend ?? 'auto';
  if (backend !== 'auto' && !BACKEND_ORDER.includes(backend)) throw new Error(`Unknown backend '${backend}'; use auto or one of ${BACKEND_ORDER.join(', ')}`);
  if (!options.weights) throw new Error('load() needs the model: weights (a folder URL or path, a FileReader, or a loaded model)');
  if (options.worker && typeof options.weights !== 'string') throw new Error('A worker engine loads its model from a URL: give weights as a string');
  if (options.worker && options.tilings) throw new Error('tilings are for an engine in this thread (benchmarks); a worker engine runs the default tilings');
  if (options.wasmThreads !== undefined && !(Number.isInteger(options.wasmThreads) && options.wasmThreads >= 1)) throw new Error(`wasmThreads must be a whole number of at least 1, got ${options.wasmThreads}`);
}

export async function load(options: LoadOptions): Promise<Engine> {
  checkOptions(options);
  if (options.worker) return WorkerEngine.start(options.worker, { weightsUrl: options.weights as string, backend: options.backend ?? 'auto', wasmPath: options.wasmPath, warmUp: options.warmUp ?? true, wasmThreads: options.wasmThreads, simdConv: options.simdConv });
  return loadInThread(options);
}

/** load() in this thread: the engine a worker runs (worker.ts), which also needs its VOI-level methods. */
export async function loadInThread(options: Omit<LoadOptions, 'worker'>): Promise<Analyzer> {
  checkOptions(options);
  const backend = options.backend ?? 'auto';
  // This engine's own: nothing here is written where another engine would see it.
  const settings: EngineSettings = { wasmPath: options.wasmPath, wasmThreads: options.wasmThreads, simdConv: options.simdConv, tilings: options.tilings };
  const weights = options.weights;
  const reader = typeof weights === 'string' ? readerFor(weights) : typeof weights === 'function' ? weights : undefined;
  const engine = await Analyzer.create(reader ? await loadModel(reader).catch((err: Error) => {
    // A card's problem names the model folder or URL too, not only 'model-card.json'.
    if (typeof weights === 'string' && /^model-card\.json /.test(err.message)) err.message = `${weights.replace(/\/+$/, '')}/${err.message}`;
    throw err;
  }) : (weights as LoadedModel), backend, settings);
  if (options.warmUp === false) return engine;
  try {
    await engine.warmUp();
    return engine;
  } catch (err) {
    // WebGPU that cannot run the network (a shader error, a device limit) is skipped like a
    // missing one, unless the user forced it.
    if (engine.backend.backend !== 'webgpu' || backend !== 'auto' || !reader) throw err;
    return withoutWebGPU(engine, () => loadModel(reader), (err as Error).message);
  }
}

/** The model again on the first backend after webgpu that starts, saying why webgpu was left. */
export async function withoutWebGPU(failed: Analyzer, reload: () => Promise<LoadedModel>, why: string): Promise<Analyzer> {
  failed.dispose();
  dropWebGPU();
  const choice = await chooseBackend('auto', { ...failed.settings, skipped: [{ backend: 'webgpu', why }], acceptSoftware: BACKEND_ORDER });
  const next = await Analyzer.create(await reload(), choice, failed.settings);
  await next.warmUp();
  return next;
}
