/**
 * Picks the TensorFlow.js backend: webgpu, then webgl, wasm, cpu, unless one is forced.
 * Each backend package is loaded only when tried, because tfjs-backend-webgpu registers
 * itself only if navigator.gpu exists at import time, and webgl needs a canvas.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { simdConvStarted, simdConvThreads, simdConvUnavailable } from './wasm/simd-conv';

export const BACKEND_ORDER = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_ORDER)[number];

export interface BackendChoice {
  backend: BackendName;
  /** One line a person can read: which backend runs and why the ones before it did not. */
  reason: string;
  skipped: { backend: BackendName; why: string }[];
}

/**
 * How one engine starts its backend: fixed at load() and kept by that engine, never written into
 * this module, so two engines in one page keep their own.
 */
export interface BackendSettings {
  /** Where tfjs-wasm's .wasm binaries are served (a browser bundle's URL); Node finds its package's own. */
  wasmPath?: string;
  /**
   * tfjs-wasm's thread count. Threads exist only in its threaded build, which it picks where
   * SharedArrayBuffer can be used (a cross-origin isolated page or worker). tfjs-wasm starts once
   * per page: the first engine on wasm sets it, and the reason line says what runs.
   */
  wasmThreads?: number;
  /** false: XNNPACK conv2d runs every convolution on wasm, not this project's SIMD kernel. */
  simdConv?: boolean;
}

interface WasmBackendLike {
  wasm?: { tfjs?: { getThreadsCount(): number } };
}

/** The threads tfjs-wasm runs with (1 unless its threaded build started), or undefined before it starts. */
export function wasmThreadCount(): number | undefined {
  try {
    return (tf.findBackend('wasm') as unknown as WasmBackendLike | undefined)?.wasm?.tfjs?.getThreadsCount();
  } catch {
    return undefined; // not started yet
  }
}

function nodeWasmDir(): string | undefined {
  if (typeof process === 'undefined' || !process.versions?.node) return undefined;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const path = require('path') as typeof import('path');
  return path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
}

interface AdapterLike {
  isFallbackAdapter?: boolean;
  info?: { vendor?: string; architecture?: string; description?: string };
}

function adapterName(adapter: AdapterLike): string {
  const marked = (globalThis as { __abusSoftwareWebGPU?: string }).__abusSoftwareWebGPU;
  if (marked) return marked;
  const info = adapter.info ?? {};
  return [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unknown';
}

/** SwiftShader (Chromium's and Dawn's CPU fallback) proves correctness, not speed. */
function isSoftwareAdapter(adapter: AdapterLike): boolean {
  // Dawn in Node reports no adapter info; the Node installer marks SwiftShader itself.
  if ((globalThis as { __abusSoftwareWebGPU?: string }).__abusSoftwareWebGPU) return true;
  return Boolean(adapter.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe/i.test(adapterName(adapter));
}

const SOFTWARE_RENDERER = /swiftshader|llvmpipe|lavapipe|software/i;

/**
 * The WebGL renderer's name (WEBGL_debug_renderer_info), or undefined when WebGL or the name is
 * not available. Measured in headless Chromium: on SwiftShader WebGL one analysis took several
 * seconds where wasm took 0.3-0.6 s, so software WebGL is skipped like software WebGPU.
 */
function webglRenderer(): string | undefined {
  try {
    const canvas = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(1, 1) : document.createElement('canvas');
    const gl = (canvas as HTMLCanvasElement).getContext('webgl2') ?? (canvas as HTMLCanvasElement).getContext('webgl');
    if (!gl) return undefined;
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    return String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  } catch {
    return undefined;
  }
}

/** The priority tfjs-backend-webgpu registers itself with. */
const WEBGPU_PRIORITY = 3;
/** tfjs-backend-webgpu's factory, as dropWebGPU() hands it back to its caller. */
export type WebGPUFactory = () => tf.KernelBackend | Promise<tf.KernelBackend>;

async function register(name: BackendName, forced: boolean, options: StartOptions): Promise<string | undefined> {
  if (tf.findBackendFactory(name)) return undefined;
  switch (name) {
    case 'webgpu': {
      const nav = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<AdapterLike | null> } } }).navigator;
      if (!nav?.gpu) return 'navigator.gpu is missing (no WebGPU in this browser or runtime)';
      const adapter = await nav.gpu.requestAdapter();
      if (!adapter) return 'navigator.gpu.requestAdapter() returned no adapter';
      if (!forced && isSoftwareAdapter(adapter)) return `only a software WebGPU adapter (${adapterName(adapter)}), which is slower than wasm on the CPU`;
      await import('@tensorflow/tfjs-backend-webgpu');
      // The package registers itself only on its first import, so after dropWebGPU() its factory
      // (which asks for a new adapter and device each time) is put back by hand.
      if (!tf.findBackendFactory(name) && options.webgpuFactory) tf.registerBackend(name, options.webgpuFactory, WEBGPU_PRIORITY);
      return tf.findBackendFactory(name) ? undefined : 'tfjs-backend-webgpu did not register';
    }
    case 'webgl': {
      if (typeof document === 'undefined' && typeof OffscreenCanvas === 'undefined') return 'no canvas in this runtime';
      const renderer = webglRenderer();
      if (!forced && renderer && SOFTWARE_RENDERER.test(renderer)) return `only a software WebGL renderer (${renderer}), which is slower than wasm on the CPU`;
      await import('@tensorflow/tfjs-backend-webgl');
      return undefined;
    }
    case 'wasm': {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasm.setThreadsCount(wantedWasmThreads(options.wasmThreads));
      const dir = options.wasmPath ?? nodeWasmDir();
      if (dir) wasm.setWasmPaths(dir);
      return undefined;
    }
    case 'cpu':
      return undefined;
  }
}

