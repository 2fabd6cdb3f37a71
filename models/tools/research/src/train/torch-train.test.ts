/**
 * The PyTorch trainer on shards from the TypeScript sampler: two gloo processes equal one process
 * with the same global batch, and a resumed run equals an uninterrupted one
 * (models/torch/tests/test_train.py), and the detector's loss and sampling options
 * (test_detector_training.py). Skipped, with the reason, where PyTorch is missing.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { prerequisites } from '../../../../../test/prerequisites';
import { runPython } from '../../../../../test/torch';
import { DEFAULT_SAMPLER, runSampler } from './sampler';
import { DEFAULT_AUGMENTATION } from './samples';

const withTorch = prerequisites(['torch', 'numpy'], 'PyTorch trainer test');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-torch-train-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

withTorch.it(withTorch.title('distributed (DDP, gloo) and resumed training match; a fine-tune with the recall options exports its last check'), () => {
  runSampler({ ...DEFAULT_SAMPLER, samplesPerShard: 8, outDir: tmp, inputs: [{ grid: [32, 16, 32], voxelMm: 2, voiMm: [64, 32, 64], normalization: 'zscore-voi' }], source: { kind: 'phantom', randomize: true }, augmentation: DEFAULT_AUGMENTATION, seed: 2, worker: 0, workers: 1, count: 16 });
  const r = runPython(['-m', 'unittest', '-v', 'tests.test_train'], { ABUS_SHARDS: tmp, ABUS_SHARDS_TAG: 'g32x16x32v2' });
  console.log(r.stderr.split('\n').filter((l) => /DDP|ok|Ran/.test(l)).join('\n'));
  expect(r.stderr).toMatch(/Ran 4 tests/);
  expect(r.stderr).toMatch(/\nOK/);
  expect(r.stderr).not.toMatch(/skipped/);
});

withTorch.it(withTorch.title("the detector's training options: missed voxels weighed in the soft Dice, each VOI's lesion voxels counted for oversampling"), () => {
  const r = runPython(['-m', 'unittest', '-v', 'tests.test_detector_training']);
  expect(r.stderr).toMatch(/Ran 2 tests/);
  expect(r.stderr).toMatch(/\nOK/);
});
