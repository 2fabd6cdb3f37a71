/**
 * WebGPU that cannot run the network at load (its warm-up failed) is left for the next backend
 * that starts, chosen by the one backend choice (chooseBackend), which says why in one line.
 * A file of its own: it drops the webgpu backend for the rest of the process.
 */
import * as tf from '@tensorflow/tfjs-core';
import { tinyModelFolder } from '../../../test/fixtures/untrained-model';
import { folderReader, loadModel } from './engine/weights';
import { loadInThread, withoutWebGPU } from './load';

const dir = tinyModelFolder('abus-fallback-');
afterAll(() => tf.setBackend('cpu'));

test('a failed webgpu engine is replaced on the next backend that starts, with the reason', async () => {
  const failed = await loadInThread({ weights: dir, backend: 'cpu', warmUp: false });
  const next = await withoutWebGPU(failed, () => loadModel(folderReader(dir)), 'injected: invalid ShaderModule');
  try {
    // In Node webgl has no canvas, so wasm runs; the reason names both backends it passed over.
    expect(next.backend.backend).toBe('wasm');
    expect(next.backend.reason).toMatch(/^wasm, because webgpu: injected: invalid ShaderModule; webgl: .+/);
    expect(tf.getBackend()).toBe('wasm');
  } finally {
    next.dispose();
  }
});