/**
 * tfjs-wasm 4.22 caps its threads at navigator.hardwareConcurrency / 2 (it assumes two logical
 * cores per physical one), so on a 2-core machine it never runs a second thread whatever
 * setThreadsCount says. While the backend starts, the count it reads is raised to honour ours,
 * then put back for the rest of the page.
 */
async function withCoreCountFor<T>(threads: number, start: () => Promise<T>): Promise<T> {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  if (!nav || !((nav.hardwareConcurrency ?? 0) < 2 * threads)) return start();
  Object.defineProperty(nav, 'hardwareConcurrency', { value: 2 * threads, configurable: true });
  try {
    return await start();
  } finally {
    delete (nav as { hardwareConcurrency?: number }).hardwareConcurrency;
  }
}

/**
 * Threads wanted on wasm (where the threaded build runs at all): the set count, else tfjs's own
 * choice of one per two logical cores. Measured on 2 cores (npm run bench): a second thread made a
 * click slower (1.47 s against 1.31 s), as it competes with the page and the SIMD kernel is
 * single-threaded.
 */
function wantedWasmThreads(wasmThreads: number | undefined): number {
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  return wasmThreads ?? Math.max(1, Math.floor(cores / 2));
}

/** What starting a backend needs besides its name: the engine's settings, and webgpu's factory after a dropWebGPU(). */
export interface StartOptions extends BackendSettings {
  webgpuFactory?: WebGPUFactory;
}

