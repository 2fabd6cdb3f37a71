/**
 * load()'s options belong to the engine it returns, not to the process: two engines in one
 * process, on different backends and kernels, each run on their own, in whatever order they are
 * loaded and used, one after the other or at once.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describeOn } from '../../../test/backends';
import { tinyModelFolder } from '../../../test/fixtures/untrained-model';
import { load } from './load';
import { Engine } from './pipeline/analyze';
import { arraySource } from './pipeline/voi';
import { IDENTITY_DIRECTION, Vec3 } from './volume';

const dir = tinyModelFolder('abus-two-engines-');
afterAll(() => tf.setBackend('cpu'));

const dims: Vec3 = [40, 20, 40];
const source = arraySource({ dims, spacing: [2, 2, 2], origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data: Uint8Array.from({ length: 40 * 20 * 40 }, (_, i) => (i * 7919) % 253) });
const click: Vec3 = [20, 10, 20];

/** Every pass of every analysis, in the order they ran: which engine, on which backend. */
const passLog: string[] = [];

/**
 * One analysis: the backends active while its network passes ran, and how many times the SIMD
 * convolution kernel ran during it (counted only when it runs alone).
 */
async function analyse(engine: Engine, name: string) {
  const active = new Set<string>();
  const engineApi = tf.engine() as unknown as { runKernel: (kernel: string, ...rest: unknown[]) => unknown };
  const runKernel = engineApi.runKernel;
  let simdCalls = 0;
  engineApi.runKernel = function (kernel, ...rest) {
    if (kernel === 'AbusConv3x3Simd') simdCalls++;
    return runKernel.call(this, kernel, ...rest);
  };
  try {
    const result = await engine.analyze(source, click, {
      centerSpace: 'voxel',
      onProgress: (p) => {
        if (p.stage !== 'iteration') return;
        active.add(tf.getBackend());
        passLog.push(name);
      },
    });
    return { networkP: result.networkProbability as number, backends: [...active], simdCalls };
  } finally {
    engineApi.runKernel = runKernel;
  }
}

describeOn('wasm', 'two engines in one process', () => {
  test('each keeps its own backend and kernels, and they give the same answer', async () => {
    const onCpu = await load({ weights: dir, backend: 'cpu' });
    const onXnnpack = await load({ weights: dir, backend: 'wasm', simdConv: false });
    const onSimd = await load({ weights: dir, backend: 'wasm' });
    try {
      expect(onCpu.backend?.reason).toBe('cpu (forced)');
      expect(onXnnpack.backend?.reason).toMatch(/^wasm \(forced\); 3x3x3 convolutions by XNNPACK conv2d, because it was turned off/);
      expect(onSimd.backend?.reason).toMatch(/^wasm \(forced\); 3x3x3 convolutions by the WebAssembly SIMD kernel/);

      // One after the other: each call finds another engine's backend active, and runs its own kernels.
      const first = await analyse(onCpu, 'cpu');
      const second = await analyse(onXnnpack, 'xnnpack');
      const alone = await analyse(onSimd, 'simd');
      const third = await analyse(onCpu, 'cpu');
      expect(first.backends).toEqual(['cpu']);
      expect(second.backends).toEqual(['wasm']);
      expect(alone.backends).toEqual(['wasm']);
      expect(third.backends).toEqual(['cpu']);
      expect(second.simdCalls).toBe(0);
      expect(alone.simdCalls).toBeGreaterThan(0);
      expect(third.networkP).toBe(first.networkP);
      expect(second.networkP).toBeCloseTo(first.networkP, 4);
      expect(alone.networkP).toBeCloseTo(first.networkP, 4);

      // At once: their passes interleave (the log switches engines more than once), each still on its own backend.
      passLog.length = 0;
      const [cpu, simd] = await Promise.all([analyse(onCpu, 'cpu'), analyse(onSimd, 'simd')]);
      const switches = passLog.filter((name, n) => n > 0 && name !== passLog[n - 1]).length;
      expect(switches).toBeGreaterThan(1);
      expect(cpu.backends).toEqual(['cpu']);
      expect(simd.backends).toEqual(['wasm']);
      expect(cpu.networkP).toBe(first.networkP);
      expect(simd.networkP).toBeCloseTo(first.networkP, 4);
    } finally {
      [onCpu, onXnnpack, onSimd].forEach((e) => e.dispose());
    }
  });
});
