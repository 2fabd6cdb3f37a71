/**
 * The network's layer operations, written so that every backend computes the same numbers.
 * All feature maps are rank-5 NDHWC: [batch, depth(k, sweep), height(j, depth), width(i, lateral), channels].
 *
 * Stock TensorFlow.js 4.22 gets several of these wrong without throwing (see the project's
 * environment notes), so each operation avoids the broken kernel:
 * - webgpu emits invalid WGSL for rank-5 broadcasting binary ops and rank-5 pad:
 *   biases, scales and concatenations are applied on a [voxels, channels] view instead.
 * - wasm's conv3dTranspose is wrong and its Conv3D is a slow single-threaded loop:
 *   the 2x2x2 stride-2 convolutions are space/depth rearrangements plus matmul on every
 *   backend, and on wasm the 3x3x3 convolution is this project's SIMD kernel or XNNPACK conv2d
 *   over depth-shifted slices or x-folded channels (30-60x the stock Conv3D there).
 * - wasm's Sum adds each output's terms one by one in float32: training-mode batch norm sums its
 *   voxels blockwise, with its own gradient (batchNormTrainWasm).
 */
import * as tf from '@tensorflow/tfjs-core';
import { L2_NORM_EPSILON, POOLING_WEIGHT_FLOOR } from './config';
import { fastConv3x3 } from './webgpu/fast-conv';
import type { Tiling } from './webgpu/conv3d-program';
import { conv3x3Simd, simdConvFits } from './wasm/simd-conv';

/**
 * How one engine (or trainer) runs its convolutions; the defaults are this project's own kernels.
 * Passed down with each call, never set process-wide, so two engines in one page keep their own.
 */
export interface KernelOptions {
  /**
   * Stock tfjs kernels for every convolution (true: tf.conv3d, strided tf.conv3d,
   * tf.conv3dTranspose), or only for the 3x3x3 ones ('conv3x3': stock tfjs has no gradient for
   * conv3dTranspose, so a stock training step keeps the matmul form of the 2x2x2 layers). Only
   * for benchmarks and tests that time or compare both in one run.
   */
  stock?: boolean | 'conv3x3';
  /** false: XNNPACK conv2d runs the 3x3x3 convolutions on wasm, not this project's SIMD kernel. */
  simdConv?: boolean;
  /** Per-shape tilings of the WebGPU 'workgroup' kernel (as `bench:kernels --sweep` writes them); other shapes get forwardTiling's rule. */
  tilings?: Readonly<Record<string, Tiling>>;
}

/** Applies fn to the [voxels, channels] view of x and restores the rank-5 shape. */
function onChannels(x: tf.Tensor5D, fn: (flat: tf.Tensor2D) => tf.Tensor2D): tf.Tensor5D {
  const [b, d, h, w] = x.shape;
  return tf.tidy(() => {
    const out = fn(tf.reshape(x, [-1, x.shape[4]]));
    return tf.reshape(out, [b, d, h, w, out.shape[1]]);
  });
}

export function addBias(x: tf.Tensor5D, bias: tf.Tensor1D): tf.Tensor5D {
  return onChannels(x, (flat) => tf.add(flat, bias));
}

/** x * scale + shift per channel: inference-time batch norm. */
export function scaleShift(x: tf.Tensor5D, scale: tf.Tensor1D, shift: tf.Tensor1D): tf.Tensor5D {
  return onChannels(x, (flat) => tf.add(tf.mul(flat, scale), shift));
}

/** Channel concatenation (skip connections). */
export function concatChannels(a: tf.Tensor5D, b: tf.Tensor5D): tf.Tensor5D {
  const [n, d, h, w] = a.shape;
  return tf.tidy(() => {
    const flat = tf.concat([tf.reshape(a, [-1, a.shape[4]]), tf.reshape(b, [-1, b.shape[4]])], 1);
    return tf.reshape(flat, [n, d, h, w, a.shape[4] + b.shape[4]]) as tf.Tensor5D;
  });
}

