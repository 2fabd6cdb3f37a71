/**
 * The project's WebAssembly SIMD 3x3x3 convolution against tfjs's cpu conv3d on random data,
 * within 1e-4 relative. Widths that are not multiples of 4 (the kernel computes 4 voxels per
 * step), planes of one row, and maps small enough that most taps fall on the padding (which the
 * kernel skips) are where it could break.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { execFileSync } from 'child_process';
import { describeOn, onBackend, randomArray, relativeError } from '../../../../../test/backends';
import { conv3x3Simd, instantiateConvKernel, isSharedMemory, SIMD_CONV_MAX_CIN, simdConvFits, simdConvUnavailable } from './simd-conv';
import * as path from 'path';
import * as ops from '../ops';
import '../register-gradients';

const TOLERANCE = 1e-4;

type Shape5 = [number, number, number, number, number];
interface Case {
  x: Shape5;
  cout: number;
  bias: boolean;
  relu: boolean;
}

const CASES: Case[] = [
  { x: [1, 5, 7, 9, 1], cout: 8, bias: false, relu: false },
  { x: [2, 4, 3, 6, 3], cout: 16, bias: true, relu: true },
  { x: [1, 3, 2, 3, 2], cout: 8, bias: true, relu: false },
  { x: [1, 2, 1, 2, 64], cout: 8, bias: false, relu: true },
  { x: [1, 1, 2, 2, 160], cout: 8, bias: true, relu: false },
  { x: [1, 6, 5, 8, 16], cout: 24, bias: true, relu: true },
  { x: [2, 3, 4, 7, 5], cout: 8, bias: false, relu: false },
  { x: [1, 1, 1, 1, 4], cout: 16, bias: true, relu: false },
];

const label = (c: Case) => `[${c.x.join(',')}] -> ${c.cout}${c.bias ? ' +bias' : ''}${c.relu ? ' +relu' : ''}`;
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function inputs(c: Case, seed: number) {
  const cin = c.x[4];
  return {
    x: tf.tensor5d(randomArray(size(c.x), seed), c.x),
    k: tf.tensor5d(randomArray(27 * cin * c.cout, seed + 1), [3, 3, 3, cin, c.cout]),
    b: tf.tensor1d(randomArray(c.cout, seed + 2)),
  };
}

async function reference(c: Case, seed: number): Promise<Float32Array> {
  const t = inputs(c, seed);
  let y: tf.Tensor5D = tf.conv3d(t.x, t.k, 1, 'same');
  if (c.bias) y = tf.add(y, t.b);
  if (c.relu) y = tf.relu(y);
  const values = (await y.data()) as Float32Array;
  tf.dispose([t.x, t.k, t.b, y]);
  return values;
}

/** conv3d 'same' + bias + ReLU in plain JS, [d, h, w, cin] x [3, 3, 3, cin, cout]. */
function referenceConv(x: Float32Array, k: Float32Array, b: Float32Array, [d, h, w, cin, cout]: number[]): Float32Array {
  const out = new Float32Array(d * h * w * cout);
  for (let z = 0; z < d; z++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        for (let co = 0; co < cout; co++) {
          let sum = b[co];
          for (let dz = 0; dz < 3; dz++)
            for (let dy = 0; dy < 3; dy++)
              for (let dx = 0; dx < 3; dx++) {
                const [iz, iy, ix] = [z + dz - 1, y + dy - 1, xx + dx - 1];
                if (iz < 0 || iy < 0 || ix < 0 || iz >= d || iy >= h || ix >= w) continue;
                for (let ci = 0; ci < cin; ci++) sum += x[((iz * h + iy) * w + ix) * cin + ci] * k[(((dz * 3 + dy) * 3 + dx) * cin + ci) * cout + co];
              }
          out[((z * h + y) * w + xx) * cout + co] = Math.max(0, sum);
        }
  return out;
}

test('on a shared memory (tfjs-wasm threaded build, cross-origin isolated pages) the shared variant loads and computes the same, also split into slabs of planes', () => {
  const shape = [3, 4, 5, 6, 8];
  const [d, h, w, cin, cout] = shape;
  const x = randomArray(d * h * w * cin, 5);
  const k = randomArray(27 * cin * cout, 6);
  const b = randomArray(cout, 7);
  // slabs: output planes computed by separate conv3x3_planes calls, as helper threads do.
  const run = (memory: WebAssembly.Memory, slabs?: [number, number][]) => {
    const kernel = instantiateConvKernel(memory);
    const f32 = new Float32Array(memory.buffer);
    const at = { x: 0, k: 4 * x.length, b: 4 * (x.length + k.length), out: 4 * (x.length + k.length + b.length) };
    const padAt = at.out + 4 * d * h * w * cout + 64;
    f32.set(x, at.x / 4);
    f32.set(k, at.k / 4);
    f32.set(b, at.b / 4);
    kernel.pad(at.x, padAt, d, h, w, cin);
    if (slabs) for (const [z0, z1] of slabs) kernel.conv3x3_planes(padAt, at.k, at.b, at.out, d, h, w, cin, cout, 1, z0, z1);
    else kernel.conv3x3(padAt, at.k, at.b, at.out, d, h, w, cin, cout, 1);
    return f32.slice(at.out / 4, at.out / 4 + d * h * w * cout);
  };
  const shared = new WebAssembly.Memory({ initial: 2, maximum: 64, shared: true });
  expect(isSharedMemory(shared)).toBe(true);
  const plain = new WebAssembly.Memory({ initial: 2 });
  expect(isSharedMemory(plain)).toBe(false);
  const expected = referenceConv(x, k, b, shape);
  expect(expected.some((v) => v > 0)).toBe(true);
  expect(relativeError(run(shared), expected)).toBeLessThan(TOLERANCE);
  expect(relativeError(run(plain), expected)).toBeLessThan(TOLERANCE);
  // Split into slabs of planes (the threaded path), the same numbers bit for bit.
  expect(run(shared, [[2, 3], [0, 2]])).toEqual(run(shared));
  expect(run(shared, [[0, 1], [1, 2], [2, 3]])).toEqual(run(plain));
});

describeOn('wasm', 'WebAssembly SIMD 3x3x3 convolution', () => {
  test('the committed module is what conv3x3.wat assembles to', () => {
    const script = path.join(__dirname, '..', '..', '..', 'scripts', 'build-wasm.js');
    expect(execFileSync(process.execPath, [script, '--check'], { encoding: 'utf8' })).toContain('matches');
  });

  test('loads on tfjs-wasm in Node (so the cases below run it, not the fallback)', async () => {
    await onBackend('wasm', async () => expect(simdConvUnavailable()).toBeUndefined());
  });

  test.each(CASES.map((c, i) => [label(c), c, i] as const))('%s: within 1e-4 of cpu conv3d', async (_name, c, i) => {
    const expected = await reference(c, 100 * i + 1);
    const actual = await onBackend('wasm', async () => {
      const t = inputs(c, 100 * i + 1);
      expect(simdConvFits(t.x, t.k)).toBe(true);
      const y = conv3x3Simd(t.x, t.k, c.bias ? t.b : undefined, c.relu);
      const values = (await y.data()) as Float32Array;
      tf.dispose([t.x, t.k, t.b, y]);
      return values;
    });
    expect(relativeError(actual, expected)).toBeLessThan(TOLERANCE);
  });

  test('leaves to XNNPACK what it does not fit: output channels not a multiple of 8, or many input channels on a larger map', async () => {
    await onBackend('wasm', async () => {
      const fits = (cin: number, cout: number, voxels = 16) =>
        simdConvFits(tf.zeros([1, voxels / 4, 1, 4, cin]) as tf.Tensor5D, tf.zeros([3, 3, 3, cin, cout]) as tf.Tensor5D);
      const answers = tf.tidy(() => [
        [fits(1, 8), fits(SIMD_CONV_MAX_CIN, 16), fits(128, 8, 256), fits(256, 8, 4)],
        [fits(1, 4), fits(3, 12), fits(SIMD_CONV_MAX_CIN + 1, 8, 512), fits(256, 8, 8)],
      ]);
      expect(answers).toEqual([
        [true, true, true, true],
        [false, false, false, false],
      ]);
    });
  });

  test('ops.conv3x3 on wasm (SIMD forward, its own gradient): dx and dW within 1e-4 of cpu', async () => {
    const xShape: Shape5 = [2, 4, 5, 6, 3];
    const cout = 8;
    const gradients = async () => {
      const x = tf.tensor5d(randomArray(size(xShape), 31), xShape);
      const k = tf.tensor5d(randomArray(27 * 3 * cout, 32), [3, 3, 3, 3, cout]);
      const dy = tf.tensor(randomArray(size(xShape.slice(0, 4)) * cout, 33), [...xShape.slice(0, 4), cout]);
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(ops.conv3x3(a as tf.Tensor5D, b as tf.Tensor5D), dy)))([x, k]);
      const out = await Promise.all(grads.map(async (g) => (await g.data()) as Float32Array));
      tf.dispose([x, k, dy, ...grads]);
      return out;
    };
    const [dx, dw] = await gradients();
    const [dxWasm, dwWasm] = await onBackend('wasm', gradients);
    expect(relativeError(dxWasm, dx)).toBeLessThan(TOLERANCE);
    expect(relativeError(dwWasm, dw)).toBeLessThan(TOLERANCE);
  });

  test('frees its padded copy: no tensors or heap growth left after repeated calls', async () => {
    await onBackend('wasm', async () => {
      const t = inputs({ x: [1, 8, 8, 8, 2], cout: 8, bias: true, relu: true }, 7);
      const run = () => tf.dispose(ops.conv3x3BiasRelu(t.x, t.k, t.b));
      run();
      const tensors = tf.memory().numTensors;
      // The padded copy is backend data, not a tensor: a leak of it shows in the backend's count.
      const dataIds = tf.backend().numDataIds();
      const heap = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
      for (let i = 0; i < 20; i++) run();
      expect(tf.memory().numTensors).toBe(tensors);
      expect(tf.backend().numDataIds()).toBe(dataIds);
      expect((tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length).toBe(heap);
      tf.dispose([t.x, t.k, t.b]);
    });
  });
});
