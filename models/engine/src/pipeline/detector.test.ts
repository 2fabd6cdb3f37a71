/**
 * Find lesions' detector (the card's `detector`): its map is the detector's one pass over the
 * window's 2 x 2 x 2 means, each cell on its eight voxels; a card and weights that disagree are
 * refused at load; a scan with a detector runs it, not the click network's first pass.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { NetworkConfig, variantConfig } from '../engine/config';
import { forwardPass, initWeights, Weights } from '../engine/network';
import { DETECTOR_PREFIX, DetectorCard, foldBatchNorm, loadModel, LoadedModel, ModelCard, RESEARCH_USE_NOTICE, serializeModel } from '../engine/weights';
import { randomArray } from '../../../../test/backends';
import { IDENTITY_DIRECTION, Vec3 } from '../volume';
import { load } from '../load';
import { detectorProbability } from './detector';
import { DEFAULT_SCAN, scanVolume, WindowRunner } from './scan';
import { arraySource, normalizeVoi } from './voi';

const TINY = { encoderConvs: [1, 1, 1, 1, 1], decoderConvs: [1, 1, 1, 1] };
const DETECTOR_ARCH: NetworkConfig = variantConfig('vnet', { baseWidth: 2, ...TINY });
const CLICK_ARCH: NetworkConfig = variantConfig('cmsvnetiter', { baseWidth: 4, ...TINY, clsHidden: 8 });

function folded(config: NetworkConfig, seed: number): Weights {
  const raw = initWeights(config, seed);
  const out = foldBatchNorm(config, raw);
  tf.dispose(Object.values(raw));
  return out;
}

const detectorCard = (over: Partial<DetectorCard['input']> = {}): DetectorCard => ({
  architecture: DETECTOR_ARCH, input: { voxelMm: 2, readVoxelMm: 1, normalization: 'zscore-voi', ...over }, training: {}, metrics: {},
});

function modelWithDetector(detector: DetectorCard | undefined, seed = 5): { weights: Weights; card: Omit<ModelCard, 'shards' | 'folded' | 'notice'> } {
  const weights = folded(CLICK_ARCH, seed);
  for (const [name, t] of Object.entries(folded(DETECTOR_ARCH, seed + 1))) weights[DETECTOR_PREFIX + name] = t;
  return {
    weights,
    card: { name: 'test', version: '0', architecture: CLICK_ARCH, input: { grid: [32, 16, 32], voxelMm: 1, voiMm: [32, 16, 32], normalization: 'zscore-voi' }, decisionThreshold: 0.5, training: {}, metrics: {}, detector },
  };
}

beforeAll(() => tf.setBackend('cpu'));

test("the map is the detector's pass over 2 x 2 x 2 means, each cell on its eight voxels", async () => {
  const weights = folded(DETECTOR_ARCH, 2);
  const grid: Vec3 = [64, 32, 32];
  const n = grid[0] * grid[1] * grid[2];
  const values = randomArray(n, 3).map((v) => 128 + 60 * v);
  // The last planes lie outside the volume: they stay out of the z-score, as in a click's VOI.
  const inside = new Uint8Array(n).map((_, i) => (i < n - 3 * 64 * 32 ? 1 : 0));
  const before = tf.memory().numTensors;
  const map = await detectorProbability(detectorCard(), weights, grid, values, inside, {});
  expect(tf.memory().numTensors).toBe(before);
  // Reference: tfjs's own 3-D average pooling on the cpu backend.
  const cells = tf.tidy(() => {
    const x = tf.tensor5d(normalizeVoi(values, inside), [1, grid[2], grid[1], grid[0], 1]);
    return forwardPass(DETECTOR_ARCH, weights, tf.avgPool3d(x, 2, 2, 'valid'), undefined).segProb!.dataSync();
  });
  let worst = 0;
  let spread = 0;
  for (let z = 0; z < grid[2]; z++)
    for (let y = 0; y < grid[1]; y++)
      for (let x = 0; x < grid[0]; x++) {
        const cell = cells[(x >> 1) + (grid[0] / 2) * ((y >> 1) + (grid[1] / 2) * (z >> 1))];
        worst = Math.max(worst, Math.abs(map[x + grid[0] * (y + grid[1] * z)] - cell));
      }
  for (let i = 1; i < cells.length; i++) spread = Math.max(spread, Math.abs(cells[i] - cells[0]));
  expect(worst).toBeLessThan(1e-5);
  // Not a constant map: the comparison would hold for any weights.
  expect(spread).toBeGreaterThan(1e-3);
  tf.dispose(Object.values(weights));
});

test('a window that does not halve five times is refused with its size', async () => {
  const weights = folded(DETECTOR_ARCH, 2);
  await expect(detectorProbability(detectorCard(), weights, [64, 16, 64], new Float32Array(64 * 16 * 64), new Uint8Array(64 * 16 * 64), {})).rejects.toThrow(/multiple of 32.*64 x 16 x 64/);
  tf.dispose(Object.values(weights));
});

/** A FileReader over a serialised model in memory. */
async function roundTrip(detector: DetectorCard | undefined, drop?: string): Promise<LoadedModel> {
  const m = modelWithDetector(detector);
  const saved = await serializeModel(m.weights, m.card).finally(() => tf.dispose(Object.values(m.weights)));
  const files = new Map<string, Uint8Array>([...saved.shards, ['model-card.json', new TextEncoder().encode(JSON.stringify(drop ? { ...saved.card, [drop]: undefined } : saved.card))], ['model.json', new TextEncoder().encode(JSON.stringify(saved.manifest))]]);
  return loadModel(async (p) => files.get(p)!);
}