/** 1x1x1 convolution: kernel [cin, cout], optional bias [cout]. */
export function pointwise(x: tf.Tensor5D, kernel: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor5D {
  return onChannels(x, (flat) => (bias ? tf.add(tf.matMul(flat, kernel), bias) : tf.matMul(flat, kernel)));
}

/**
 * conv3x3, then the bias, then ReLU (a conv with folded batch norm at inference). On webgpu the
 * bias and ReLU run in the convolution's own epilogue instead of two passes over the output.
 */
export function conv3x3BiasRelu(x: tf.Tensor5D, kernel: tf.Tensor5D, bias: tf.Tensor1D, kernels: KernelOptions = {}): tf.Tensor5D {
  if (!kernels.stock && tf.getBackend() === 'webgpu') return fastConv3x3(x, kernel, bias, true, kernels.tilings);
  if (!kernels.stock && simdConvFits(x, kernel, kernels.simdConv)) return conv3x3Simd(x, kernel, bias, true);
  return tf.tidy(() => tf.relu(addBias(conv3x3(x, kernel, kernels), bias)));
}

/**
 * 3x3x3 convolution, stride 1, zero 'same' padding; kernel [3,3,3,cin,cout] (tf.conv3d layout).
 * webgpu runs this project's implicit-GEMM kernel (engine/webgpu), wasm this project's SIMD kernel
 * (engine/wasm) or XNNPACK conv2d (see conv3x3WasmForward).
 */
export function conv3x3(x: tf.Tensor5D, kernel: tf.Tensor5D, kernels: KernelOptions = {}): tf.Tensor5D {
  if (kernels.stock) return tf.conv3d(x, kernel, 1, 'same');
  if (tf.getBackend() === 'wasm') return (kernels.simdConv === false ? conv3x3WasmByXnnpack : conv3x3WasmBySimd)(x, kernel);
  if (tf.getBackend() === 'webgpu') return fastConv3x3(x, kernel, undefined, false, kernels.tilings);
  return tf.conv3d(x, kernel, 1, 'same');
}

/** The 27x27 exchange matrix (ones on the anti-diagonal): multiplying by it reverses the 27 taps. */
const REVERSE_TAPS = Float32Array.from({ length: 27 * 27 }, (_, n) => (Math.floor(n / 27) + (n % 27) === 26 ? 1 : 0));

/**
 * The wasm path with its own gradient, because tfjs-wasm has no Conv2DBackpropFilter:
 * - input gradient: the same convolution of dy with the kernel flipped in space and its channel
 *   axes swapped;
 * - kernel gradient: for each of the 27 taps, (shifted x)^T . dy as one matmul.
 * One op with the SIMD kernel where it fits, one with XNNPACK only: tf.customGrad takes tensors only.
 */
const conv3x3Wasm = (simd: boolean) => tf.customGrad(((x: tf.Tensor5D, kernel: tf.Tensor5D, save: (t: tf.Tensor[]) => void) => {
  save([x, kernel]);
  return {
    value: conv3x3WasmForward(x, kernel, simd),
    gradFunc: (dy: tf.Tensor5D, saved: tf.Tensor[]) => {
      const [xs, ks] = saved as [tf.Tensor5D, tf.Tensor5D];
      // Reversing the 27 flattened taps flips all three spatial axes. As a matmul with the exchange
      // matrix it is exact for finite weights (one product by 1 plus products by 0) and, measured at
      // 128 -> 128 channels, 2.1 ms against 14 ms by tfjs-wasm's Gather (10 ms by its Reverse).
      const [, , , cin, cout] = ks.shape;
      const reversed = tf.matMul(tf.tensor2d(REVERSE_TAPS, [27, 27]), tf.reshape(ks, [27, cin * cout]));
      const taps = tf.transpose(tf.reshape(reversed, [27, cin, cout]), [0, 2, 1]);
      const flipped = tf.reshape(taps, [3, 3, 3, cout, cin]) as tf.Tensor5D;
      return [conv3x3WasmForward(dy, flipped, simd), kernelGradient(xs, dy)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor5D, kernel: tf.Tensor5D) => tf.Tensor5D;
const conv3x3WasmBySimd = conv3x3Wasm(true);
const conv3x3WasmByXnnpack = conv3x3Wasm(false);

/**
 * dW[dz, ky, kx, ci, co] = sum over (b, z, y, x) of xpad[b, z+dz, y+ky, x+kx, ci] * dy[b, z, y, x, co].
 * For each dz this is one XNNPACK conv2d with batch and channels swapped: the input is the
 * depth-shifted slab as [ci, h+2, w+2, b*d], the "filter" is dy as [h, w, b*d, co], and the
 * valid output [ci, 3, 3, co] is that slice of the kernel gradient. tfjs-wasm's matmul with a
 * transposed operand and its rank-4/5 slices were 4x slower for the same sums (measured).
 */
function kernelGradient(x: tf.Tensor5D, dy: tf.Tensor5D): tf.Tensor5D {
  const [b, d, h, w, cin] = x.shape;
  const cout = dy.shape[4];
  return tf.tidy(() => {
    const plane = (h + 2) * (w + 2) * cin;
    const padded = tf.pad(tf.reshape(x, [b * d, h, w, cin]), [[0, 0], [1, 1], [1, 1], [0, 0]]);
    const planes = tf.reshape(padded, [b, d, plane]);
    const zero = tf.zeros([b, 1, plane]);
    const deep = tf.concat([zero, planes, zero], 1);
    const filter = tf.transpose(tf.reshape(dy, [b * d, h, w, cout]), [1, 2, 0, 3]) as tf.Tensor4D;
    const parts: tf.Tensor4D[] = [];
    for (let dz = 0; dz < 3; dz++) {
      const slab = tf.reshape(tf.slice(deep, [0, dz, 0], [b, d, plane]), [b * d, h + 2, w + 2, cin]);
      const swapped = tf.transpose(slab, [3, 1, 2, 0]) as tf.Tensor4D;
      // [ci, 3, 3, co] -> [3, 3, ci, co]
      parts.push(tf.transpose(tf.conv2d(swapped, filter, 1, 'valid'), [1, 2, 0, 3]) as tf.Tensor4D);
    }
    return tf.reshape(tf.stack(parts), [3, 3, 3, cin, cout]) as tf.Tensor5D;
  });
}

/**
 * Which wasm formulation computes conv(x, kernel): this project's SIMD kernel where it fits
 * (simdConvFits in engine/wasm/simd-conv.ts); otherwise XNNPACK conv2d, by folding for small
 * inputs and for one or two input channels, by slices for the rest. Fold against slices, measured
 * with tfjs-wasm 4.22 in Node (single-threaded XNNPACK, 2-core machine), ms per layer:
 * - 32x16x32 input, width 8: 4x2x4 64->64 1.3 by slices, 0.29 by folding; 2x1x2 128->128 0.54
 *   (by the gather im2col this replaces) against 0.21; 8x4x8 64->64 3.6 against 2.0; 32x16x32
 *   16->16 11.2 against 11.4 (a tie, 262k elements).
 * - 128x64x128 input, width 16: the 1-channel first layer 180 by slices, 104 by folding (XNNPACK
 *   conv2d with 1 input channel runs at 4 GFLOP/s); 16x8x16 128->128 (2M elements) 70 against 62;
 *   16x8x16 256->256 269 against 287 and 128x64x128 32->32 2430 against 2810: from a few million
 *   elements on, three conv2d with K = 9*cin beat one with K = 27*cin plus the 3x larger folded copy.
 */
const FOLD_MAX_ELEMENTS = 2 ** 21;

function conv3x3WasmForward(x: tf.Tensor5D, kernel: tf.Tensor5D, simd: boolean): tf.Tensor5D {
  if (simdConvFits(x, kernel, simd)) return conv3x3Simd(x, kernel);
  return x.size <= FOLD_MAX_ELEMENTS || x.shape[4] <= 2 ? conv3x3ByFolding(x, kernel) : conv3x3BySlices(x, kernel);
}

/**
 * One conv2d over (depth, height * width): each voxel's x - 1, x, x + 1 neighbours are folded into
 * channels ([.., 3 * cin], order (dx, ci)), the y taps are the conv2d's width taps with dilation w
 * (one row of the flattened plane; 'same' padding adds exactly one zero row above and below) and
 * the z taps its height taps. The filter is then the kernel reshaped to [3, 3, 3 * cin, cout], a
 * view of the same data, so tfjs-wasm keeps XNNPACK's packed weights between calls (its operator
 * cache is keyed by the filter's data), where the slices path repacks three filters every call.
 * The fold is built from Pad and Transpose (C++ in tfjs-wasm) and Slice/Concat that copy whole
 * w*cin-wide rows: tfjs-wasm's Slice and Concat copy row by row in JavaScript (slow for narrow
 * rows, such as a concat on the channel axis) and its Gather element by element (the whole
 * convolution was 3-6x slower with a gather-built fold at 16x8x16 and 32x16x32 voxels).
 */
function conv3x3ByFolding(x: tf.Tensor5D, kernel: tf.Tensor5D): tf.Tensor5D {
  const [b, d, h, w, cin] = x.shape;
  const cout = kernel.shape[4];
  return tf.tidy(() => {
    const rows = b * d * h;
    const padded = tf.pad(tf.reshape(x, [rows, w * cin]), [[0, 0], [cin, cin]]);
    const taps = tf.concat([0, 1, 2].map((dx) => tf.slice(padded, [0, dx * cin], [rows, w * cin])), 0);
    const folded = tf.reshape(tf.transpose(tf.reshape(taps, [3, rows * w, cin]), [1, 0, 2]), [b, d, h * w, 3 * cin]) as tf.Tensor4D;
    const filter = tf.reshape(kernel, [3, 3, 3 * cin, cout]) as tf.Tensor4D;
    return tf.reshape(tf.conv2d(folded, filter, 1, 'same', 'NHWC', [1, w]), [b, d, h, w, cout]) as tf.Tensor5D;
  });
}

/**
 * out[z] = sum over dz of conv2d(x[z + dz - 1], kernel[dz]): three batched conv2d calls.
 * Depth padding is a concat of zero planes on a rank-3 view, because rank-5 pad is unreliable.
 */
function conv3x3BySlices(x: tf.Tensor5D, kernel: tf.Tensor5D): tf.Tensor5D {
  const [b, d, h, w, cin] = x.shape;
  const cout = kernel.shape[4];
  return tf.tidy(() => {
    const planes = tf.reshape(x, [b, d, h * w * cin]);
    const zero = tf.zeros([b, 1, h * w * cin]);
    const padded = tf.concat([zero, planes, zero], 1);
    let sum: tf.Tensor4D | undefined;
    for (let dz = 0; dz < 3; dz++) {
      // Each slab and partial sum is freed as soon as it is used: at 128x64x128 voxels a 32-channel
      // map is 134 MB, and tfjs-wasm's heap stops at 4 GB.
      const part = tf.tidy(() => {
        const slab = tf.reshape(tf.slice(padded, [0, dz, 0], [b, d, h * w * cin]), [b * d, h, w, cin]) as tf.Tensor4D;
        const k2d = tf.reshape(tf.slice(tf.reshape(kernel, [3, 9 * cin * cout]), [dz, 0], [1, 9 * cin * cout]), [3, 3, cin, cout]) as tf.Tensor4D;
        return tf.conv2d(slab, k2d, 1, 'same');
      });
      const next = sum ? (tf.add(sum, part) as tf.Tensor4D) : part;
      if (sum) tf.dispose([sum, part]);
      sum = next;
    }
    return tf.reshape(sum as tf.Tensor4D, [b, d, h, w, cout]) as tf.Tensor5D;
  });
}

/**
 * 2x2x2 stride-2 convolution as space-to-depth + matmul.
 * kernel [8*cin, cout], rows ordered (dz, dy, dx, cin) like tf.conv3d's [2,2,2,cin,cout] flattened.
 */
export function downConv(x: tf.Tensor5D, kernel: tf.Tensor2D, kernels: KernelOptions = {}): tf.Tensor5D {
  const [b, d, h, w, c] = x.shape;
  if (kernels.stock === true) return tf.tidy(() => tf.conv3d(x, tf.reshape(kernel, [2, 2, 2, c, kernel.shape[1]]) as tf.Tensor5D, 2, 'valid'));
  return tf.tidy(() => {
    // Memory order (b, z, dz, y, dy, x, dx, c): merging (x, dx, c) as (x, dx*c) keeps every view rank <= 6.
    const split = tf.reshape(x, [b * (d / 2), 2, h / 2, 2, w / 2, 2 * c]);
    const blocks = byRank4Transposes() ? spaceToDepthRank4(split) : tf.transpose(split, [0, 2, 4, 1, 3, 5]);
    const flat = tf.reshape(blocks, [-1, 8 * c]);
    return tf.reshape(tf.matMul(flat, kernel), [b, d / 2, h / 2, w / 2, kernel.shape[1]]) as tf.Tensor5D;
  });
}

/**
 * 2x2x2 stride-2 transposed convolution as matmul + depth-to-space.
 * kernel [cin, 8*cout], columns ordered (dz, dy, dx, cout).
 */
export function upConv(x: tf.Tensor5D, kernel: tf.Tensor2D, kernels: KernelOptions = {}): tf.Tensor5D {
  const [b, d, h, w, c] = x.shape;
  const cout = kernel.shape[1] / 8;
  if (kernels.stock === true) {
    return tf.tidy(() => {
      // tf.conv3dTranspose wants [2,2,2,cout,cin]; ours is [cin, (dz,dy,dx,cout)].
      const k = tf.transpose(tf.reshape(kernel, [c, 2, 2, 2, cout]), [1, 2, 3, 4, 0]) as tf.Tensor5D;
      return tf.conv3dTranspose(x, k, [b, 2 * d, 2 * h, 2 * w, cout], 2, 'valid');
    });
  }
  return tf.tidy(() => {
    const cols = tf.matMul(tf.reshape(x, [-1, c]), kernel);
    const blocks = tf.reshape(cols, [b * d, h, w, 2, 2, 2 * cout]);
    const interleaved = byRank4Transposes() ? depthToSpaceRank4(blocks) : tf.transpose(blocks, [0, 3, 1, 4, 2, 5]);
    return tf.reshape(interleaved, [b, 2 * d, 2 * h, 2 * w, cout]) as tf.Tensor5D;
  });
}

/**
 * tfjs-wasm (and cpu) transpose above rank 4 in a generic index loop: the up-convolution's rank-6
 * transpose of 64M floats took 4.7 s on wasm, where the same permutation as two rank-4 transposes
 * took 0.23 s. On webgpu the rank-6 transpose is one fast pass, so it stays.
 */
function byRank4Transposes(): boolean {
  return tf.getBackend() !== 'webgpu';
}

/** [n, 2(dz), hy, 2(dy), wx, r] -> [n, hy, wx, dz, dy, r], as two rank-4 transposes. */
function spaceToDepthRank4(t: tf.Tensor): tf.Tensor {
  const [n, , hy, , wx, r] = t.shape;
  const rows = tf.transpose(tf.reshape(t, [n * 2 * hy, 2, wx, r]), [0, 2, 1, 3]); // (n, dz, hy, wx, dy, r)
  return tf.transpose(tf.reshape(rows, [n, 2, hy * wx, 2 * r]), [0, 2, 1, 3]);
}

/** [n, h, w, 2(dz), 2(dy), r] -> [n, dz, h, dy, w, r], as two rank-4 transposes. */
function depthToSpaceRank4(t: tf.Tensor): tf.Tensor {
  const [n, h, w, , , r] = t.shape;
  const planes = tf.transpose(tf.reshape(t, [n, h * w, 2, 2 * r]), [0, 2, 1, 3]); // (n, dz, h, w, dy, r)
  return tf.transpose(tf.reshape(planes, [n * 2 * h, w, 2, r]), [0, 2, 1, 3]);
}

export interface BatchMoments {
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/** Training-mode batch norm: normalises with the batch's own moments and returns them. */
export function batchNormTrain(
  x: tf.Tensor5D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
): { y: tf.Tensor5D; moments: BatchMoments } {
  if (tf.getBackend() === 'wasm') return batchNormTrainWasm(x, gamma, beta, epsilon);
  let moments: BatchMoments | undefined;
  const y = onChannels(x, (flat) => {
    const m = tf.moments(flat, 0);
    moments = { mean: tf.keep(m.mean as tf.Tensor1D), variance: tf.keep(m.variance as tf.Tensor1D) };
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(m.variance, epsilon)));
    return tf.add(tf.mul(tf.sub(flat, m.mean), scale), beta);
  });
  return { y, moments: moments as BatchMoments };
}

/**
 * Column sums of [n, c] as two reductions of about sqrt(n) terms each. tfjs-wasm 4.22's Sum (and
 * so Mean and tf.moments) adds the n terms of a column one by one into a float32 accumulator, so
 * its error grows with n. Measured against the cpu backend (which accumulates in float64) on
 * [n, c] values in [0.5, 1.5): mean over axis 0 2e-7 relative at n = 1024, 4.4e-6 at 32768,
 * 7.7e-6 at 131072, and tf.moments' variance 3.2e-5 at 131072. Blocked, both stages stay near
 * float32 rounding (about 2e-7 at n = 131072).
 */
function columnSums(flat: tf.Tensor2D): tf.Tensor1D {
  const [n, c] = flat.shape;
  let block = Math.floor(Math.sqrt(n));
  while (n % block) block--;
  return tf.tidy(() => tf.sum(tf.sum(tf.reshape(flat, [n / block, block, c]), 1), 0) as tf.Tensor1D);
}

/**
 * batchNormTrain on wasm, with its own gradient: every sum over the voxels, forward (the
 * moments) and backward (beta's, gamma's and the moments' gradients, which tfjs's autodiff takes
 * with the wasm Sum), goes through columnSums. With stock tf.moments and autodiff the error of
 * those sums (above) flipped ReLU masks of near-zero activations in a CMSVNetIter training step at
 * a 32x16x32 input: weight gradients 2.4e-3 relative from the cpu backend's (4.4e-6 on webgpu),
 * 5.8e-6 with this. It is also faster: forward + backward at [2,32,16,32,16] 18 ms against 37 ms.
 * Backward: dbeta = sum(dy), dgamma = sum(dy * xhat),
 * dx = gamma * rsqrt(var + eps) / n * (n * dy - dbeta - xhat * dgamma).
 */
function batchNormTrainWasm(
  x: tf.Tensor5D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
): { y: tf.Tensor5D; moments: BatchMoments } {
  let moments: BatchMoments | undefined;
  const normalize = tf.customGrad(((flat: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, save: (t: tf.Tensor[]) => void) => {
    const n = flat.shape[0];
    const mean = tf.div(columnSums(flat), n) as tf.Tensor1D;
    const centered = tf.sub(flat, mean);
    const variance = tf.div(columnSums(tf.square(centered) as tf.Tensor2D), n) as tf.Tensor1D;
    const inv = tf.rsqrt(tf.add(variance, epsilon));
    const xhat = tf.mul(centered, inv);
    moments = { mean: tf.keep(mean), variance: tf.keep(variance) };
    save([xhat, inv, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [xh, iv, gm] = saved;
        const dbeta = columnSums(dy);
        const dgamma = columnSums(tf.mul(dy, xh) as tf.Tensor2D);
        const dx = tf.mul(tf.sub(tf.sub(tf.mul(dy, n), dbeta), tf.mul(xh, dgamma)), tf.div(tf.mul(gm, iv), n));
        return [dx, dgamma, dbeta];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (flat: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D) => tf.Tensor2D;
  const y = onChannels(x, (flat) => normalize(flat, gamma, beta));
  return { y, moments: moments as BatchMoments };
}

/** Channel-wise global average pooling: [b, d, h, w, c] -> [b, c]. */
export function globalAvgPool(x: tf.Tensor5D): tf.Tensor2D {
  const [b, d, h, w, c] = x.shape;
  return tf.tidy(() => tf.mean(tf.reshape(x, [b, d * h * w, c]), 1) as tf.Tensor2D);
}

/**
 * Average of x [b, d, h, w, c] weighted by a map [b, D, H, W, 1] on a finer grid (D = f*d, f a
 * power of 2): the map is box-averaged down to x's grid, plus POOLING_WEIGHT_FLOOR. Every tensor
 * stays at rank <= 4 (tfjs-webgpu mis-compiles some rank-5 ops).
 */
export function weightedAvgPool(x: tf.Tensor5D, map: tf.Tensor5D): tf.Tensor2D {
  const [b, d, h, w, c] = x.shape;
  const f = map.shape[1] / d;
  if (!Number.isInteger(f) || map.shape[2] !== f * h || map.shape[3] !== f * w) {
    throw new Error(`weightedAvgPool: map ${map.shape.slice(1, 4).join('x')} is not a whole multiple of ${d}x${h}x${w}`);
  }
  return tf.tidy(() => {
    // Box average over f x f x f blocks, one axis at a time.
    let m = tf.mean(tf.reshape(map, [b * d, f, h * f * w * f]), 1);
    m = tf.mean(tf.reshape(m, [b * d * h, f, w * f]), 1);
    m = tf.add(tf.mean(tf.reshape(m, [b * d * h * w, f]), 1), POOLING_WEIGHT_FLOOR);
    const weights = tf.reshape(m, [b, 1, d * h * w]);
    const summed = tf.reshape(tf.matMul(weights, tf.reshape(x, [b, d * h * w, c])), [b, c]);
    return tf.div(summed, tf.reshape(tf.sum(weights, 2), [b, 1])) as tf.Tensor2D;
  });
}

/** Row-wise L2 normalisation of [b, c] feature vectors. */
export function l2Normalize(v: tf.Tensor2D, epsilon = L2_NORM_EPSILON): tf.Tensor2D {
  return tf.tidy(() => tf.div(v, tf.sqrt(tf.add(tf.sum(tf.square(v), 1, true), epsilon))) as tf.Tensor2D);
}

/** Identity forward, zero gradient: stops gradients through an earlier iteration's map. */
export const stopGradient = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as <T extends tf.Tensor>(x: T) => T;
