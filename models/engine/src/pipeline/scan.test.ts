/**
 * "Find lesions": the window tiling, the coarse map's geometry (a runner that marks known spheres
 * must get them back where they are), streaming (no read near the volume's size), progress,
 * cancellation and tensor hygiene with a real (random, tiny) network.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { variantConfig } from '../engine/config';
import { initWeights } from '../engine/network';
import { foldBatchNorm, LoadedModel, ModelCard, RESEARCH_USE_NOTICE } from '../engine/weights';
import { IDENTITY_DIRECTION, Vec3, VolumeGeometry } from '../volume';
import { AbortError, AnalysisResult, AnalyzeOptions, Engine } from './analyze';
import { load } from '../load';
import { axisCentres, boxIoU, confidence, DEFAULT_SCAN, readWindow, scanParams, ScanParams, ScanProgress, ScanResult, scanVolume, SLAB_PLANES, suppressNear, tileWindows, WindowGrid, WindowRunner } from './scan';
import { arraySource, planVoi, resampleToGrid, VoiPlan, VolumeSource } from './voi';

const card = (input: ModelCard['input'], scan?: ModelCard['scan']): ModelCard => ({
  name: 'test', version: '0', notice: RESEARCH_USE_NOTICE, architecture: variantConfig('cmsvnetiter', { baseWidth: 4, encoderConvs: [1, 1, 1, 1, 1], decoderConvs: [1, 1, 1, 1], clsHidden: 8 }),
  folded: true, input, decisionThreshold: 0.5, training: {}, metrics: {}, shards: [], scan,
});

/** A volume of patterned voxels whose reads are recorded (voxel counts of each block). */
function countedSource(dims: Vec3, spacing: Vec3): { source: VolumeSource; reads: number[] } {
  const base = arraySource({ dims, spacing, origin: [5, -3, 12], direction: IDENTITY_DIRECTION, data: new Uint8Array(dims[0] * dims[1] * dims[2]).map((_, i) => (i * 2654435761) % 251) });
  const reads: number[] = [];
  return {
    reads,
    source: { ...base, readBlock: async (a, b) => {
      reads.push((b[0] - a[0] + 1) * (b[1] - a[1] + 1) * (b[2] - a[2] + 1));
      return base.readBlock(a, b);
    } },
  };
}

test('windows tile every axis: edges covered, neighbours at most a stride apart', () => {
  // 100 mm, 64 mm windows, 20 mm stride: ceil(36 / 20) + 1 = 3 windows, centres 32, 50, 68 mm.
  const c = axisCentres(200, 0.5, 64, 20);
  expect(c.map((i) => (i + 0.5) * 0.5)).toEqual([32, 50, 68]);
  // A volume narrower than the window: one window in its middle.
  expect(axisCentres(40, 0.5, 64, 20)).toEqual([19.5]);
  const geometry: VolumeGeometry = { dims: [200, 100, 80], spacing: [0.5, 0.4, 1], origin: [0, 0, 0], direction: IDENTITY_DIRECTION };
  const plans = tileWindows(geometry, [32, 16, 32], 2, [20, 20, 20]);
  expect(plans).toHaveLength(3 * 2 * 2);
  expect(plans.every((p) => p.grid.join() === '32,16,32')).toBe(true);
});

test('scan parameters: card over defaults, overrides over the card, bad values refused', () => {
  const c = card({ grid: [16, 16, 16], voxelMm: 2, voiMm: [32, 32, 32], normalization: 'zscore-voi' }, { ...DEFAULT_SCAN, threshold: 0.3 });
  expect(scanParams(c).threshold).toBe(0.3);
  expect(scanParams(c, { threshold: 0.7 }).threshold).toBe(0.7);
  expect(() => scanParams(c, { windowGrid: [20, 16, 16] })).toThrow(/multiples of 16/);
  expect(() => scanParams(c, { maxCandidates: 1.5 })).toThrow(/maxCandidates/);
});

test('non-maximum suppression in mm: a candidate near a better one is dropped, one farther kept', () => {
  const at = (x: number, y: number, z: number) => ({ centerIndex: [x, y, z] as Vec3 });
  // Spacing 0.5 x 0.2 x 1 mm: index 10 along x is 5 mm, along y 2 mm, along z 10 mm.
  const kept = suppressNear([at(0, 0, 0), at(10, 0, 0), at(0, 0, 10), at(20, 0, 0), at(0, 30, 0)], 8, [0.5, 0.2, 1]);
  expect(kept.map((k) => k.centerIndex)).toEqual([[0, 0, 0], [0, 0, 10], [20, 0, 0]]);
  expect(suppressNear([at(0, 0, 0), at(1, 0, 0)], 0, [1, 1, 1])).toHaveLength(2);
  // The card's scan rejects a calibration that is not a non-decreasing table.
  expect(() => scanParams(card({ grid: [64, 32, 64], voxelMm: 1, voiMm: [64, 32, 64], normalization: 'zscore-voi' }), { calibration: { raw: [0.2, 0.1], share: [0, 1] } })).toThrow(/ascending/);
  expect(() => scanParams(card({ grid: [64, 32, 64], voxelMm: 1, voiMm: [64, 32, 64], normalization: 'zscore-voi' }), { calibration: { raw: [0.1, 0.2], share: [0.5, 0.2] } })).toThrow(/not decreasing/);
});

