/**
 * The 3x3x3 stride-1 'same' convolution with an optional fused bias + ReLU, run by this
 * project's own WebGPU programs (conv3d-program.ts) on the webgpu backend, with its gradient;
 * on every other backend it is stock tf.conv3d plus the same epilogue.
 *
 * Stock tfjs-webgpu's Conv3D is one thread per output value looping over the whole kernel;
 * the implicit GEMM here tiles through workgroup memory and registers instead.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { Conv3x3FilterGradProgram, Conv3x3Program, ConvGeometry, SplitSumProgram, Staging, Tiling } from './conv3d-program';

/** Overrides of the defaults, for benchmarks and tests. */
export interface KernelChoice {
  staging?: Staging;
  /** 'workgroup' staging. */
  tiling?: Tiling;
  /** 'workgroup' staging, where no tiling is given: the table's tiling for the shape, else forwardTiling's rule. */
  tilings?: TilingTable;
  /** 'direct' staging. */
  rowsPerThread?: number;
}

export interface FastConvOptions extends KernelChoice {
  bias?: tf.Tensor1D;
  relu?: boolean;
}

function webgpuBackend(): WebGPUBackend {
  return tf.backend() as unknown as WebGPUBackend;
}

/**
 * CPU emulations of WebGPU (SwiftShader, also Chrome's fallback adapter) get the 'direct' kernel,
 * GPUs the workgroup-memory one; see Staging. The Node installer marks SwiftShader itself,
 * because Dawn in Node reports no adapter info.
 */
export function defaultStaging(backend = webgpuBackend()): Staging {
  if ((globalThis as { __abusSoftwareWebGPU?: string }).__abusSoftwareWebGPU) return 'direct';
  const info = (backend.adapterInfo ?? {}) as unknown as { vendor?: string; architecture?: string };
  return /swiftshader|llvmpipe|lavapipe/i.test(`${info.vendor ?? ''} ${info.architecture ?? ''}`) ? 'direct' : 'workgroup';
}

const MiB = 1024 * 1024;

/**
 * tfjs binds each tensor as one storage buffer and does not split large ones: past the device's
 * binding limit the dispatch fails validation and the output stays zero, with no exception.
 * So the sizes are checked here, before anything runs.
 */
export function checkBindingSizes(buffers: { name: string; shape: number[] }[], backend = webgpuBackend()): void {
  const limits = backend.device.limits;
  const limit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  for (const { name, shape } of buffers) {
    const bytes = 4 * shape.reduce((a, b) => a * b, 1);
    if (bytes > limit) {
      throw new Error(
        `fastConv3x3: the ${name} [${shape.join(',')}] needs ${(bytes / MiB).toFixed(1)} MiB, above this WebGPU device's ` +
          `storage-buffer binding limit of ${(limit / MiB).toFixed(1)} MiB; use a smaller input (or tiles of it), or another backend`,
      );
    }
  }
}

/** Runs a program on tensors viewed with other shapes (tfjs-webgpu reshapes are views too). */
function runProgram(program: WebGPUProgram, inputs: { t: tf.Tensor; shape: number[] }[]): tf.Tensor {
  for (const { t } of inputs) if (t.dtype !== 'float32') throw new Error(`fastConv3x3: expected float32 tensors, got ${t.dtype}`);
  const infos = inputs.map(({ t, shape }) => ({ dataId: t.dataId, shape, dtype: t.dtype }));
  const out = webgpuBackend().runWebGPUProgram(program, infos, 'float32');
  return tf.engine().makeTensorFromTensorInfo(out);
}

/** The key of a forward shape in the tiling table: depth x height x width x in -> out channels (batch 1). */
export function shapeKey(g: ConvGeometry): string {
  return `${g.batch * g.depth}x${g.height}x${g.width}x${g.inChannels}x${g.outChannels}`;
}

/** Per-shape tilings for the 'workgroup' kernel, as `bench:kernels --sweep` writes them (JSON), for trying a GPU's own best tilings. */
export type TilingTable = Readonly<Record<string, Tiling>>;

/**
 * The 'workgroup' kernel's tiling for a forward (or input-gradient) shape: 128 voxels x 32
 * channels per workgroup, 8x4 sums per thread, and the K sum split until there are about 1024
 * workgroups. Measured on an NVIDIA H200 (bench:kernels, 2026-11-26): in the sweep of 27-37
 * candidates per layer this block was the best or within 10% on the large layers, and split-K made
 * the deep layers (few voxels, long K) 2-3x faster. On the whole forward pass this rule took
 * 12.3-13.1 ms, against 12.6-14.5 ms with the per-shape winners of the sweep and 14.7 ms with the
 * first default (64x32 tiles of 4x4 sums, no split).
 */
