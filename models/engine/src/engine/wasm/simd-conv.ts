/**
 * The 3x3x3 stride-1 'same' convolution with an optional fused bias + ReLU on the wasm backend,
 * run by this project's own WebAssembly SIMD kernel (conv3x3.wat) on tfjs-wasm's memory.
 *
 * Why our own: tfjs-wasm's Conv3D is a naive loop (0.6 GFLOP/s here) and its XNNPACK conv2d,
 * which ops.ts folds the 3-D convolution into, ran at 13 GFLOP/s on the 1-channel first layer and
 * 18-28 on the rest (single-threaded, 2-core machine). This kernel measured 20-38 GFLOP/s up to
 * 64 input channels, and skips the taps that fall on the padding, which on the smallest maps are
 * most of them. With more input channels its weights outgrow the cache: at 128 it was 10-15%
 * slower than XNNPACK from 16x8x16 voxels on and faster up to 8x4x8 (34 against 26 GFLOP/s); at
 * 256 slower (13-18 against 24-28) except on maps of at most 4 voxels (34 against 18).
 */
import * as tf from '@tensorflow/tfjs-core';
import { CONV3X3_SHARED_WASM_BASE64, CONV3X3_WASM_BASE64 } from './conv3x3-module';
import { ConvThreads, PlaneKernel } from './conv-threads';

const KERNEL_NAME = 'AbusConv3x3Simd';
/** See the module comment: above this, XNNPACK's conv2d measured faster, except on small maps. */
export const SIMD_CONV_MAX_CIN = 64;
/** 128 input channels still gain on maps up to 8x4x8 voxels, any count on maps of at most 4. */
const SMALL_MAP = { maxCin: 128, voxels: 256 };
const TINY_MAP_VOXELS = 4;

/** The parts of tfjs-wasm's backend this kernel uses (it exports no type for them). */
interface WasmBackendLike {
  /** The plain build exports its memory (asm.memory); the threaded build creates a shared one and keeps it as wasmMemory. */
  wasm: { asm?: { memory?: WebAssembly.Memory }; wasmMemory?: WebAssembly.Memory; tfjs?: { getThreadsCount(): number } };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  disposeData(dataId: object): boolean;
}

export interface ConvExports extends PlaneKernel {
  pad(src: number, dst: number, d: number, h: number, w: number, c: number): void;
  conv3x3(input: number, weights: number, bias: number, out: number, d: number, h: number, w: number, cin: number, cout: number, relu: number): void;
}

/** The kernel on one backend's memory, and its helper threads where tfjs-wasm runs several. */
interface Kernel {
  exports: ConvExports;
  threads?: ConvThreads;
}

/** Compiled once per kind of memory: tfjs-wasm's threaded build (cross-origin isolated pages) runs on a shared one. */
const compiled = new Map<boolean, WebAssembly.Module>();

export function isSharedMemory(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
}

function moduleFor(memory: WebAssembly.Memory): WebAssembly.Module {
  const shared = isSharedMemory(memory);
  let module = compiled.get(shared);
  if (!module) {
    module = new WebAssembly.Module(decodeBase64(shared ? CONV3X3_SHARED_WASM_BASE64 : CONV3X3_WASM_BASE64));
    compiled.set(shared, module);
  }
  return module;
}

/** The kernel's exports on `memory`, from the module variant that imports that kind of memory. */
export function instantiateConvKernel(memory: WebAssembly.Memory): ConvExports {
  return new WebAssembly.Instance(moduleFor(memory), { env: { memory } }).exports as unknown as ConvExports;
}
/** Per tfjs-wasm module (one per backend instance): our kernel, or why there is none. */
const instances = new WeakMap<object, Kernel | string>();

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function instanceFor(backend: WasmBackendLike): Kernel | string {
  let found = instances.get(backend.wasm);
  if (found === undefined) {
    try {
      const memory = backend.wasm.wasmMemory ?? backend.wasm.asm?.memory;
      if (!memory) throw new Error('tfjs-wasm exposes no memory');
      const exports = instantiateConvKernel(memory);
      // As many threads as tfjs-wasm's own pool (1 unless its threaded build runs).
      const threads = isSharedMemory(memory) ? ConvThreads.start(moduleFor(memory), memory, backend.wasm.tfjs?.getThreadsCount() ?? 1) : undefined;
      found = { exports, threads };
    } catch (err) {
      // No WebAssembly SIMD in this runtime.
      found = `the SIMD convolution kernel did not load (${(err as Error).message})`;
    }
    instances.set(backend.wasm, found);
  }
  return found;
}

