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
 *   backend, and on wasm the 3x3x3 convolution is a sum of conv2d over depth-shifted slices
 *   (XNNPACK conv2d, about 30x the stock Conv3D there).
 */
import * as tf from '@tensorflow/tfjs-core';
import { fastConv3x3 } from './webgpu/fast-conv';

export type Tensor5D = tf.Tensor5D;

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
 * Stock tfjs kernels for every convolution (tf.conv3d, strided tf.conv3d, tf.conv3dTranspose)
 * instead of this project's paths: only for benchmarks that time both in one run.
 */
let stockKernels = false;
export function useStockKernels(on: boolean): void {
  stockKernels = on;
}

/**
 * 3x3x3 convolution, stride 1, zero 'same' padding; kernel [3,3,3,cin,cout] (tf.conv3d layout).
 * webgpu runs this project's implicit-GEMM kernel (engine/webgpu), wasm its conv2d slices.
 */
export function conv3x3(x: tf.Tensor5D, kernel: tf.Tensor5D): tf.Tensor5D {
  if (stockKernels) return tf.conv3d(x, kernel, 1, 'same');
  if (tf.getBackend() === 'wasm') return conv3x3Wasm(x, kernel);
  if (tf.getBackend() === 'webgpu') return fastConv3x3(x, kernel);
  return tf.conv3d(x, kernel, 1, 'same');
}

/**
 * The wasm path with its own gradient, because tfjs-wasm has no Conv2DBackpropFilter:
 * - input gradient: the same slice convolution of dy with the kernel flipped in space and its
 *   channel axes swapped;
 * - kernel gradient: for each of the 27 taps, (shifted x)^T . dy as one matmul.
 */
const REVERSED_TAPS = Array.from({ length: 27 }, (_, i) => 26 - i);

