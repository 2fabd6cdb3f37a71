/**
 * Find lesions' detector from PyTorch to the engine: `abus_torch.train --input-pool 2` trains it
 * on the sampler's shards and exports it, `python -m abus_torch.detector` puts it into a click
 * model's folder, the engine loads that folder, and its detector map equals PyTorch's on the same
 * window; `--take-out` gives the detector back as a folder of its own (for a fine-tune). Skipped,
 * with the reason, where PyTorch is missing.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { randomArray } from './backends';
import { writeUntrainedModel, TINY_ARCHITECTURE } from './fixtures/untrained-model';
import { prerequisites } from './prerequisites';
import { PYTHON, readTensors, runPython, TORCH_DIR, writeTensors } from './torch';
import { DETECTOR_PREFIX, detectorProbability, folderReader, loadModel, splitDetectorWeights } from '@abus-tumor-ai/engine/lab';
import { DEFAULT_AUGMENTATION, DEFAULT_SAMPLER, runSampler } from '@abus-tumor-ai/research';

const withTorch = prerequisites(['torch', 'numpy'], 'PyTorch detector test');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-detector-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

withTorch.it(withTorch.title('a detector trained in PyTorch runs in the engine with the same map'), async () => {
  await tf.setBackend('cpu');
  // The tiny click model reads at 2 mm; its detector then runs at 4 mm, on shards of 64 mm cubes.
  const click = path.join(tmp, 'click');
  await writeUntrainedModel(click, { architecture: TINY_ARCHITECTURE });
  const shards = fs.mkdtempSync(path.join(tmp, 'shards-'));
  runSampler({ ...DEFAULT_SAMPLER, samplesPerShard: 8, outDir: shards, inputs: [{ grid: [32, 32, 32], voxelMm: 2, voiMm: [64, 64, 64], normalization: 'zscore-voi' }], source: { kind: 'phantom', randomize: true }, augmentation: DEFAULT_AUGMENTATION, seed: 4, worker: 0, workers: 1, count: 8 });
  const run = path.join(tmp, 'run');
  runPython(['-m', 'abus_torch.train', '--samples', shards, '--tag', 'g32x32x32v2', '--input-pool', '2', '--variant', 'vnet', '--width', '2', '--steps', '2', '--batch', '2', '--min-samples', '8', '--eval-every', '1e9', '--threads', '1', '--out', run]);
  const trained = JSON.parse(fs.readFileSync(path.join(run, 'model', 'model-card.json'), 'utf8'));
  expect(trained.input).toMatchObject({ grid: [16, 16, 16], voxelMm: 4, readVoxelMm: 2 });

  // Never over an input: --out may not be the click model's folder.
  const refused = spawnSync(PYTHON, ['-m', 'abus_torch.detector', '--model', click, '--detector', path.join(run, 'model'), '--out', click], { cwd: TORCH_DIR, encoding: 'utf8' });
  expect(refused.status).toBe(2);
  expect(refused.stderr).toMatch(/--out must be a new folder/);
  const combined = path.join(tmp, 'combined');
  runPython(['-m', 'abus_torch.detector', '--model', click, '--detector', path.join(run, 'model'), '--out', combined]);

  const model = await loadModel(folderReader(combined));
  const original = await loadModel(folderReader(click));
  // The click network is untouched: the same names and values.
  const { network, detector } = splitDetectorWeights(model.weights);
  expect(Object.keys(network).sort()).toEqual(Object.keys(original.weights).sort());
  for (const [name, t] of Object.entries(original.weights)) expect(Array.from(network[name].dataSync())).toEqual(Array.from(t.dataSync()));
  expect(Object.keys(model.weights).some((k) => k.startsWith(DETECTOR_PREFIX))).toBe(true);
  expect(model.card.detector?.input).toEqual({ voxelMm: 4, readVoxelMm: 2, normalization: 'zscore-voi' });

  // The same z-scored window on both sides (all of it inside the volume).
  const grid: [number, number, number] = [32, 32, 64];
  const n = grid[0] * grid[1] * grid[2];
  const values = randomArray(n, 6);
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  writeTensors(path.join(tmp, 'window'), { voi: { shape: [1, grid[2], grid[1], grid[0]], data: values.map((v) => (v - mean) / sd) } });
  runPython(['-c', `import sys; sys.path.insert(0, '.'); from abus_torch.detector import detector_probability; from abus_torch.tensors_io import read_tensors, write_tensors; write_tensors(${JSON.stringify(path.join(tmp, 'map'))}, {'map': detector_probability(${JSON.stringify(combined)}, read_tensors(${JSON.stringify(path.join(tmp, 'window'))})['voi'])})`]);
  const torchMap = readTensors(path.join(tmp, 'map')).map;
  expect(torchMap.shape).toEqual([1, grid[2] / 2, grid[1] / 2, grid[0] / 2]);
  const engineMap = await detectorProbability(model.card.detector!, detector, grid, values, new Uint8Array(n).fill(1), {});
  let worst = 0;
  for (let z = 0; z < grid[2]; z++)
    for (let y = 0; y < grid[1]; y++)
      for (let x = 0; x < grid[0]; x++) {
        const cell = torchMap.data[(x >> 1) + (grid[0] / 2) * ((y >> 1) + (grid[1] / 2) * (z >> 1))];
        worst = Math.max(worst, Math.abs(engineMap[x + grid[0] * (y + grid[1] * z)] - cell));
      }
  console.log(`detector map, engine vs PyTorch: worst difference ${worst.toExponential(2)}`);
  expect(worst).toBeLessThan(1e-4);
  tf.dispose([...Object.values(model.weights), ...Object.values(original.weights)]);

  // --take-out gives the detector back as a folder of its own (what train --init fine-tunes): the same weights and architecture.
  const taken = path.join(tmp, 'taken');
  runPython(['-m', 'abus_torch.detector', '--model', combined, '--take-out', '--out', taken]);
  const same = runPython(['-c', `import sys; sys.path.insert(0, '.'); import numpy as np; from abus_torch.weights_io import read_model_folder; a, wa = read_model_folder(${JSON.stringify(taken)}); b, wb = read_model_folder(${JSON.stringify(path.join(run, 'model'))}); print('same', sorted(wa) == sorted(wb) and all(np.array_equal(wa[k], wb[k]) for k in wa) and a['architecture'] == b['architecture'])`]);
  expect(same.stdout).toMatch(/same True/);
  const none = spawnSync(PYTHON, ['-m', 'abus_torch.detector', '--model', click, '--take-out', '--out', path.join(tmp, 'none')], { cwd: TORCH_DIR, encoding: 'utf8' });
  expect([none.status, none.stderr]).toEqual([2, expect.stringMatching(/has no detector/)]);
}, 300_000);