function wasmBackend(): WasmBackendLike | undefined {
  return tf.getBackend() === 'wasm' ? (tf.backend() as unknown as WasmBackendLike) : undefined;
}

/** Loads the kernel on the current wasm backend and waits for its helper threads, if it has any. */
export async function simdConvStarted(): Promise<void> {
  const backend = wasmBackend();
  const found = backend ? instanceFor(backend) : undefined;
  if (found && typeof found !== 'string' && found.threads) await found.threads.started;
}

/** Threads the SIMD kernel splits a convolution over on the current backend (1 without helpers). */
export function simdConvThreads(): number {
  const backend = wasmBackend();
  const found = backend && instanceFor(backend);
  return found && typeof found !== 'string' && found.threads ? 1 + found.threads.ready : 1;
}

/**
 * Why the SIMD kernel cannot run on the current backend, or undefined when it can. enabled false:
 * the engine was loaded with simdConv false (benchmarks time XNNPACK conv2d against it).
 */
export function simdConvUnavailable(enabled = true): string | undefined {
  if (!enabled) return 'it was turned off (simdConv: false)';
  const backend = wasmBackend();
  if (!backend) return `the backend is ${tf.getBackend()}, not wasm`;
  const found = instanceFor(backend);
  return typeof found === 'string' ? found : undefined;
}

/** Whether conv3x3Simd takes this convolution (the kernel writes 8 output channels per step); enabled as in simdConvUnavailable. */
export function simdConvFits(x: tf.Tensor5D, kernel: tf.Tensor5D, enabled = true): boolean {
  const [, d, h, w, cin] = x.shape;
  const cout = kernel.shape[4];
  const voxels = d * h * w;
  const fast = cin <= SIMD_CONV_MAX_CIN || (cin <= SMALL_MAP.maxCin && voxels <= SMALL_MAP.voxels) || voxels <= TINY_MAP_VOXELS;
  return enabled && fast && x.dtype === 'float32' && cout % 8 === 0 && simdConvUnavailable() === undefined;
}

tf.registerKernel({
  kernelName: KERNEL_NAME,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const be = backend as unknown as WasmBackendLike;
    const kernel = instanceFor(be);
    if (typeof kernel === 'string') throw new Error(kernel);
    const { x, filter, bias } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; bias: tf.TensorInfo };
    const [b, d, h, w, cin] = x.shape;
    const cout = filter.shape[4];
    const paddedFloats = (d + 2) * (h + 2) * (w + 2) * cin;
    const padded = be.makeOutput([b * paddedFloats], 'float32');
    const out = be.makeOutput([b, d, h, w, cout], 'float32');
    // Offsets are read after both allocations: either may have grown (moved) the heap's views,
    // never the offsets themselves.
    const at = (t: tf.TensorInfo) => (be.dataIdMap.get(t.dataId) as { memoryOffset: number }).memoryOffset;
    for (let i = 0; i < b; i++) {
      const paddedAt = at(padded) + 4 * i * paddedFloats;
      kernel.exports.pad(at(x) + 4 * i * d * h * w * cin, paddedAt, d, h, w, cin);
      const args = [paddedAt, at(filter), at(bias), at(out) + 4 * i * d * h * w * cout, d, h, w, cin, cout, attrs?.relu ? 1 : 0] as const;
      if (kernel.threads) kernel.threads.run(kernel.exports, [...args]);
      else kernel.exports.conv3x3(...args);
    }
    be.disposeData(padded.dataId);
    return out;
  },
});

/**
 * conv3d(x, kernel, 1, 'same') (+ bias, then ReLU if relu) by the SIMD kernel; kernel
 * [3, 3, 3, cin, cout] as tf.conv3d. Only where simdConvFits; no gradient of its own (ops.ts
 * wraps it).
 */
export function conv3x3Simd(x: tf.Tensor5D, kernel: tf.Tensor5D, bias?: tf.Tensor1D, relu = false): tf.Tensor5D {
  return tf.tidy(
    () =>
      tf.engine().runKernel(
        KERNEL_NAME,
        { x, filter: kernel, bias: bias ?? tf.zeros([kernel.shape[4]]) },
        { relu } as unknown as tf.NamedAttrMap,
      ) as tf.Tensor5D,
  );
}