export function forwardTiling(g: ConvGeometry): Tiling {
  const m = g.batch * g.depth * g.height * g.width;
  const tileN = Math.min(32, Math.max(4, 2 ** Math.ceil(Math.log2(g.outChannels))));
  const tileM = Math.min(128, Math.max(32, 2 ** Math.ceil(Math.log2(m))));
  const tiling: Tiling = { tileM, tileN, tileK: 16, rowsPerThread: 8, colsPerThread: 4 };
  const tiles = Math.ceil(m / tileM) * Math.ceil(g.outChannels / tileN);
  const k = 27 * g.inChannels;
  let splitK = 1;
  while (splitK < 16 && tiles * splitK * 2 <= 1024 && k / (splitK * 2) >= 4 * tiling.tileK) splitK *= 2;
  return g.outChannels % 4 === 0 && splitK > 1 ? { ...tiling, splitK } : tiling;
}

function geometry(x: tf.Tensor5D, outChannels: number): ConvGeometry {
  const [batch, depth, height, width, inChannels] = x.shape;
  return { batch, depth, height, width, inChannels, outChannels };
}

/**
 * The forward program: y = conv(x, kernel) (+ bias) (then ReLU). With flipKernel the kernel is a
 * forward kernel [3,3,3,cout,cin] applied flipped and transposed: the input gradient of that conv.
 */
function convWebGPU(x: tf.Tensor5D, kernel: tf.Tensor5D, bias: tf.Tensor1D | undefined, relu: boolean, flipKernel: boolean, choice: KernelChoice = {}): tf.Tensor5D {
  const [b, d, h, w, cin] = x.shape;
  const [kd, kh, kw, k3, k4] = kernel.shape;
  if (kd !== 3 || kh !== 3 || kw !== 3) throw new Error(`fastConv3x3: kernel must be 3x3x3, got [${kernel.shape.join(',')}]`);
  const kernelIn = flipKernel ? k4 : k3;
  const cout = flipKernel ? k3 : k4;
  if (kernelIn !== cin) throw new Error(`fastConv3x3: input has ${cin} channels, kernel [${kernel.shape.join(',')}] expects ${kernelIn}`);
  if (bias && bias.size !== cout) throw new Error(`fastConv3x3: bias has ${bias.size} values, expected ${cout}`);
  const voxels = b * d * h * w;
  checkBindingSizes([
    { name: 'input', shape: x.shape },
    { name: 'output', shape: [b, d, h, w, cout] },
    { name: 'kernel', shape: kernel.shape },
  ]);
  const g = geometry(x, cout);
  const staging = choice.staging ?? defaultStaging();
  const tiling = choice.tiling ?? (staging === 'workgroup' ? (choice.tilings?.[shapeKey(g)] ?? forwardTiling(g)) : undefined);
  // Split-K programs write partial sums; the bias and ReLU come with their sum.
  const splitK = (tiling?.splitK ?? 1) > 1;
  const program = new Conv3x3Program(g, {
    bias: Boolean(bias) && !splitK,
    relu: relu && !splitK,
    flipKernel,
    staging,
    tiling,
    rowsPerThread: choice.rowsPerThread,
  });
  if (splitK) checkBindingSizes([{ name: 'split-K partial sums', shape: program.outputShape }]);
  const inputs = [
    { t: x as tf.Tensor, shape: [voxels, cin] },
    { t: kernel as tf.Tensor, shape: flipKernel ? [27 * cout, cin] : [27 * cin, cout] },
    ...(bias && !splitK ? [{ t: bias as tf.Tensor, shape: [cout] }] : []),
  ];
  return tf.tidy(() => {
    let y = runProgram(program, inputs);
    if (splitK) {
      const sum = new SplitSumProgram(voxels * cout, cout, program.splits, { bias: Boolean(bias), relu });
      y = runProgram(sum, [{ t: y, shape: program.outputShape }, ...(bias ? [{ t: bias as tf.Tensor, shape: [cout] }] : [])]);
    }
    return tf.reshape(y, [b, d, h, w, cout]) as tf.Tensor5D;
  });
}

/** dL/dkernel [3,3,3,cin,cout] from x and dL/dy (the gradient at the convolution's output). */
export function kernelGradWebGPU(x: tf.Tensor5D, dy: tf.Tensor5D, choice: KernelChoice = {}): tf.Tensor5D {
  const [b, d, h, w, cin] = x.shape;
  const cout = dy.shape[4];
  const voxels = b * d * h * w;
  const program = new Conv3x3FilterGradProgram(geometry(x, cout), { staging: choice.staging ?? defaultStaging(), tiling: choice.tiling });
  checkBindingSizes([
    { name: 'input', shape: x.shape },
    { name: 'output gradient', shape: dy.shape },
    { name: 'kernel-gradient partial sums', shape: program.outputShape },
  ]);
  return tf.tidy(() => {
    const partials = runProgram(program, [
      { t: x, shape: [voxels, cin] },
      { t: dy, shape: [voxels, cout] },
    ]);
    const total = program.splits > 1 ? runProgram(new SplitSumProgram(27 * cin * cout, cout, program.splits), [{ t: partials, shape: program.outputShape }]) : partials;
    return tf.reshape(total, [3, 3, 3, cin, cout]) as tf.Tensor5D;
  });
}

