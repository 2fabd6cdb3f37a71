/**
 * Training and evaluation on generated phantoms: a 2-epoch run on a tiny variant lowers the
 * loss, a resumed run equals an uninterrupted one, and evaluation reproduces hand-computed metrics.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { assignFolds, evaluateCases, LesionResult, loadDataset, LoadedCase, NO_AUGMENTATION, summarize, train, TrainOptions, writePhantomDataset } from '@abus-tumor-ai/research';
import { IDENTITY_DIRECTION, Vec3 } from '@abus-tumor-ai/engine';
import { Analyzer, folderReader, loadModel, tryBackend, variantConfig } from '@abus-tumor-ai/engine/lab';
import { relativeError } from './backends';

const dir = mkdtempSync(join(tmpdir(), 'abus-train-'));
let cases: LoadedCase[];

beforeAll(async () => {
  await tryBackend('wasm');
  // Coarse phantoms keep this fast; the pipeline is the same as at full resolution.
  writePhantomDataset(join(dir, 'data'), { count: 6, seed: 11, formats: ['nrrd', 'dicom'], phantom: { spacing: [0.8, 0.4, 1.0], lesionCount: 1 } });
  cases = loadDataset(join(dir, 'data')).cases;
});

function options(outDir: string, epochs: number, resume = false): TrainOptions {
  const folds = assignFolds(cases.map((c) => c.patientId), 3);
  return {
    config: variantConfig('cmsvnetiter', { baseWidth: 2, encoderConvs: [1, 1, 1, 1, 1], decoderConvs: [1, 1, 1, 1], clsHidden: 4 }),
    input: { grid: [32, 16, 32], voxelMm: 2, voiMm: [64, 32, 64], normalization: 'zscore-voi' },
    train: cases.filter((_, i) => folds[i] !== 0),
    val: cases.filter((_, i) => folds[i] === 0),
    epochs,
    batchSize: 2,
    learningRate: 0.01,
    lambda: 0.3,
    seed: 3,
    outDir,
    resume,
    augmentation: { ...NO_AUGMENTATION, jitterMm: 2, flip: true },
    provenance: { data: 'test phantoms' },
  };
}

test('the loader reads DICOM series folders as data_path, voxel for voxel like the NRRD', () => {
  const other = join(dir, 'dicom-layout');
  mkdirSync(other);
  const rows = readFileSync(join(dir, 'data', 'labels.csv'), 'utf8').trim().split('\n').slice(0, 2);
  const [, first] = rows;
  const [id, label, , maskPath] = first.split(',');
  writeFileSync(join(other, 'labels.csv'), `case_id,label,data_path,mask_path\n${id},${label},../data/dicom/DATA_000,../data/${maskPath}\n`);
  const [fromDicom] = loadDataset(other).cases;
  expect(Array.from(fromDicom.volume.data)).toEqual(Array.from(cases[0].volume.data));
  expect(fromDicom.lesions[0].malignant).toBe(cases[0].lesions[0].malignant);
});

test('loader reads the TDSC layout and assigns patient folds', () => {
  expect(cases).toHaveLength(6);
  expect(cases.every((c) => c.lesions.length === 1 && ['M', 'B'].includes(c.label))).toBe(true);
  const folds = assignFolds(['a', 'b', 'a', 'c', 'd', 'b'], 2);
  expect(folds[0]).toBe(folds[2]);
  expect(folds[1]).toBe(folds[5]);
  expect(new Set(folds).size).toBe(2);
});

test('two epochs lower the loss, write a JSON line each, and export the best model', async () => {
  const out = join(dir, 'run');
  // Tensors left behind must not grow with the epochs (a per-step or per-validation leak once
  // aborted long runs when tfjs-wasm's heap filled); a run leaves a fixed ~20 (not yet traced).
  const t0 = tf.memory().numTensors;
  await train(options(join(dir, 'one-epoch'), 1));
  const t1 = tf.memory().numTensors;
  const logs = await train(options(out, 2));
  expect(tf.memory().numTensors - t1).toBe(t1 - t0);
  expect(logs[1].train_loss).toBeLessThan(logs[0].train_loss);
  const lines = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(lines.map((l) => l.epoch)).toEqual([1, 2]);
  expect(lines[0].gflop_per_s).toBeGreaterThan(0);
  const model = await loadModel(folderReader(join(out, 'model')));
  expect(model.card.folded).toBe(true);
  expect(model.card.notice).toMatch(/not for clinical diagnosis/);
  tf.dispose(Object.values(model.weights));
});

// Not bit for bit: tfjs's Adam recomputes its bias-correction powers as beta^t on restore,
// where the live run accumulated them as a product; that differs in the last float digits.
test('a run interrupted after epoch 1 and resumed equals an uninterrupted run (1e-4 relative)', async () => {
  const whole = join(dir, 'whole');
  const parted = join(dir, 'parted');
  await train(options(whole, 2));
  await train(options(parted, 1));
  const resumed = await train(options(parted, 2, true));
  expect(resumed.map((l) => l.epoch)).toEqual([2]);
  const a = await loadModel(folderReader(join(whole, 'checkpoint')));
  const b = await loadModel(folderReader(join(parted, 'checkpoint')));
  for (const name of Object.keys(a.weights)) {
    expect(relativeError(await b.weights[name].data(), await a.weights[name].data())).toBeLessThan(1e-4);
  }
  tf.dispose([...Object.values(a.weights), ...Object.values(b.weights)]);
});

describe('evaluation', () => {
  /** A stand-in analyzer that returns a known box and probability, so metrics can be worked out by hand. */
  function fakeAnalyzer(box: { min: Vec3; max: Vec3 }, probabilities: number[]) {
    let n = 0;
    return {
      card: { architecture: variantConfig('cmsvnetiter'), decisionThreshold: 0.5 },
      analyze: async () => {
        const size = [0, 1, 2].map((a) => box.max[a] - box.min[a] + 1);
        const mask = new Uint8Array(size[0] * size[1] * size[2]).fill(1);
        return { probability: probabilities[n++], lesion: { mask, min: box.min, max: box.max, voxelCount: mask.length }, timingsMs: { total: 10 } };
      },
    } as unknown as Analyzer;
  }

  function boxCase(id: string, malignant: boolean): LoadedCase {
    const dims: Vec3 = [10, 10, 10];
    const data = new Uint8Array(1000);
    // truth: a 4x4x4 cube at [2..5]^3
    for (let k = 2; k < 6; k++) for (let j = 2; j < 6; j++) for (let i = 2; i < 6; i++) data[i + 10 * (j + 10 * k)] = 1;
    const geometry = { dims, spacing: [1, 1, 1] as Vec3, origin: [0, 0, 0] as Vec3, direction: IDENTITY_DIRECTION };
    return {
      caseId: id, patientId: id, label: malignant ? 'M' : 'B', dataPath: '', maskPath: '',
      volume: { ...geometry, data: new Uint8Array(1000) }, mask: { ...geometry, data },
      lesions: [{ center: [3.5, 3.5, 3.5], malignant, volumeMl: 0.064 }],
    };
  }

  test('per-lesion and summary metrics match hand-computed values', async () => {
    // prediction: cube [3..6]^3, overlap [3..5]^3 = 27 voxels; DSC = 2*27/(64+64), JI = 27/101
    const results = await evaluateCases(fakeAnalyzer({ min: [3, 3, 3], max: [6, 6, 6] }, [0.9, 0.2, 0.6, 0.4]), [
      boxCase('a', true), boxCase('b', false), boxCase('c', false), boxCase('d', true),
    ]);
    expect(results[0].dsc).toBeCloseTo(54 / 128, 10);
    expect(results[0].jaccard).toBeCloseTo(27 / 101, 10);
    expect(results[0].truthMl).toBeCloseTo(0.064, 10);
    const s = summarize(results as LesionResult[], 0.5);
    expect(s.segmentation?.all.dsc[0]).toBeCloseTo(54 / 128, 10);
    expect(s.segmentation?.small.n).toBe(4);
    // labels 1,0,0,1 scores .9,.2,.6,.4: pairs (pos>neg) = (.9>.2,.9>.6,.4>.2) = 3 of 4
    expect(s.classification?.auc).toBeCloseTo(0.75, 10);
    // threshold 0.5: tp 1 (a), fp 1 (c), tn 1 (b), fn 1 (d)
    expect(s.classification?.accuracy).toBeCloseTo(0.5, 10);
    expect(s.classification?.falsePositiveRate).toBeCloseTo(0.5, 10);
  });
});