test('boxIoU of inclusive index boxes', () => {
  expect(boxIoU({ min: [0, 0, 0], max: [9, 9, 9] }, { min: [0, 0, 0], max: [9, 9, 9] })).toBe(1);
  expect(boxIoU({ min: [0, 0, 0], max: [9, 9, 9] }, { min: [5, 0, 0], max: [14, 9, 9] })).toBeCloseTo(500 / 1500, 9);
  expect(boxIoU({ min: [0, 0, 0], max: [4, 4, 4] }, { min: [5, 5, 5], max: [9, 9, 9] })).toBe(0);
});

test('a window read slab by slab equals resampling its whole block, and no read is more than a slab', async () => {
  const { source, reads } = countedSource([120, 90, 200], [0.4, 0.3, 0.45]);
  const plan = planVoi(source, [60.3, 40.2, 100.7], [32, 16, 48], 1);
  const window = await readWindow(source, plan);
  const whole = resampleToGrid(plan, source, await source.readBlock(plan.blockMin, plan.blockMax));
  const blockVoxels = reads.pop()!;
  expect(reads).toHaveLength(48 / SLAB_PLANES);
  expect(Math.max(...reads)).toBeLessThan(blockVoxels / 4);
  expect(Array.from(window.inside)).toEqual(Array.from(whole.inside));
  let diff = 0;
  window.values.forEach((v, i) => (diff = Math.max(diff, Math.abs(v - whole.values[i]))));
  expect(diff).toBeLessThan(1e-3);
});

test('a click VOI past the volume\'s edge reads only the slabs that reach into it, with the values of its whole block', async () => {
  const { source, reads } = countedSource([120, 90, 40], [0.4, 0.3, 0.45]);
  // 48 grid planes of 1 mm around sweep index 2: the volume's 18 mm cover the middle 2-3 slabs.
  const plan = planVoi(source, [60.3, 40.2, 2], [32, 16, 48], 1);
  const window = await readWindow(source, plan);
  const slabReads = reads.length;
  const whole = resampleToGrid(plan, source, await source.readBlock(plan.blockMin, plan.blockMax));
  expect(slabReads).toBeGreaterThan(0);
  expect(slabReads).toBeLessThan(48 / SLAB_PLANES);
  expect(Array.from(window.inside)).toEqual(Array.from(whole.inside));
  let diff = 0;
  window.values.forEach((v, i) => (diff = Math.max(diff, Math.abs(v - whole.values[i]))));
  expect(diff).toBeLessThan(1e-9);
});

/**
 * A runner without a network: each window's probability is 1 inside known spheres (patient mm)
 * and 0 elsewhere; the fine pass "finds" the sphere nearest to the click. The scan must give the
 * spheres back at their places, the larger first, and nothing else.
 */
/** The map marks every sphere; the click analysis finds each one except those `rejected` names. */
function sphereRunner(spheres: { c: Vec3; r: number; p?: number }[], geometry: VolumeGeometry, rejected: number[] | ((n: number, click: Vec3, options: AnalyzeOptions) => boolean) = []): WindowRunner & { clicks: Vec3[] } {
  const turnsDown = typeof rejected === 'function' ? rejected : (n: number, _click: Vec3, _options: AnalyzeOptions) => rejected.includes(n);
  const c = card({ grid: [16, 16, 16], voxelMm: 2, voiMm: [32, 32, 32], normalization: 'zscore-voi' });
  const toMm = (g: VolumeGeometry, s: Vec3) => s.map((v, a) => g.origin[a] + v * g.spacing[a]) as Vec3;
  const clicks: Vec3[] = [];
  return {
    card: c,
    clicks,
    async windowProbability(plan: VoiPlan, window: WindowGrid) {
      const g = geometry;
      const [gx, gy, gz] = plan.grid;
      expect(window.values.length).toBe(gx * gy * gz);
      const out = new Float32Array(gx * gy * gz);
      for (let z = 0; z < gz; z++)
        for (let y = 0; y < gy; y++)
          for (let x = 0; x < gx; x++) {
            const s = [x, y, z].map((v, a) => plan.center[a] + ((v - (plan.grid[a] - 1) / 2) * plan.voxelMm) / g.spacing[a]) as Vec3;
            const p = toMm(g, s);
            const marked = spheres.find((q) => Math.hypot(p[0] - q.c[0], p[1] - q.c[1], p[2] - q.c[2]) <= q.r);
            out[x + gx * (y + gy * z)] = marked ? (marked.p ?? 1) : 0;
          }
      return out;
    },
    async analyze(source: VolumeSource, click: Vec3, options: AnalyzeOptions = {}) {
      clicks.push(click);
      const p = toMm(source, click);
      const q = spheres.find((s, n) => !turnsDown(n, click, options) && Math.hypot(p[0] - s.c[0], p[1] - s.c[1], p[2] - s.c[2]) <= s.r);
      const box = q
        ? { min: q.c.map((v, a) => Math.round((v - q.r - source.origin[a]) / source.spacing[a])) as Vec3, max: q.c.map((v, a) => Math.round((v + q.r - source.origin[a]) / source.spacing[a])) as Vec3 }
        : { min: [0, 0, 0] as Vec3, max: [0, 0, 0] as Vec3 };
      return { found: Boolean(q), probability: q ? 0.5 : null, lesion: { ...box, mask: new Uint8Array(0), voxelCount: q ? 1 : 0 }, centerIndex: click } as unknown as AnalysisResult;
    },
  };
}

