/**
 * The project's WebGPU 3x3x3 convolution (forward with bias/ReLU epilogue, input and kernel
 * gradients) against tfjs's cpu conv3d on random data, within 1e-4 relative. Shapes are odd
 * and channel counts not multiples of 4 on purpose: the tile edges are where such kernels break.
 * Runs on Dawn + SwiftShader in CI; kept small because SwiftShader is a CPU emulation.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describeOn, onBackend, randomArray, relativeError } from '../../../../../test/backends';
import { defaultTiling, Staging, workgroupBytes } from './conv3d-program';
import { checkBindingSizes, conv3x3WebGPU, fastConv3x3, forwardTiling, inputGradWebGPU, KernelChoice, kernelGradWebGPU } from './fast-conv';
import '../register-gradients';

const TOLERANCE = 1e-4;

interface Case {
  x: [number, number, number, number, number];
  cout: number;
  bias: boolean;
  relu: boolean;
}

const FORWARD: Case[] = [
  { x: [1, 5, 7, 9, 3], cout: 4, bias: false, relu: false },
  { x: [1, 5, 7, 9, 3], cout: 4, bias: true, relu: true },
  { x: [2, 8, 6, 10, 16], cout: 16, bias: true, relu: false },
  { x: [2, 8, 6, 10, 16], cout: 16, bias: false, relu: true },
  { x: [1, 3, 4, 5, 1], cout: 8, bias: true, relu: true },
  { x: [1, 4, 5, 6, 6], cout: 5, bias: true, relu: true },
  { x: [1, 2, 3, 3, 40], cout: 36, bias: false, relu: false },
];

const GRADIENT: Case[] = [
  { x: [1, 5, 7, 9, 3], cout: 4, bias: false, relu: false },
  { x: [2, 4, 6, 5, 6], cout: 5, bias: true, relu: true },
  { x: [1, 4, 4, 6, 16], cout: 16, bias: true, relu: true },
];

const label = (c: Case) => `[${c.x.join(',')}] -> ${c.cout}${c.bias ? ' +bias' : ''}${c.relu ? ' +relu' : ''}`;

function inputs(c: Case, seed: number) {
  const cin = c.x[4];
  return {
    x: tf.tensor5d(randomArray(c.x.reduce((a, b) => a * b, 1), seed), c.x),
    k: tf.tensor5d(randomArray(27 * cin * c.cout, seed + 1), [3, 3, 3, cin, c.cout]),
    b: tf.tensor1d(randomArray(c.cout, seed + 2)),
    // Random weights on the output make every output element's gradient different.
    r: tf.tensor5d(randomArray(c.x.slice(0, 4).reduce((a, b) => a * b, 1) * c.cout, seed + 3), [...c.x.slice(0, 4), c.cout] as Case['x']),
  };
}

/** tfjs's semantics, computed with the cpu backend's stock kernels. */
function reference(x: tf.Tensor5D, k: tf.Tensor5D, b: tf.Tensor1D | undefined, relu: boolean): tf.Tensor5D {
  let y: tf.Tensor5D = tf.conv3d(x, k, 1, 'same');
  if (b) y = tf.add(y, b);
  return relu ? tf.relu(y) : y;
}

async function forwardValues(c: Case, seed: number, choice?: KernelChoice): Promise<Float32Array> {
  const t = inputs(c, seed);
  const b = c.bias ? t.b : undefined;
  const y = tf.getBackend() === 'cpu' ? reference(t.x, t.k, b, c.relu) : choice ? conv3x3WebGPU(t.x, t.k, { ...choice, bias: b, relu: c.relu }) : fastConv3x3(t.x, t.k, b, c.relu);
  const data = (await y.data()) as Float32Array;
  tf.dispose([y, ...Object.values(t)]);
  return data;
}