test('the detector travels in the same shards and loads back', async () => {
  const model = await roundTrip(detectorCard());
  expect(model.card.detector?.architecture.variant).toBe('vnet');
  expect(Object.keys(model.weights).filter((k) => k.startsWith(DETECTOR_PREFIX)).length).toBeGreaterThan(10);
  tf.dispose(Object.values(model.weights));
});

test('a card and weights that disagree about the detector are refused', async () => {
  // Weights with a detector, a card without: written by hand, so serializeModel's own check is passed by.
  await expect(roundTrip(detectorCard(), 'detector')).rejects.toThrow(/hold a detector.*no 'detector' entry/);
  await expect(roundTrip(detectorCard({ readVoxelMm: 0.5, voxelMm: 1 }))).rejects.toThrow(/read on the network's 1 mm grid/);
  await expect(roundTrip({ ...detectorCard(), architecture: { ...DETECTOR_ARCH, baseWidth: 4 } })).rejects.toThrow(/detector's weights.*stage1\/conv0\/kernel/);
});

test('a scan with a detector runs it on each window, and the click network only at candidates', async () => {
  const m = modelWithDetector(detectorCard());
  const engine = await load({ weights: { card: { ...m.card, folded: true, notice: RESEARCH_USE_NOTICE, shards: [], scan: { ...DEFAULT_SCAN, windowGrid: [64, 32, 64], strideMm: [64, 32, 64], maxCandidates: 1, blobCandidates: 0, threshold: 0 } }, weights: m.weights }, backend: 'cpu', warmUp: false });
  const dims: Vec3 = [100, 40, 70];
  const source = arraySource({ dims, spacing: [1, 1, 1], origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data: new Uint8Array(dims[0] * dims[1] * dims[2]).map((_, i) => (i * 2654435761) % 251) });
  const runner = engine as unknown as WindowRunner;
  const windowProbability = jest.spyOn(runner, 'windowProbability');
  const result = await scanVolume(runner, source);
  // 100 x 40 x 70 mm in 64 x 32 x 64 mm windows: 2 x 2 x 2, each the detector's 32-multiple grid.
  expect(result.windows).toBe(8);
  const maps = await Promise.all(windowProbability.mock.results.map((r) => r.value as Promise<Float32Array>));
  expect(maps).toHaveLength(8);
  // Cells of 2 x 2 x 2 voxels: the detector's map, not the click network's voxel map.
  expect(maps[0][0]).toBe(maps[0][1]);
  expect(maps[0][0]).toBe(maps[0][64]);
  expect(result.candidates).toHaveLength(1);
  engine.dispose();
});