test('the coarse map puts marked spheres back where they are, ranked, each analysed once', async () => {
  const { source } = countedSource([160, 100, 120], [0.5, 0.4, 0.75]);
  // Volume: x 5..85 mm, y -3..37, z 12..102.
  const spheres = [{ c: [30, 15, 40] as Vec3, r: 8 }, { c: [65, 20, 80] as Vec3, r: 5 }];
  const runner = sphereRunner(spheres, source);
  const result = await scanVolume(runner, source, { params: { windowGrid: [16, 16, 16], strideMm: [16, 16, 16], cellMm: 2, taperMm: Infinity, threshold: 0.5, minMl: 0.01 } });
  expect(result.coarseCandidates).toBe(2);
  expect(result.candidates).toHaveLength(2);
  for (const [n, cand] of result.candidates.entries()) {
    expect(cand.rank).toBe(n + 1);
    expect(cand.found).toBe(true);
    const s = spheres[n];
    // The centre within one map cell (2 mm) of the sphere's.
    cand.centerMm.forEach((v, a) => expect(Math.abs(v - s.c[a])).toBeLessThan(2));
    // The coarse box spans the sphere's diameter, to a cell.
    const c = cand.coarse.box;
    [0, 1, 2].forEach((a) => expect(Math.abs((c.max[a] - c.min[a]) * source.spacing[a] - 2 * s.r)).toBeLessThan(2 * 2 + 1e-9));
    // Its probability mass is the sphere's volume, to the 2 mm cells' staircase (about 10%).
    const ml = ((4 / 3) * Math.PI * s.r ** 3) / 1000;
    expect(Math.abs(cand.coarse.massMl - ml) / ml).toBeLessThan(0.15);
  }
  expect(result.candidates[0].score).toBeGreaterThan(0.5);
  expect(runner.clicks).toHaveLength(2);
});

test('calibrated scores and the card\'s minScore: a found lesion under it is analysed and ranked but not proposed', async () => {
  const { source } = countedSource([160, 100, 120], [0.5, 0.4, 0.75]);
  const spheres = [{ c: [30, 15, 40] as Vec3, r: 8 }, { c: [65, 20, 80] as Vec3, r: 3 }];
  const runner = sphereRunner(spheres, source);
  // Raw scores above 0.5 for both spheres (map components); the larger, surer one the higher. The
  // table maps raw 0.5 -> 0.2 and 1 -> 1: the large sphere's score is about 0.99, the small one's
  // (0.11 mL of probability mass, raw about 0.6) about 0.36, under the 0.75 asked for.
  const params = { windowGrid: [16, 16, 16] as Vec3, strideMm: [16, 16, 16] as Vec3, cellMm: 2, taperMm: Infinity, threshold: 0.5, minMl: 0.01, calibration: { raw: [0.5, 1], share: [0.2, 1] }, minScore: 0.75 };
  const result = await scanVolume(runner, source, { params });
  expect(result.candidates).toHaveLength(2);
  const [big, small] = result.candidates;
  expect(big.rawScore).toBeGreaterThan(small.rawScore);
  for (const c of [big, small]) expect(c.score).toBeCloseTo(0.2 + 0.8 * (c.rawScore - 0.5) / 0.5, 9);
  expect(big.score).toBeGreaterThanOrEqual(0.75);
  expect(small.score).toBeLessThan(0.75);
  expect([big.found, small.found]).toEqual([true, false]);
  // The analysis itself found it: its segment's box, not the coarse one.
  expect(small.analysis.found).toBe(true);
});