/** Activates one backend; returns why it failed, or undefined on success. */
export async function tryBackend(name: BackendName, forced = true, options: StartOptions = {}): Promise<string | undefined> {
  try {
    const missing = await register(name, forced, options);
    if (missing) return missing;
    const ok = name === 'wasm' ? await withCoreCountFor(wantedWasmThreads(options.wasmThreads), () => tf.setBackend(name)) : await tf.setBackend(name);
    if (!ok) return `tf.setBackend('${name}') failed`;
    await tf.ready();
    if (name === 'wasm' && options.simdConv !== false) await simdConvStarted();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** On wasm, which kernel runs the 3x3x3 convolutions: the log line says so. */
export function kernelNote(name: BackendName, simdConv = true): string {
  if (name !== 'wasm') return '';
  const why = simdConvUnavailable(simdConv);
  const threads = wasmThreadCount() ?? 1;
  const simdThreads = why ? 1 : simdConvThreads();
  const kernel = why ? `; 3x3x3 convolutions by XNNPACK conv2d, because ${why}` : `; 3x3x3 convolutions by the WebAssembly SIMD kernel${simdThreads > 1 ? ` on ${simdThreads} threads` : ''}`;
  // Said only when there are several: the log line of a page that is not cross-origin isolated stays as it was.
  return threads > 1 ? `${kernel}; ${threads} wasm threads (cross-origin isolated)` : kernel;
}

export interface ChoiceOptions extends StartOptions {
  /** Backends not to try (after a GPU loss, webgpu where its dead backend could not be removed). */
  exclude?: readonly BackendName[];
  /** Backends already found not to work, and why: they lead the reason. */
  skipped?: BackendChoice['skipped'];
  /**
   * Backends whose software adapter or renderer (SwiftShader) is accepted as if forced: webgpu in
   * a worker whose user forced it at init; every backend after a load's WebGPU failed its warm-up.
   */
  acceptSoftware?: readonly BackendName[];
}

/**
 * The one backend choice, for the engine in this thread and in a worker, at load and after a GPU
 * loss: the forced backend, or the first of BACKEND_ORDER that starts, with the reason in one line
 * ("wasm, because webgpu: ...; webgl: ...").
 */
export async function chooseBackend(preferred: BackendName | 'auto' = 'auto', options: ChoiceOptions = {}): Promise<BackendChoice> {
  const skipped: BackendChoice['skipped'] = [...(options.skipped ?? [])];
  if (preferred !== 'auto') {
    const why = await tryBackend(preferred, true, options);
    if (why) throw new Error(`Backend '${preferred}' is not available: ${why}`);
    return { backend: preferred, reason: `${preferred} (forced)${kernelNote(preferred, options.simdConv)}`, skipped };
  }
  for (const name of BACKEND_ORDER.filter((n) => !options.exclude?.includes(n) && !skipped.some((s) => s.backend === n))) {
    const why = await tryBackend(name, !!options.acceptSoftware?.includes(name), options);
    if (!why) {
      const reason = skipped.length
        ? `${name}, because ${skipped.map((s) => `${s.backend}: ${s.why}`).join('; ')}`
        : `${name} (first choice)`;
      return { backend: name, reason: reason + kernelNote(name, options.simdConv), skipped };
    }
    skipped.push({ backend: name, why });
  }
  throw new Error(`No TensorFlow.js backend could start: ${skipped.map((s) => `${s.backend}: ${s.why}`).join('; ')}`);
}

/** The parts of a GPUDevice needed to notice its loss (no WebGPU types in this project's libs). */
export interface GpuDeviceLike {
  readonly lost: Promise<{ reason: string; message: string }>;
  destroy(): void;
}

/** The GPUDevice under the active backend, when that backend is webgpu. */
export function activeWebGPUDevice(): GpuDeviceLike | undefined {
  if (tf.getBackend() !== 'webgpu') return undefined;
  return (tf.backend() as unknown as { device?: GpuDeviceLike }).device;
}

/**
 * Forgets the webgpu backend after its device was lost: tfjs keeps one backend instance per
 * name, bound to its device for good. The next tryBackend('webgpu') asks for a new adapter and
 * device, given the factory this returns (tfjs-backend-webgpu registers it on its first import
 * only). Tensors still on the old backend must be disposed of before this. When it throws, the
 * dead backend may still be registered, so webgpu must not be tried again.
 */
export function dropWebGPU(): WebGPUFactory | undefined {
  const factory = tf.findBackendFactory('webgpu');
  if (!factory) return undefined;
  tf.removeBackend('webgpu');
  return factory;
}

/** An engine changed backend by itself: a worker, after the GPU device under webgpu was lost. */
export interface BackendChange {
  /** What runs now: webgpu on a new device, or the next backend; null when none could start. */
  backend: BackendName | null;
  /** One line in the style of the init reason: which backend runs and why. */
  reason: string;
  /** What the GPU reported, e.g. "destroyed: Device was destroyed." or "unknown: ...". */
  lost: string;
  /** One line to show the user, e.g. "The GPU was lost (...); now running on wasm (...)". */
  message: string;
}