const conv3x3Wasm = tf.customGrad(((x: tf.Tensor5D, kernel: tf.Tensor5D, save: (t: tf.Tensor[]) => void) => {
  save([x, kernel]);
  return {
    value: fewVoxels(x.shape, kernel.shape[3]) ? conv3x3ByGather(x, kernel) : conv3x3BySlices(x, kernel),
    gradFunc: (dy: tf.Tensor5D, saved: tf.Tensor[]) => {
      const [xs, ks] = saved as [tf.Tensor5D, tf.Tensor5D];
      // Reversing the 27 flattened taps flips all three spatial axes (a gather: wasm's Reverse is slow).
      const [, , , cin, cout] = ks.shape;
      const taps = tf.transpose(tf.gather(tf.reshape(ks, [27, cin, cout]), REVERSED_TAPS), [0, 2, 1]);
      const flipped = tf.reshape(taps, [3, 3, 3, cout, cin]) as tf.Tensor5D;
      return [conv3x3BySlices(dy, flipped), kernelGradient(xs, dy)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor5D, kernel: tf.Tensor5D) => tf.Tensor5D;

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
 * The deepest layers have a handful of voxels and many channels, where the slice path's fixed
 * cost of a dozen small ops dominates. Measured on wasm, 2 cores: 2x1x2 voxels, 128 -> 128
 * channels 8.5 ms by slices, 0.6 ms by gather + one matmul; 4x2x4, 128 -> 128: 8.2 ms against
 * 4.4 ms; but 4x2x4, 64 -> 64 was faster by slices (1.5 against 2.0 ms).
 */
function fewVoxels(xShape: number[], cin: number): boolean {
  const voxels = xShape[0] * xShape[1] * xShape[2] * xShape[3];
  return voxels <= 8 || (voxels <= 32 && cin >= 128);
}

/** For each output voxel, its 27 neighbours' row in the [voxels + 1, cin] view (the last row is zero padding). */
const tapIndexCache = new Map<string, Int32Array>();
function tapIndices(b: number, d: number, h: number, w: number): Int32Array {
  const key = `${b}x${d}x${h}x${w}`;
  let out = tapIndexCache.get(key);
  if (out) return out;
  const m = b * d * h * w;
  out = new Int32Array(m * 27);
  let n = 0;
  for (let bb = 0; bb < b; bb++)
    for (let z = 0; z < d; z++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          for (let dz = -1; dz <= 1; dz++)
            for (let dy = -1; dy <= 1; dy++)
              for (let dx = -1; dx <= 1; dx++) {
                const [zz, yy, xx] = [z + dz, y + dy, x + dx];
                const outside = zz < 0 || zz >= d || yy < 0 || yy >= h || xx < 0 || xx >= w;
                out[n++] = outside ? m : ((bb * d + zz) * h + yy) * w + xx;
              }
  tapIndexCache.set(key, out);
  return out;
}

/** im2col by one gather (taps in the kernel's (dz, dy, dx) order), then one matmul. */
function conv3x3ByGather(x: tf.Tensor5D, kernel: tf.Tensor5D): tf.Tensor5D {
  const [b, d, h, w, cin] = x.shape;
  const cout = kernel.shape[4];
  const m = b * d * h * w;
  return tf.tidy(() => {
    const rows = tf.concat([tf.reshape(x, [m, cin]), tf.zeros([1, cin])], 0);
    const cols = tf.reshape(tf.gather(rows, tf.tensor1d(tapIndices(b, d, h, w), 'int32')), [m, 27 * cin]);
    return tf.reshape(tf.matMul(cols, tf.reshape(kernel, [27 * cin, cout])), [b, d, h, w, cout]) as tf.Tensor5D;
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
      const slab = tf.reshape(tf.slice(padded, [0, dz, 0], [b, d, h * w * cin]), [b * d, h, w, cin]) as tf.Tensor4D;
      const k2d = tf.reshape(tf.slice(tf.reshape(kernel, [3, 9 * cin * cout]), [dz, 0], [1, 9 * cin * cout]), [3, 3, cin, cout]) as tf.Tensor4D;
      const part = tf.conv2d(slab, k2d, 1, 'same');
      sum = sum ? (tf.add(sum, part) as tf.Tensor4D) : part;
    }
    return tf.reshape(sum as tf.Tensor4D, [b, d, h, w, cout]) as tf.Tensor5D;
  });
}

/**
 * 2x2x2 stride-2 convolution as space-to-depth + matmul.
 * kernel [8*cin, cout], rows ordered (dz, dy, dx, cin) like tf.conv3d's [2,2,2,cin,cout] flattened.
 */
export function downConv(x: tf.Tensor5D, kernel: tf.Tensor2D): tf.Tensor5D {
  const [b, d, h, w, c] = x.shape;
  if (stockKernels) return tf.tidy(() => tf.conv3d(x, tf.reshape(kernel, [2, 2, 2, c, kernel.shape[1]]) as tf.Tensor5D, 2, 'valid'));
  return tf.tidy(() => {
    // Memory order (b, z, dz, y, dy, x, dx, c): merging (x, dx, c) as (x, dx*c) keeps every view rank <= 6.
    const split = tf.reshape(x, [b * (d / 2), 2, h / 2, 2, w / 2, 2 * c]);
    const blocks = tf.transpose(split, [0, 2, 4, 1, 3, 5]);
    const flat = tf.reshape(blocks, [-1, 8 * c]);
    return tf.reshape(tf.matMul(flat, kernel), [b, d / 2, h / 2, w / 2, kernel.shape[1]]) as tf.Tensor5D;
  });
}

/**
 * 2x2x2 stride-2 transposed convolution as matmul + depth-to-space.
 * kernel [cin, 8*cout], columns ordered (dz, dy, dx, cout).
 */
export function upConv(x: tf.Tensor5D, kernel: tf.Tensor2D): tf.Tensor5D {
  const [b, d, h, w, c] = x.shape;
  const cout = kernel.shape[1] / 8;
  if (stockKernels) {
    return tf.tidy(() => {
      // tf.conv3dTranspose wants [2,2,2,cout,cin]; ours is [cin, (dz,dy,dx,cout)].
      const k = tf.transpose(tf.reshape(kernel, [c, 2, 2, 2, cout]), [1, 2, 3, 4, 0]) as tf.Tensor5D;
      return tf.conv3dTranspose(x, k, [b, 2 * d, 2 * h, 2 * w, cout], 2, 'valid');
    });
  }
  return tf.tidy(() => {
    const cols = tf.matMul(tf.reshape(x, [-1, c]), kernel);
    const blocks = tf.reshape(cols, [b * d, h, w, 2, 2, 2 * cout]);
    const interleaved = tf.transpose(blocks, [0, 3, 1, 4, 2, 5]);
    return tf.reshape(interleaved, [b, 2 * d, 2 * h, 2 * w, cout]) as tf.Tensor5D;
  });
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
  let moments: BatchMoments | undefined;
  const y = onChannels(x, (flat) => {
    const m = tf.moments(flat, 0);
    moments = { mean: tf.keep(m.mean as tf.Tensor1D), variance: tf.keep(m.variance as tf.Tensor1D) };
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(m.variance, epsilon)));
    return tf.add(tf.mul(tf.sub(flat, m.mean), scale), beta);
  });
  return { y, moments: moments as BatchMoments };
}

/** Channel-wise global average pooling: [b, d, h, w, c] -> [b, c]. */
export function globalAvgPool(x: tf.Tensor5D): tf.Tensor2D {
  const [b, d, h, w, c] = x.shape;
  return tf.tidy(() => tf.mean(tf.reshape(x, [b, d * h * w, c]), 1) as tf.Tensor2D);
}

/** Row-wise L2 normalisation of [b, c] feature vectors. */
export function l2Normalize(v: tf.Tensor2D, epsilon = 1e-12): tf.Tensor2D {
  return tf.tidy(() => tf.div(v, tf.sqrt(tf.add(tf.sum(tf.square(v), 1, true), epsilon))) as tf.Tensor2D);
}

/** Identity forward, zero gradient: stops gradients through an earlier iteration's map. */
export const stopGradient = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as <T extends tf.Tensor>(x: T) => T;