test('the detector ranks: a candidate the click analysis rejects keeps its place, and is not proposed', async () => {
  const { source } = countedSource([160, 100, 120], [0.5, 0.4, 0.75]);
  const spheres = [{ c: [30, 15, 40] as Vec3, r: 8 }, { c: [65, 20, 80] as Vec3, r: 3 }];
  // The click analysis answers "no lesion" at the large sphere, which the map marks most surely.
  const runner = sphereRunner(spheres, source, [0]);
  const result = await scanVolume(runner, source, { params: { windowGrid: [16, 16, 16], strideMm: [16, 16, 16], cellMm: 2, taperMm: Infinity, threshold: 0.5, minMl: 0.01 } });
  expect(result.candidates).toHaveLength(2);
  const [first, second] = result.candidates;
  expect(first.rawScore).toBeCloseTo(confidence(first.coarse), 12);
  expect(first.rawScore).toBeGreaterThan(second.rawScore);
  expect([first.found, second.found]).toEqual([false, true]);
  // Not found: its box is the coarse component's, around the large sphere.
  expect(first.box).toEqual(first.coarse.box);
  first.centerMm.forEach((v, a) => expect(Math.abs(v - spheres[0].c[a])).toBeLessThan(2));
});

test('second look: a sure candidate turned down between voxels is found at the nearest voxel; a weak one gets no second look', async () => {
  const { source } = countedSource([160, 100, 120], [0.5, 0.4, 0.75]);
  const spheres = [{ c: [30, 15, 40] as Vec3, r: 8 }, { c: [65, 20, 80] as Vec3, r: 3 }];
  const params = { windowGrid: [16, 16, 16] as Vec3, strideMm: [16, 16, 16] as Vec3, cellMm: 2, taperMm: Infinity, threshold: 0.5, minMl: 0.01 };
  const offVoxel = (click: Vec3) => click.some((v) => v !== Math.round(v));
  // The click analysis turns both spheres down anywhere between voxels, the large one (raw about
  // 0.99) and the small one (raw about 0.6).
  const between = () => sphereRunner(spheres, source, (_n, click) => offVoxel(click));
  const without = await scanVolume(between(), source, { params });
  expect(without.candidates.map((c) => c.found)).toEqual([false, false]);
  const runner = between();
  const result = await scanVolume(runner, source, { params: { ...params, secondLookScore: 0.75 } });
  const [big, small] = result.candidates;
  expect(offVoxel(big.coarse.centerIndex) && offVoxel(small.coarse.centerIndex)).toBe(true);
  expect(big.rawScore).toBeGreaterThanOrEqual(0.75);
  expect(small.rawScore).toBeLessThan(0.75);
  expect([big.found, small.found]).toEqual([true, false]);
  expect(big.centerIndex).toEqual(big.coarse.centerIndex.map(Math.round));
  big.centerMm.forEach((v, a) => expect(v).toBeCloseTo(source.origin[a] + big.centerIndex[a] * source.spacing[a], 9));
  expect(small.centerIndex).toEqual(small.coarse.centerIndex);
  expect(runner.clicks).toHaveLength(3);
  // Turned down at the nearest voxel too: the first answer and centre stay, after two looks.
  const nowhere = sphereRunner(spheres, source, [0, 1]);
  const refused = await scanVolume(nowhere, source, { params: { ...params, secondLookScore: 0.75 } });
  expect(refused.candidates[0].found).toBe(false);
  expect(refused.candidates[0].centerIndex).toEqual(refused.candidates[0].coarse.centerIndex);
  expect(nowhere.clicks).toHaveLength(3);
  expect(() => scanParams(card({ grid: [16, 16, 16], voxelMm: 2, voiMm: [32, 32, 32], normalization: 'zscore-voi' }), { secondLookScore: 1.5 })).toThrow(/secondLookScore/);
});

test('inward look: a sure candidate turned down where its VOI crosses a lateral face is found with the VOI moved inwards; one far from the faces gets no such look', async () => {
  const { source } = countedSource([160, 100, 120], [0.5, 0.4, 0.75]);
  // Volume x 5..85 mm: the first sphere's 30 mm VOI reaches past x = 5; the second's stays inside.
  const spheres = [{ c: [12, 15, 50] as Vec3, r: 6 }, { c: [50, 20, 70] as Vec3, r: 6 }];
  const params = { windowGrid: [16, 16, 16] as Vec3, strideMm: [16, 16, 16] as Vec3, cellMm: 2, taperMm: Infinity, threshold: 0.5, minMl: 0.01, secondLookScore: 0.75 };
  // The centred analysis turns both down; the one with the VOI moved inwards finds them.
  const centredOnly = () => sphereRunner(spheres, source, (_n, _click, options) => !options.inward);
  const without = await scanVolume(centredOnly(), source, { params });
  expect(without.candidates.map((c) => c.found)).toEqual([false, false]);
  const runner = centredOnly();
  const result = await scanVolume(runner, source, { params: { ...params, inwardLook: true } });
  const byX = [...result.candidates].sort((a, b) => a.centerMm[0] - b.centerMm[0]);
  expect(byX.map((c) => c.rawScore >= 0.75)).toEqual([true, true]);
  expect(byX.map((c) => c.found)).toEqual([true, false]);
  expect(byX[0].analysis.lesion.max[0]).toBeGreaterThan(byX[0].analysis.lesion.min[0]);
  // Per candidate a first look and, off-voxel, the nearest voxel's; one inward look, for the sphere at the face.
  const offVoxel = result.candidates.filter((c) => c.coarse.centerIndex.some((v) => v !== Math.round(v))).length;
  expect(runner.clicks).toHaveLength(2 + offVoxel + 1);
  expect(() => scanParams(card({ grid: [16, 16, 16], voxelMm: 2, voiMm: [32, 32, 32], normalization: 'zscore-voi' }), { inwardLook: 'yes' as unknown as boolean })).toThrow(/inwardLook/);
});