/** dL/dx: the same convolution of dL/dy with the kernel flipped in space and its channel axes swapped. */
export function inputGradWebGPU(dy: tf.Tensor5D, kernel: tf.Tensor5D, choice?: KernelChoice): tf.Tensor5D {
  return convWebGPU(dy, kernel, undefined, false, true, choice);
}

/** Forward only, no gradient: for inference and benchmarks. */
export function conv3x3WebGPU(x: tf.Tensor5D, kernel: tf.Tensor5D, options: FastConvOptions = {}): tf.Tensor5D {
  return convWebGPU(x, kernel, options.bias, Boolean(options.relu), false, options);
}

/** The same maths with stock kernels; the bias is added on a [voxels, channels] view (rank-5 broadcasts are broken on tfjs-webgpu 4.22). */
function conv3x3Stock(x: tf.Tensor5D, kernel: tf.Tensor5D, bias: tf.Tensor1D | undefined, relu: boolean): tf.Tensor5D {
  return tf.tidy(() => {
    let y: tf.Tensor5D = tf.conv3d(x, kernel, 1, 'same');
    if (bias) y = tf.reshape(tf.add(tf.reshape(y, [-1, y.shape[4]]), bias), y.shape) as tf.Tensor5D;
    return relu ? tf.relu(y) : y;
  });
}

/**
 * Below this many output voxels the stock kernel (one thread per output value) was faster on
 * SwiftShader (2x1x2 voxels, 128 channels: 3.9 ms stock, 6.5 ms ours); on a GPU such a layer
 * takes microseconds either way.
 */
export const MIN_VOXELS = 16;

export function usesOwnKernel(xShape: number[]): boolean {
  return xShape[0] * xShape[1] * xShape[2] * xShape[3] >= MIN_VOXELS;
}

type Saver = (tensors: tf.Tensor[]) => void;
type ConvFn = (x: tf.Tensor5D, kernel: tf.Tensor5D, bias?: tf.Tensor1D) => tf.Tensor5D;

/**
 * One differentiable op per (bias, relu) combination, because tf.customGrad takes tensors only.
 * The ReLU mask comes from the saved output: y > 0 exactly where the pre-activation is > 0,
 * which is where tf.relu's own gradient (step) passes.
 */
function differentiable(withBias: boolean, relu: boolean, tilings: TilingTable): ConvFn {
  const f = (...args: (tf.Tensor | Saver)[]) => {
    const save = args.pop() as Saver;
    const [x, kernel, bias] = args as [tf.Tensor5D, tf.Tensor5D, tf.Tensor1D | undefined];
    const y = convWebGPU(x, kernel, bias, relu, false, { tilings });
    save(relu ? [x, kernel, y] : [x, kernel]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor5D, saved: tf.Tensor[]) => {
        const [xs, ks, ys] = saved as [tf.Tensor5D, tf.Tensor5D, tf.Tensor5D?];
        const cout = dy.shape[4];
        // Elementwise work on [voxels, channels] views: rank-5 elementwise kernels are avoided on webgpu.
        const g2d = relu && ys ? tf.mul(tf.reshape(dy, [-1, cout]), tf.step(tf.reshape(ys, [-1, cout]))) : tf.reshape(dy, [-1, cout]);
        const g = tf.reshape(g2d, dy.shape) as tf.Tensor5D;
        const grads: tf.Tensor[] = [inputGradWebGPU(g, ks, { tilings }), kernelGradWebGPU(xs, g)];
        if (withBias) grads.push(tf.sum(g2d, 0));
        return grads;
      },
    };
  };
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as ConvFn;
}

/** The ops made so far, per tiling table (the engine's own, or none) and (bias, relu). */
const variants = new WeakMap<TilingTable, Map<string, ConvFn>>();
const NO_TILINGS: TilingTable = Object.freeze({});

/**
 * y = conv3d(x, kernel, stride 1, 'same') (+ bias) (then ReLU), differentiable.
 * x [b, d, h, w, cin], kernel [3, 3, 3, cin, cout] (tf.conv3d layout), bias [cout].
 * On webgpu this runs the project's implicit-GEMM programs (stock tf.conv3d below MIN_VOXELS);
 * elsewhere stock tfjs kernels.
 */
export function fastConv3x3(x: tf.Tensor5D, kernel: tf.Tensor5D, bias?: tf.Tensor1D, relu = false, tilings: TilingTable = NO_TILINGS): tf.Tensor5D {
  if (tf.getBackend() !== 'webgpu' || !usesOwnKernel(x.shape)) return conv3x3Stock(x, kernel, bias, relu);
  const key = `${bias ? 'b' : ''}${relu ? 'r' : ''}`;
  const ops = variants.get(tilings) ?? new Map<string, ConvFn>();
  variants.set(tilings, ops);
  let fn = ops.get(key);
  if (!fn) {
    fn = differentiable(Boolean(bias), relu, tilings);
    ops.set(key, fn);
  }
  return bias ? fn(x, kernel, bias) : fn(x, kernel);
}