/** Gradients of sum(r * conv(x)) with respect to x, the kernel and (if used) the bias. */
async function gradientValues(c: Case, seed: number): Promise<Float32Array[]> {
  const t = inputs(c, seed);
  const cpu = tf.getBackend() === 'cpu';
  const loss = (x: tf.Tensor, k: tf.Tensor, b?: tf.Tensor) => {
    const y = cpu ? reference(x as tf.Tensor5D, k as tf.Tensor5D, b as tf.Tensor1D, c.relu) : fastConv3x3(x as tf.Tensor5D, k as tf.Tensor5D, b as tf.Tensor1D, c.relu);
    return tf.sum(tf.mul(tf.reshape(y, [-1]), tf.reshape(t.r, [-1])));
  };
  const grads = c.bias ? tf.grads((x, k, b) => loss(x, k, b))([t.x, t.k, t.b]) : tf.grads((x, k) => loss(x, k))([t.x, t.k]);
  const out = await Promise.all(grads.map(async (g) => (await g.data()) as Float32Array));
  tf.dispose([...grads, ...Object.values(t)]);
  return out;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('binding-size guard', () => {
  const backend = { device: { limits: { maxStorageBufferBindingSize: 128 * 1024 * 1024, maxBufferSize: 256 * 1024 * 1024 } } };
  test('throws a readable error past the device limit instead of running', () => {
    const big = [1, 256, 128, 256, 16]; // 512 MiB of float32
    expect(() => checkBindingSizes([{ name: 'input', shape: big }], backend as never)).toThrow(/binding limit of 128\.0 MiB/);
    expect(() => checkBindingSizes([{ name: 'input', shape: [1, 64, 32, 64, 16] }], backend as never)).not.toThrow();
  });
  test('the forward rule stays within WebGPU\'s default limits and splits K only for deep layers', () => {
    for (const [d, h, w, cin, cout] of [[128, 64, 128, 1, 16], [128, 64, 128, 32, 32], [32, 16, 32, 64, 64], [8, 4, 8, 256, 256], [3, 4, 5, 6, 5]]) {
      const t = forwardTiling({ batch: 1, depth: d, height: h, width: w, inChannels: cin, outChannels: cout });
      expect(workgroupBytes(t)).toBeLessThanOrEqual(16384);
      expect((t.tileM / t.rowsPerThread) * (t.tileN / t.colsPerThread)).toBeLessThanOrEqual(256);
      if (d * h * w >= 65536) expect(t.splitK ?? 1).toBe(1);
    }
    expect(forwardTiling({ batch: 1, depth: 8, height: 4, width: 8, inChannels: 256, outChannels: 256 }).splitK).toBe(16);
  });
  test('default tilings fit WebGPU\'s guaranteed 16 KiB of workgroup memory', () => {
    for (const n of [1, 4, 5, 8, 16, 32, 64, 256]) expect(workgroupBytes(defaultTiling(n))).toBeLessThanOrEqual(16384);
  });
});

describeOn('webgpu', 'webgpu conv3x3 matches cpu conv3d', () => {

  // Both kernels on every shape: SwiftShader gets 'direct' by default, GPUs 'workgroup'.
  const STAGINGS: Staging[] = ['direct', 'workgroup'];
  test.each(FORWARD.flatMap((c, i) => STAGINGS.map((s) => [label(c), s, i] as const)))('forward %s (%s)', async (_name, staging, i) => {
    const expected = await forwardValues(FORWARD[i], 10 * i + 1);
    const actual = await onBackend('webgpu', () => forwardValues(FORWARD[i], 10 * i + 1, { staging }));
    expect(relativeError(actual, expected)).toBeLessThan(TOLERANCE);
  });

  // Other tilings and thread blocks exercise the other staging paths (several rows per thread
  // slot, partial slices, fewer voxels per thread).
  const CHOICES: KernelChoice[] = [
    { staging: 'workgroup', tiling: { tileM: 32, tileN: 8, tileK: 8, rowsPerThread: 4, colsPerThread: 4 } },
    { staging: 'workgroup', tiling: { tileM: 64, tileN: 16, tileK: 32, rowsPerThread: 8, colsPerThread: 8 } },
    { staging: 'direct', rowsPerThread: 2 },
  ];
  test.each(CHOICES.map((c) => [JSON.stringify(c), c] as const))('forward with %s', async (_name, choice) => {
    const c = FORWARD[5];
    const expected = await forwardValues(c, 7);
    const actual = await onBackend('webgpu', () => forwardValues(c, 7, choice));
    expect(relativeError(actual, expected)).toBeLessThan(TOLERANCE);
  });

  // Channel counts that are multiples of 4 take the four-channels-per-load staging; split-K
  // adds partial sums in a second program, which then applies the bias and ReLU.
  const VEC4_CASE: Case = { x: [1, 4, 5, 6, 8], cout: 12, bias: true, relu: true };
  const VEC4_CHOICES: KernelChoice[] = [
    { staging: 'workgroup', tiling: { tileM: 32, tileN: 8, tileK: 8, rowsPerThread: 4, colsPerThread: 4 } },
    { staging: 'workgroup', tiling: { tileM: 64, tileN: 16, tileK: 32, rowsPerThread: 8, colsPerThread: 8 } },
    { staging: 'workgroup', tiling: { tileM: 16, tileN: 64, tileK: 8, rowsPerThread: 4, colsPerThread: 4 } },
    { staging: 'workgroup', tiling: { tileM: 16, tileN: 16, tileK: 16, rowsPerThread: 4, colsPerThread: 4, splitK: 3 } },
  ];
  test.each(VEC4_CHOICES.map((c) => [JSON.stringify(c), c] as const))('forward, 8 -> 12 channels, with %s', async (_name, choice) => {
    const expected = await forwardValues(VEC4_CASE, 9);
    const actual = await onBackend('webgpu', () => forwardValues(VEC4_CASE, 9, choice));
    expect(relativeError(actual, expected)).toBeLessThan(TOLERANCE);
  });

  test('split-K with one value per load (6 -> 8 channels)', async () => {
    const c: Case = { x: [1, 4, 5, 6, 6], cout: 8, bias: true, relu: true };
    const choice: KernelChoice = { staging: 'workgroup', tiling: { tileM: 32, tileN: 8, tileK: 8, rowsPerThread: 4, colsPerThread: 4, splitK: 4 } };
    const expected = await forwardValues(c, 11);
    const actual = await onBackend('webgpu', () => forwardValues(c, 11, choice));
    expect(relativeError(actual, expected)).toBeLessThan(TOLERANCE);
  });

  test.each(GRADIENT.map((c, i) => [label(c), i] as const))('gradients %s', async (_name, i) => {
    const expected = await gradientValues(GRADIENT[i], 100 + i);
    const actual = await onBackend('webgpu', () => gradientValues(GRADIENT[i], 100 + i));
    expect(actual.length).toBe(expected.length);
    for (let g = 0; g < expected.length; g++) expect(relativeError(actual[g], expected[g])).toBeLessThan(TOLERANCE);
  });

  // Each backward program on its own, both kernels; 768 voxels make the kernel gradient split
  // its sum over voxel ranges (the partial-sum path).
  const BACKWARD: Case[] = [
    { x: [2, 6, 8, 8, 3], cout: 6, bias: false, relu: false },
    { x: [1, 4, 4, 6, 16], cout: 16, bias: false, relu: false },
  ];
  test.each(BACKWARD.flatMap((c, i) => STAGINGS.map((s) => [label(c), s, i] as const)))('input and kernel gradient programs %s (%s)', async (_name, staging, i) => {
    const c = BACKWARD[i];
    const run = async () => {
      const t = inputs(c, 50 + i);
      const [dx, dk] =
        tf.getBackend() === 'cpu'
          ? tf.grads((x, k) => tf.sum(tf.mul(tf.conv3d(x as tf.Tensor5D, k as tf.Tensor5D, 1, 'same'), t.r)))([t.x, t.k])
          : [inputGradWebGPU(t.r, t.k, { staging }), kernelGradWebGPU(t.x, t.r, { staging })];
      const out = [(await dx.data()) as Float32Array, (await dk.data()) as Float32Array];
      tf.dispose([dx, dk, ...Object.values(t)]);
      return out;
    };
    const expected = await run();
    const actual = await onBackend('webgpu', run);
    expect(relativeError(actual[0], expected[0])).toBeLessThan(TOLERANCE);
    expect(relativeError(actual[1], expected[1])).toBeLessThan(TOLERANCE);
  });

  test('no tensors leak', async () => {
    await onBackend('webgpu', async () => {
      const before = tf.memory().numTensors;
      await forwardValues(FORWARD[1], 3);
      await gradientValues(GRADIENT[1], 4);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});