test('inward look: a lesion the centred analysis found keeps that answer, however little its box agrees with the detector', async () => {
  const { source } = countedSource([160, 100, 120], [0.5, 0.4, 0.75]);
  // At the lateral face, as in the test before, so a VOI moved inwards would re-centre.
  const spheres = [{ c: [12, 15, 50] as Vec3, r: 6 }];
  const params = { windowGrid: [16, 16, 16] as Vec3, strideMm: [16, 16, 16] as Vec3, cellMm: 2, taperMm: Infinity, threshold: 0.5, minMl: 0.01, secondLookScore: 0.75, inwardLook: true };
  const spheresAnalysis = sphereRunner(spheres, source);
  const inwardClicks: Vec3[] = [];
  const runner: WindowRunner = {
    ...spheresAnalysis,
    async analyze(src, click, options = {}) {
      const answer = await spheresAnalysis.analyze(src, click, options);
      if (options.inward) {
        inwardClicks.push(click);
        return { ...answer, probability: 0.6 };
      }
      // Centred: found, but a sliver whose box overlaps the component's by IoU under 0.3.
      return { ...answer, lesion: { ...answer.lesion, max: answer.lesion.min.map((v) => v + 1) as Vec3 } };
    },
  };
  const result = await scanVolume(runner, source, { params });
  expect(result.candidates).toHaveLength(1);
  const [candidate] = result.candidates;
  expect(candidate.found).toBe(true);
  expect(boxIoU(candidate.box, candidate.coarse.box)).toBeLessThan(0.3);
  expect(candidate.analysis.probability).toBe(0.5);
  expect(inwardClicks).toHaveLength(0);
});

test('detector outline: a sure candidate the click analysis turns down everywhere is proposed with the component as its outline and no verdict; a weak one is not', async () => {
  const { source } = countedSource([160, 100, 120], [0.5, 0.4, 0.75]);
  const spheres = [{ c: [30, 15, 40] as Vec3, r: 8 }, { c: [65, 20, 80] as Vec3, r: 3 }];
  const params = { windowGrid: [16, 16, 16] as Vec3, strideMm: [16, 16, 16] as Vec3, cellMm: 2, taperMm: Infinity, threshold: 0.5, minMl: 0.01, secondLookScore: 0.75 };
  const without = await scanVolume(sphereRunner(spheres, source, [0, 1]), source, { params });
  expect(without.candidates.map((c) => c.found)).toEqual([false, false]);
  const result = await scanVolume(sphereRunner(spheres, source, [0, 1]), source, { params: { ...params, detectorOutline: true } });
  const [big, small] = result.candidates;
  expect(big.rawScore).toBeGreaterThanOrEqual(0.75);
  expect(small.rawScore).toBeLessThan(0.75);
  expect([big.found, small.found]).toEqual([true, false]);
  expect(big.analysis.outline).toBe('detector');
  expect(small.analysis.outline).toBeUndefined();
  expect([big.analysis.probability, big.analysis.verdict, big.analysis.label, big.analysis.descriptors]).toEqual([null, null, null, null]);
  // The outline is the sphere to the 2 mm cells' staircase: its volume, and no voxel farther out than a cell's diagonal.
  const ml = ((4 / 3) * Math.PI * 8 ** 3) / 1000;
  expect(Math.abs(big.analysis.size.volumeMl - ml) / ml).toBeLessThan(0.15);
  const { mask, min, max } = big.analysis.lesion;
  const [nx, ny] = [max[0] - min[0] + 1, max[1] - min[1] + 1];
  let farthest = 0;
  mask.forEach((v, i) => {
    if (!v) return;
    const index = [min[0] + (i % nx), min[1] + (Math.floor(i / nx) % ny), min[2] + Math.floor(i / (nx * ny))];
    farthest = Math.max(farthest, Math.hypot(...index.map((x, a) => source.origin[a] + x * source.spacing[a] - spheres[0].c[a])));
  });
  expect(farthest).toBeGreaterThan(8 - 2);
  expect(farthest).toBeLessThan(8 + 2 * Math.sqrt(3));
  expect(big.box).toEqual({ min: big.analysis.lesion.min, max: big.analysis.lesion.max });
  expect(() => scanParams(card({ grid: [16, 16, 16], voxelMm: 2, voiMm: [32, 32, 32], normalization: 'zscore-voi' }), { detectorOutline: 1 as unknown as boolean })).toThrow(/detectorOutline/);
});

