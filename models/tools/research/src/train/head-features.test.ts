/**
 * Phase 1 of a retrain, end to end at toy size: the engine writes a model's classification
 * features of the lesion VOIs in a shard folder under both poolings (head-features.ts), and the
 * PyTorch side fits a head on cached features and loads a folded model as the same function
 * (models/torch/tests/test_head.py).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeUntrainedModel } from '../../../../../test/fixtures/untrained-model';
import { prerequisites } from '../../../../../test/prerequisites';
import { runPython } from '../../../../../test/torch';
import { headFeatures } from './head-features';
import { DEFAULT_SAMPLER, runSampler } from './sampler';
import { NO_AUGMENTATION } from './samples';
import { readTensors } from './tensors-io';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-head-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const onWasm = prerequisites(['wasm'], 'head features');
onWasm.it('the lesion VOIs of a shard folder: one row each, both poolings, the label and the logit', async () => {
  const shards = path.join(tmp, 'shards');
  fs.mkdirSync(shards);
  runSampler({ ...DEFAULT_SAMPLER, samplesPerShard: 4, outDir: shards, inputs: [{ grid: [32, 16, 32], voxelMm: 2, voiMm: [64, 32, 64], normalization: 'zscore-voi' }], source: { kind: 'phantom', randomize: true }, augmentation: NO_AUGMENTATION, seed: 5, worker: 0, workers: 1, count: 8 });
  const lesions = fs.readdirSync(shards).filter((f) => f.endsWith('.json')).flatMap((f) => JSON.parse(fs.readFileSync(path.join(shards, f), 'utf8')).lesion as number[]).filter(Boolean).length;
  const model = path.join(tmp, 'model');
  await writeUntrainedModel(model, { segBias: 1 });
  const n = await headFeatures({ weights: model, shards, tag: 'g32x16x32v2', out: path.join(tmp, 'features') });
  expect(n).toBe(lesions);
  const t = readTensors(path.join(tmp, 'features'));
  // Stages 4, 5, 6 at width 4: 32 + 64 + 64 features.
  expect(t.global.shape).toEqual([n, 160]);
  expect(t.lesion.shape).toEqual([n, 160]);
  expect(t.label.shape).toEqual([n]);
  expect(Array.from(t.lesion.data).some((v, i) => Math.abs(v - t.global.data[i]) > 1e-4)).toBe(true);
}, 300000);

const withTorch = prerequisites(['torch', 'numpy'], 'head fit (PyTorch)');
withTorch.it(withTorch.title('PyTorch: a head fitted on cached features; a folded model loads as the same function'), () => {
  const r = runPython(['-m', 'unittest', '-v', 'tests.test_head']);
  expect(r.stderr).toMatch(/Ran 2 tests/);
  expect(r.stderr).toMatch(/\nOK/);
});
