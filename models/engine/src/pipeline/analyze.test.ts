import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { variantConfig } from '../engine/config';
import { initWeights } from '../engine/network';
import { foldBatchNorm, LoadedModel, ModelCard, RESEARCH_USE_NOTICE } from '../engine/weights';
import { IDENTITY_DIRECTION, Vec3 } from '../volume';
import { AbortError, Engine } from './analyze';
import { load, loadInThread } from '../load';
import type { FlipAxis } from './flips';
import { arraySource, planClick, readWindow } from './voi';

/** An untrained, randomly initialised tiny model: it exercises the plumbing, not accuracy. */
function randomModel(): LoadedModel {
  const architecture = variantConfig('cmsvnetiter', { baseWidth: 4, encoderConvs: [1, 1, 1, 1, 1], decoderConvs: [1, 1, 1, 1], clsHidden: 8 });
  const raw = initWeights(architecture, 8);
  const weights = foldBatchNorm(architecture, raw);
  tf.dispose(Object.values(raw));
  // A positive seg bias makes the untrained net mark voxels, so the post-processing runs for real.
  weights['seg/bias'].dispose();
  weights['seg/bias'] = tf.tensor1d([3]);
  const card: ModelCard = {
    name: 'random', version: '0', notice: RESEARCH_USE_NOTICE, architecture, folded: true,
    input: { grid: [32, 16, 32], voxelMm: 2, voiMm: [64, 32, 64], normalization: 'zscore-voi' },
    decisionThreshold: 0.5, training: {}, metrics: {}, shards: [],
  };
  return { card, weights };
}

function volume() {
  const dims: Vec3 = [60, 50, 40];
  const data = new Uint8Array(dims[0] * dims[1] * dims[2]).map((_, i) => (i * 2654435761) % 251);
  return arraySource({ dims, spacing: [0.8, 0.3, 1.2], origin: [10, 20, 30], direction: IDENTITY_DIRECTION, data });
}

let analyzer: Engine;
beforeAll(async () => {
  await tf.setBackend('cpu');
  analyzer = await load({ weights: randomModel(), backend: 'cpu', warmUp: false });
});
afterAll(() => analyzer.dispose());

test('an analysis reports probability, lesion, size, backend, timings and progress', async () => {
  const stages: string[] = [];
  const result = await analyzer.analyze(volume(), [30, 25, 20], { centerSpace: 'voxel', recentre: false, onProgress: (p) => stages.push(p.step ? `${p.stage} ${p.step}/${p.of}` : p.stage) });
  expect(stages).toEqual(['reading VOI', 'iteration 1/2', 'iteration 2/2', 'post-processing']);
  expect(result.probability).toBeGreaterThan(0);
  expect(result.probability).toBeLessThan(1);
  expect(result.probabilityRange).toEqual([result.probability, result.probability]);
  expect(result.views).toBe(1);
  expect(result.analyses).toBe(1);
  // This card has no operating points: no verdict, and no class.
  expect(result.verdict).toBeNull();
  expect(result.label).toBeNull();
  expect(result.found).toBe(true);
  expect(result.lesion.voxelCount).toBeGreaterThan(0);
  expect(result.size.volumeMl).toBeCloseTo((result.lesion.voxelCount * 0.8 * 0.3 * 1.2) / 1000, 9);
  expect(result.backend).toBe('cpu');
  expect(result.backendReason).toMatch(/cpu/);
  expect(Object.keys(result.timingsMs)).toEqual(expect.arrayContaining(['readVoi', 'resample', 'iteration1', 'iteration2', 'postprocess', 'total']));
  expect(result.notice).toMatch(/not for clinical diagnosis/);
});

test('an analysis is re-centred on its lesion: a second VOI at the segment\'s centroid, the click kept', async () => {
  // The untrained net marks most of the volume (48 x 15 x 48 mm, centre (29.5, 24.5, 19.5)), so
  // a click at x = 20 is far off the segment's centre.
  const stages: string[] = [];
  const result = await analyzer.analyze(volume(), [20, 25, 20], { centerSpace: 'voxel', onProgress: (p) => stages.push(p.stage) });
  expect(result.clickIndex).toEqual([20, 25, 20]);
  expect(result.analyses).toBeGreaterThanOrEqual(2);
  // A one-pass look, then at most three full analyses; each move of the VOI says so.
  expect(result.analyses).toBeLessThanOrEqual(4);
  expect(stages.filter((s) => s === 're-centring').length).toBeGreaterThanOrEqual(1);
  expect(stages.filter((s) => s === 're-centring').length).toBeLessThanOrEqual(result.analyses - 1);
  // Moved towards the segment's centre, and on the lattice of the network's 1 mm voxels (0.8 x 0.3 x 1.2 mm source voxels).
  expect(result.centerIndex[0]).toBeGreaterThan(20);
  result.centerIndex.forEach((v, a) => expect(Math.abs(v / ([1 / 0.8, 1 / 0.3, 1 / 1.2][a]) - Math.round(v / ([1 / 0.8, 1 / 0.3, 1 / 1.2][a])))).toBeLessThan(1e-9));
  expect(result.timingsMs.recentre).toBeGreaterThan(0);
  expect(result.timingsMs.total).toBeGreaterThan(result.timingsMs.recentre);
});