test('detector outline with outlineScore and outlinePeak: a small component the map is certain of is outlined below the second look score; a component whose map hovers near the threshold is not', async () => {
  const { source } = countedSource([160, 100, 120], [0.5, 0.4, 0.75]);
  // A small sphere the map is certain of (peak 1) and a larger one it is not (0.6): both score near 0.7.
  const spheres = [{ c: [30, 15, 40] as Vec3, r: 4, p: 1 }, { c: [65, 20, 80] as Vec3, r: 6, p: 0.6 }];
  const params = { windowGrid: [16, 16, 16] as Vec3, strideMm: [16, 16, 16] as Vec3, cellMm: 2, taperMm: Infinity, threshold: 0.5, minMl: 0.01, secondLookScore: 0.75, detectorOutline: true };
  const scan = (extra: Partial<ScanParams>) => scanVolume(sphereRunner(spheres, source, [0, 1]), source, { params: { ...params, ...extra } });
  const byPeak = (r: ScanResult) => [...r.candidates].sort((a, b) => b.coarse.peak - a.coarse.peak);
  const atSecondLook = byPeak(await scan({}));
  expect(atSecondLook.map((c) => c.rawScore < 0.75)).toEqual([true, true]);
  expect(atSecondLook.map((c) => c.found)).toEqual([false, false]);
  const scoreOnly = byPeak(await scan({ outlineScore: 0.6 }));
  expect(scoreOnly.map((c) => c.found)).toEqual([true, true]);
  const [certain, hovering] = byPeak(await scan({ outlineScore: 0.6, outlinePeak: 0.9 }));
  expect([certain.coarse.peak, Math.round(hovering.coarse.peak * 100) / 100]).toEqual([1, 0.6]);
  expect([certain.found, hovering.found]).toEqual([true, false]);
  expect(certain.analysis.outline).toBe('detector');
  const c = card({ grid: [16, 16, 16], voxelMm: 2, voiMm: [32, 32, 32], normalization: 'zscore-voi' });
  expect(() => scanParams(c, { outlineScore: -0.1 })).toThrow(/outlineScore/);
  expect(() => scanParams(c, { outlinePeak: '0.9' as unknown as number })).toThrow(/outlinePeak/);
});

test('detector outline with outlinePart: a click segment much smaller than its component is replaced by the outline; one of the component\'s size is kept', async () => {
  const { source } = countedSource([160, 100, 120], [0.5, 0.4, 0.75]);
  const spheres = [{ c: [30, 15, 40] as Vec3, r: 8 }, { c: [65, 20, 80] as Vec3, r: 6 }];
  const params = { windowGrid: [16, 16, 16] as Vec3, strideMm: [16, 16, 16] as Vec3, cellMm: 2, taperMm: Infinity, threshold: 0.5, minMl: 0.01, secondLookScore: 0.75, outlineScore: 0.6, detectorOutline: true };
  // The click analysis finds both, but segments 0.1 mL of the 2.1 mL sphere (a part) and 0.8 of the 0.9 mL one.
  const partRunner = () => {
    const runner = sphereRunner(spheres, source);
    const analyze = runner.analyze.bind(runner);
    runner.analyze = async (src, click, options) => {
      const r = await analyze(src, click, options);
      const big = Math.hypot(...click.map((v, a) => source.origin[a] + v * source.spacing[a] - spheres[0].c[a])) <= spheres[0].r;
      // A part is re-centred on itself, off the lesion's centre.
      return r.found ? { ...r, size: { volumeMl: big ? 0.1 : 0.8 } as AnalysisResult['size'], centerIndex: big ? (click.map((v) => v + 3) as Vec3) : click } : r;
    };
    return runner;
  };
  const bySize = (r: ScanResult) => [...r.candidates].sort((a, b) => b.coarse.massMl - a.coarse.massMl);
  const kept = bySize(await scanVolume(partRunner(), source, { params }));
  expect(kept.map((c) => [c.found, c.analysis.outline, c.analysis.probability])).toEqual([[true, undefined, 0.5], [true, undefined, 0.5]]);
  const [big, small] = bySize(await scanVolume(partRunner(), source, { params: { ...params, outlinePart: 0.1 } }));
  expect([big.found, big.analysis.outline, big.analysis.probability, big.analysis.verdict]).toEqual([true, 'detector', null, null]);
  // Centred where the component is, not where the part was (Go to and the already-marked check use it).
  expect(big.analysis.centerIndex).toEqual(big.coarse.centerIndex);
  expect(big.box).toEqual({ min: big.analysis.lesion.min, max: big.analysis.lesion.max });
  const ml = ((4 / 3) * Math.PI * 8 ** 3) / 1000;
  expect(Math.abs(big.analysis.size.volumeMl - ml) / ml).toBeLessThan(0.15);
  expect([small.found, small.analysis.outline, small.analysis.probability]).toEqual([true, undefined, 0.5]);
  expect(() => scanParams(card({ grid: [16, 16, 16], voxelMm: 2, voiMm: [32, 32, 32], normalization: 'zscore-voi' }), { outlinePart: 2 })).toThrow(/outlinePart/);
});

