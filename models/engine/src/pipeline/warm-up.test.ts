/**
 * The warm-up analysis at model load: it compiles the kernels, and on webgpu it runs inside
 * WebGPU error scopes, so a shader or device-limit error stops the load with a message instead
 * of giving silent zeros later.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describeOn } from '../../../../test/backends';
import { tinyModelFolder } from '../../../../test/fixtures/untrained-model';
import { activeWebGPUDevice } from '../engine/backend';
import { load } from '../load';
import '../engine/register-gradients';

const dir = tinyModelFolder('abus-warmup-');
afterEach(() => tf.setBackend('cpu'));

test('on wasm the warm-up runs one analysis', async () => {
  const analyzer = await load({ weights: dir, backend: 'wasm', warmUp: false });
  try {
    expect(await analyzer.warmUp()).toBeGreaterThan(0);
  } finally {
    analyzer.dispose();
  }
});

describeOn('webgpu', 'on webgpu', () => {
  test('the whole network runs inside error scopes that report nothing', async () => {
    const analyzer = await load({ weights: dir, backend: 'webgpu', warmUp: false });
    try {
      await expect(analyzer.warmUp()).resolves.toBeGreaterThan(0);
    } finally {
      analyzer.dispose();
    }
  });

  test('an error a scope catches stops the warm-up with its message', async () => {
    const analyzer = await load({ weights: dir, backend: 'webgpu', warmUp: false });
    const device = activeWebGPUDevice() as unknown as { popErrorScope(): Promise<{ message: string } | null> };
    const real = device.popErrorScope.bind(device);
    // As a shader that failed to compile would report it.
    device.popErrorScope = async () => (await real()) ?? { message: 'injected: invalid ShaderModule' };
    try {
      await expect(analyzer.warmUp()).rejects.toThrow(/^WebGPU could not run the network: injected: invalid ShaderModule/);
    } finally {
      device.popErrorScope = real;
      analyzer.dispose();
    }
  });
});