test('flipped views are averaged: 4 views, each one\'s P within the range, never a depth flip', async () => {
  const result = await analyzer.analyze(volume(), [30, 25, 20], { centerSpace: 'voxel', recentre: false, flips: ['lateral', 'sweep'] });
  expect(result.views).toBe(4);
  const [lo, hi] = result.probabilityRange!;
  expect(lo).toBeLessThanOrEqual(result.probability!);
  expect(hi).toBeGreaterThanOrEqual(result.probability!);
  // An untrained net is not mirror-symmetric: the views disagree.
  expect(hi).toBeGreaterThan(lo);
  expect(result.timingsMs.flips).toBeGreaterThan(0);
});

test('a VOI just analysed, run again with flips and reusePlain, takes its unflipped view from before: the same answer, 3 views run', async () => {
  const fresh = await loadInThread({ weights: randomModel(), backend: 'cpu', warmUp: false });
  const source = volume();
  const plan = planClick(fresh.card, source, [31, 25, 20], 'voxel');
  const block = () => readWindow(source, plan);
  const counting = (counted: string[]) => ({ flips: ['lateral', 'sweep'] as FlipAxis[], onProgress: (p: { stage: string }) => p.stage === 'iteration' && counted.push(p.stage) });
  try {
    const allFour: string[] = [];
    const direct = await fresh.run(plan, source, await block(), counting(allFour));
    await fresh.run(plan, source, await block());
    const notAsked: string[] = [];
    await fresh.run(plan, source, await block(), counting(notAsked));
    await fresh.run(plan, source, await block());
    // Asked to reuse after another VOI ran in between (another analysis in the same worker): all four views run.
    const other = planClick(fresh.card, source, [26, 25, 20], 'voxel');
    await fresh.run(other, source, await readWindow(source, other));
    const afterOther: string[] = [];
    await fresh.run(plan, source, await block(), { ...counting(afterOther), reusePlain: true });
    await fresh.run(plan, source, await block());
    const threeRun: string[] = [];
    const reused = await fresh.run(plan, source, await block(), { ...counting(threeRun), reusePlain: true });
    expect(allFour).toHaveLength(8);
    expect(notAsked).toHaveLength(8);
    expect(afterOther).toHaveLength(8);
    expect(threeRun).toHaveLength(6);
    expect(reused.probability).toBe(direct.probability);
    expect(reused.probabilityRange).toEqual(direct.probabilityRange);
    expect(reused.lesion.voxelCount).toBe(direct.lesion.voxelCount);
    expect(reused.views).toBe(4);
  } finally {
    fresh.dispose();
  }
});

test('no tensor leaks: tf.memory().numTensors is the same after 20 analyses as after 1', async () => {
  const source = volume();
  await analyzer.analyze(source, [30, 25, 20], { centerSpace: 'voxel' });
  const after1 = tf.memory().numTensors;
  // Re-centring runs the same analysis again: without it here, the 19 cost a third of the time.
  for (let i = 0; i < 19; i++) await analyzer.analyze(source, [20 + i, 25, 20], { centerSpace: 'voxel', recentre: false, flips: i % 5 ? [] : ['lateral'] });
  expect(tf.memory().numTensors).toBe(after1);
});

test('cancelling stops the analysis and leaks nothing', async () => {
  const before = tf.memory().numTensors;
  const controller = new AbortController();
  const run = analyzer.analyze(volume(), [30, 25, 20], {
    centerSpace: 'voxel',
    signal: controller.signal,
    onProgress: (p) => p.step === 1 && controller.abort(),
  });
  await expect(run).rejects.toBeInstanceOf(AbortError);
  expect(tf.memory().numTensors).toBe(before);
});

test("the engine's cancel() stops what it runs, without a signal of the caller's, and leaks nothing", async () => {
  const before = tf.memory().numTensors;
  const run = analyzer.analyze(volume(), [30, 25, 20], { centerSpace: 'voxel', onProgress: (p) => p.step === 1 && analyzer.cancel() });
  await expect(run).rejects.toBeInstanceOf(AbortError);
  expect(tf.memory().numTensors).toBe(before);
  // The next analysis is not cancelled.
  await expect(analyzer.analyze(volume(), [30, 25, 20], { centerSpace: 'voxel' })).resolves.toHaveProperty('backend', 'cpu');
});

test('bad input gives a clear message', async () => {
  await expect(analyzer.analyze(volume(), [0, 0, 0], { centerSpace: 'patient' })).rejects.toThrow(/outside the volume/);
  const flat = arraySource({ dims: [60, 50, 1], spacing: [1, 1, 1], origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data: new Uint8Array(3000) });
  await expect(analyzer.analyze(flat, [30, 25, 0], { centerSpace: 'voxel' })).rejects.toThrow(/2-D image/);
});