test('detector outline: a click analysis\'s segment of a lesion, found from another component, wins over the outline of the component it turned down', async () => {
  const { source } = countedSource([160, 100, 120], [0.5, 0.4, 0.75]);
  // The map marks the lesion (A) and, apart from it, a small component (B) whose click analysis segments the lesion.
  const spheres = [{ c: [30, 15, 40] as Vec3, r: 8 }, { c: [30, 15, 58] as Vec3, r: 3 }];
  const params = { windowGrid: [16, 16, 16] as Vec3, strideMm: [16, 16, 16] as Vec3, cellMm: 2, taperMm: Infinity, threshold: 0.5, minMl: 0.01, secondLookScore: 0.75, outlineScore: 0.5, detectorOutline: true };
  const runner = sphereRunner(spheres, source);
  const analyze = runner.analyze.bind(runner);
  const toMm = (click: Vec3) => click.map((v, a) => source.origin[a] + v * source.spacing[a]);
  runner.analyze = async (src, click, options) => {
    const [x, y, z] = toMm(click);
    if (Math.hypot(x - 30, y - 15, z - 40) <= 8) return { ...(await analyze(src, click, options)), found: false, probability: null };
    const lesionCentre = source.origin.map((o, a) => Math.round((spheres[0].c[a] - o) / source.spacing[a])) as Vec3;
    return analyze(src, lesionCentre, options);
  };
  const result = await scanVolume(runner, source, { params });
  expect(result.candidates).toHaveLength(2);
  const proposed = result.candidates.filter((c) => c.found);
  expect(proposed).toHaveLength(1);
  const [b] = proposed;
  expect(b.coarse.massMl).toBeLessThan(result.candidates.find((c) => !c.found)!.coarse.massMl);
  expect([b.analysis.outline, b.analysis.probability]).toEqual([undefined, 0.5]);
  expect(toMm(b.box.min).every((v, a) => v <= spheres[0].c[a])).toBe(true);
});

test('detector outline: a part found first does not block the lesion\'s whole segment from another component, and is dropped as a second finding of it', async () => {
  const { source } = countedSource([160, 100, 120], [0.5, 0.4, 0.75]);
  // The map marks the lesion (A), where the click analysis segments a part, and a small component (B) apart from it whose click analysis segments the whole lesion.
  const spheres = [{ c: [30, 15, 40] as Vec3, r: 8 }, { c: [30, 15, 58] as Vec3, r: 3 }];
  const params = { windowGrid: [16, 16, 16] as Vec3, strideMm: [16, 16, 16] as Vec3, cellMm: 2, taperMm: Infinity, threshold: 0.5, minMl: 0.01, secondLookScore: 0.75, outlineScore: 0.5, outlinePart: 0.1, detectorOutline: true };
  const runner = sphereRunner(spheres, source);
  const analyze = runner.analyze.bind(runner);
  const toMm = (click: Vec3) => click.map((v, a) => source.origin[a] + v * source.spacing[a]);
  const lesionCentre = source.origin.map((o, a) => Math.round((spheres[0].c[a] - o) / source.spacing[a])) as Vec3;
  runner.analyze = async (src, click, options) => {
    const [x, y, z] = toMm(click);
    if (Math.hypot(x - spheres[0].c[0], y - spheres[0].c[1], z - spheres[0].c[2]) > spheres[0].r) return { ...(await analyze(src, lesionCentre, options)), size: { volumeMl: 2.1 } as AnalysisResult['size'] };
    const whole = await analyze(src, click, options);
    // 0.1 mL of the 2.1 mL lesion, in a 4-voxel box off its centre.
    const corner = whole.found ? whole.lesion.min : click;
    return { ...whole, size: { volumeMl: 0.1 } as AnalysisResult['size'], lesion: { ...whole.lesion, min: corner, max: corner.map((v) => v + 4) as Vec3 }, centerIndex: corner.map((v) => v + 2) as Vec3 };
  };
  const result = await scanVolume(runner, source, { params });
  expect(result.candidates).toHaveLength(1);
  const [b] = result.candidates;
  expect(b.found).toBe(true);
  expect(b.coarse.massMl).toBeLessThan(1);
  expect([b.analysis.outline, b.analysis.probability]).toEqual([undefined, 0.5]);
  expect(toMm(b.box.min).every((v, a) => v <= spheres[0].c[a])).toBe(true);
});

test('nothing marked: no candidates, no fine analysis', async () => {
  const { source } = countedSource([100, 60, 80], [0.5, 0.5, 0.5]);
  const runner = sphereRunner([], source);
  const result = await scanVolume(runner, source, { params: { windowGrid: [16, 16, 16], strideMm: [16, 16, 16] } });
  expect(result.candidates).toEqual([]);
  expect(runner.clicks).toEqual([]);
});

/** An untrained tiny network whose positive seg bias marks voxels, so the fine pass runs for real. */
function randomModel(): LoadedModel {
  const architecture = variantConfig('cmsvnetiter', { baseWidth: 4, encoderConvs: [1, 1, 1, 1, 1], decoderConvs: [1, 1, 1, 1], clsHidden: 8 });
  const raw = initWeights(architecture, 8);
  const weights = foldBatchNorm(architecture, raw);
  tf.dispose(Object.values(raw));
  weights['seg/bias'].dispose();
  weights['seg/bias'] = tf.tensor1d([3]);
  return { card: card({ grid: [32, 16, 32], voxelMm: 2, voiMm: [64, 32, 64], normalization: 'zscore-voi' }, { ...DEFAULT_SCAN, windowGrid: [32, 16, 32], strideMm: [32, 16, 32], maxCandidates: 2 }), weights };
}

describe('with a network', () => {
  let analyzer: Engine;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    analyzer = await load({ weights: randomModel(), backend: 'cpu', warmUp: false });
  });
  afterAll(() => analyzer.dispose());

  test('streams the volume in blocks, reports progress, leaks no tensors', async () => {
    const dims: Vec3 = [150, 100, 90];
    const { source, reads } = countedSource(dims, [0.8, 0.5, 1.4]);
    const before = tf.memory().numTensors;
    const progress: ScanProgress[] = [];
    const result = await analyzer.scan(source, { onProgress: (p) => progress.push(p) });
    expect(tf.memory().numTensors).toBe(before);
    // 120 x 50 x 126 mm, 64 x 32 x 64 mm windows: 3 x 3 x 3.
    expect(result.windows).toBe(27);
    const windows = progress.filter((p) => p.stage === 'window');
    expect(windows.map((p) => p.step)).toEqual(Array.from({ length: 27 }, (_, i) => i + 1));
    expect(windows.every((p) => p.of === 27)).toBe(true);
    // Windows first, then the candidates.
    expect(progress.slice(27).every((p) => p.stage === 'candidate')).toBe(true);
    expect(result.candidates.length).toBeGreaterThan(0);
    expect(result.candidates.length).toBeLessThanOrEqual(2);
    // Each window in slabs (32 grid planes along the sweep, SLAB_PLANES at a time), then each
    // candidate's click VOI (and one more per re-centring of a lesion it found) in slabs too,
    // those past the volume's edge not at all; no read above a 15th of the volume.
    const slabs = 27 * (32 / SLAB_PLANES);
    const analyses = progress.length - 27 + result.candidates.reduce((n, k) => n + k.analysis.analyses - 1, 0);
    expect(reads.length - slabs).toBeGreaterThanOrEqual(analyses);
    expect(reads.length - slabs).toBeLessThanOrEqual(analyses * (32 / SLAB_PLANES));
    const volume = dims[0] * dims[1] * dims[2];
    expect(Math.max(...reads)).toBeLessThan(volume / 15);
    const c = result.candidates[0];
    expect(c.rank).toBe(1);
    expect(c.score).toBeGreaterThanOrEqual(0);
    expect(c.score).toBeLessThanOrEqual(1);
    // The candidate is analysed as a click at its centre (then re-centred on its lesion).
    expect(c.analysis.clickIndex).toEqual(c.centerIndex);
    expect(result.params.windowGrid).toEqual([32, 16, 32]);
  });

  test('cancelling stops the scan between windows and leaks nothing', async () => {
    const { source, reads } = countedSource([150, 100, 90], [0.8, 0.5, 1.4]);
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    const run = analyzer.scan(source, { signal: controller.signal, onProgress: (p) => p.step === 3 && controller.abort() });
    await expect(run).rejects.toBeInstanceOf(AbortError);
    // Windows 1 and 2 in slabs, and the first slab of window 3 (the abort is seen after it).
    expect(reads.length).toBeLessThanOrEqual(2 * (32 / SLAB_PLANES) + 1);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('a 2-D image is refused', async () => {
    const { source } = countedSource([100, 100, 1], [0.5, 0.5, 0.5]);
    await expect(analyzer.scan(source)).rejects.toThrow(/2-D image/);
  });
});
