/** The detection scores as TDSC-ABUS 2023 defines them, on hand-made cases with known answers. */
import { IDENTITY_DIRECTION, Vec3, Volume } from '@abus-tumor-ai/engine';
import { boxIoUMm, BoxMm, DetectCaseResult, fitScoreCalibration, froc, frocInterval, frocSvg, indexBoxMm, KEY_FP, sensitivityBySize, summarizeDetection, truthLesions, unionDice } from './detect';
import { calibratedScore } from '@abus-tumor-ai/engine/lab';

const box = (lo: Vec3, hi: Vec3): BoxMm => ({ lo, hi });
const FAR = box([50, 50, 50], [60, 60, 60]);
const T = box([0, 0, 0], [10, 10, 10]);

test('box IoU in mm, and index boxes span whole voxels', () => {
  expect(boxIoUMm(T, T)).toBe(1);
  expect(boxIoUMm(T, box([5, 0, 0], [15, 10, 10]))).toBeCloseTo(500 / 1500, 12);
  expect(boxIoUMm(T, FAR)).toBe(0);
  expect(indexBoxMm({ min: [0, 2, 4], max: [9, 2, 5] }, [1, 0.5, 2])).toEqual({ lo: [-0.5, 0.75, 7], hi: [9.5, 1.25, 11] });
});

test('FROC: sensitivity at each false-positive rate, interpolated, lesion-free volumes counting', () => {
  // One lesion, found at score 0.7; false positives at 0.6 (same volume) and 0.8 (a lesion-free one).
  const f = froc([
    { truths: [T], predictions: [{ score: 0.7, box: T }, { score: 0.6, box: FAR }] },
    { truths: [], predictions: [{ score: 0.8, box: FAR }] },
  ]);
  // Above 0.8 nothing; at 0.8 one FP in 2 volumes and no hit; at 0.7 the hit; at 0.6 one FP per volume.
  expect(f.keyRecall).toEqual([0, 0, 1, 1, 1, 1, 1]);
  expect(f.mean).toBeCloseTo(5 / 7, 12);
  expect(f.lesions).toBe(1);
  expect(f.volumes).toBe(2);
  expect(KEY_FP).toEqual([0.125, 0.25, 0.5, 1, 2, 4, 8]);
});

test('FROC: a second hit on one lesion is neither a hit nor a false positive; IoU 0.3 is not a hit', () => {
  const nearMiss = box([0, 0, 0], [10, 10, 3]); // IoU 0.3 exactly
  expect(boxIoUMm(T, nearMiss)).toBeCloseTo(0.3, 12);
  const f = froc([{ truths: [T, FAR], predictions: [{ score: 0.9, box: T }, { score: 0.8, box: T }, { score: 0.7, box: box([50, 50, 50], [60, 60, 53]) }] }]);
  expect(f.curve.every((p) => p.fp <= 1)).toBe(true);
  expect(f.curve.find((p) => p.threshold === 0.5)).toEqual({ threshold: 0.5, fp: 1, recall: 0.5 });
  expect(f.maxRecall).toBe(0.5);
});

function maskOf(dims: Vec3, on: (i: number, j: number, k: number) => boolean): Volume {
  const data = new Uint8Array(dims[0] * dims[1] * dims[2]);
  for (let k = 0; k < dims[2]; k++) for (let j = 0; j < dims[1]; j++) for (let i = 0; i < dims[0]; i++) data[i + dims[0] * (j + dims[1] * k)] = on(i, j, k) ? 1 : 0;
  return { dims, spacing: [1, 1, 1], origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data };
}

test('truth lesions: components with their boxes; with centres only the components there', () => {
  const mask = maskOf([30, 20, 20], (i, j, k) => (i >= 2 && i <= 6 && j >= 3 && j <= 5 && k >= 4 && k <= 9) || (i >= 20 && i <= 25 && j === 10 && k === 10) || (i === 15 && j === 15 && k === 15));
  const all = truthLesions(mask);
  expect(all.map((l) => [l.min, l.max, l.voxels])).toEqual([
    [[2, 3, 4], [6, 5, 9], 90],
    [[20, 10, 10], [25, 10, 10], 6],
    [[15, 15, 15], [15, 15, 15], 1],
  ]);
  expect(truthLesions(mask, [[4, 4, 6], [22, 10, 10]]).map((l) => l.voxels)).toEqual([90, 6]);
});

test('Dice of the union of segments; 1 when both are empty, 0 when only one is', () => {
  const mask = maskOf([10, 10, 10], (i, j, k) => i < 4 && j < 4 && k < 4); // 64 voxels
  const seg = (min: Vec3, max: Vec3) => {
    const n = (max[0] - min[0] + 1) * (max[1] - min[1] + 1) * (max[2] - min[2] + 1);
    return { min, max, mask: new Uint8Array(n).fill(1), voxelCount: n };
  };
  expect(unionDice(mask, [seg([0, 0, 0], [3, 3, 3])], 64)).toBe(1);
  // Two overlapping halves make the whole lesion: the union counts each voxel once.
  expect(unionDice(mask, [seg([0, 0, 0], [2, 3, 3]), seg([1, 0, 0], [3, 3, 3])], 64)).toBe(1);
  // Plus a false 8-voxel segment elsewhere: 2 * 64 / (72 + 64).
  expect(unionDice(mask, [seg([0, 0, 0], [3, 3, 3]), seg([7, 7, 7], [8, 8, 8])], 64)).toBeCloseTo(128 / 136, 12);
  expect(unionDice(maskOf([10, 10, 10], () => false), [], 0)).toBe(1);
  expect(unionDice(mask, [], 64)).toBe(0);
});

test('the FROC plot marks the seven rates and names the score', () => {
  const f = froc([{ truths: [T], predictions: [{ score: 0.9, box: T }] }]);
  const svg = frocSvg(f);
  expect(svg.match(/<circle /g)).toHaveLength(7);
  expect(svg).toMatch(/FROC 1\.000 \(1 volumes, 1 lesions\)/);
  expect(svg).toMatch(/research use/);
});

test('FROC by lesion size: only that size counts as a hit, every candidate off a lesion as a false positive', () => {
  const SMALL = box([20, 20, 20], [24, 24, 24]);
  const volumes = [
    { truths: [T, SMALL], predictions: [{ score: 0.9, box: T }, { score: 0.8, box: FAR }, { score: 0.75, box: box([70, 70, 70], [80, 80, 80]) }, { score: 0.7, box: SMALL }] },
    { truths: [], predictions: [{ score: 0.95, box: FAR }] },
  ];
  const bySize = sensitivityBySize(volumes, [[1.0, 0.06], []]);
  expect(bySize.map((b) => b.label)).toEqual(['< 0.5 mL', '0.5-2 mL', '> 2 mL']);
  expect(bySize.map((b) => b.lesions)).toEqual([1, 1, 0]);
  // At 1 FP per volume (2 false positives in 2 volumes: thresholds down to 0.8) the large lesion is
  // hit; the small one only at 0.7, after a third false positive (1.5 per volume).
  expect(bySize[0].sensitivityAt1Fp).toBe(0);
  expect(bySize[1].sensitivityAt1Fp).toBe(1);
});

test('the FROC interval is a seeded bootstrap over volumes: it holds the score, and one kind of volume gives no spread', () => {
  const hit = { truths: [T], predictions: [{ score: 0.9, box: T }] };
  const miss = { truths: [T], predictions: [{ score: 0.9, box: FAR }] };
  const mixed = [hit, miss, hit, hit, miss, hit, miss, hit];
  const [lo, hi] = frocInterval(mixed);
  const score = froc(mixed).mean;
  expect(lo).toBeLessThan(score);
  expect(hi).toBeGreaterThan(score);
  expect(frocInterval(mixed)).toEqual([lo, hi]);
  expect(frocInterval([hit, hit, hit])).toEqual([1, 1]);
});

test('the FROC plot has the TDSC-ABUS 2023 best as a reference line', () => {
  expect(frocSvg(froc([{ truths: [T], predictions: [{ score: 0.9, box: T }] }]))).toMatch(/TDSC-ABUS 2023 best FROC 0\.847/);
});

test('the score calibration: the share of lesions never falls as the score rises, and reads back by interpolation', () => {
  // Scores 0.1-0.9; lesions at 0.3 (an outlier below a miss at 0.4), 0.7, 0.8 and 0.9.
  const points = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9].map((raw) => ({ raw, lesion: [0.3, 0.7, 0.8, 0.9].includes(raw) }));
  const c = fitScoreCalibration(points);
  // 0.1-0.2 pool to 0; 0.3-0.6 to 1/4 (the lesion at 0.3 with the three misses above it); 0.7-0.9 to 1.
  expect(c.share).toEqual([0, 0.25, 1]);
  expect(c.raw.map((x) => Math.round(x * 1000) / 1000)).toEqual([0.15, 0.45, 0.8]);
  expect(c.share.every((y, i) => i === 0 || y > c.share[i - 1])).toBe(true);
  expect(c.raw.every((x, i) => i === 0 || x > c.raw[i - 1])).toBe(true);
  expect(c.share[0]).toBe(0);
  expect(c.share[c.share.length - 1]).toBe(1);
  expect(calibratedScore(c, 0.05)).toBe(0);
  expect(calibratedScore(c, 0.95)).toBe(1);
  expect(calibratedScore(c, 0.45)).toBeCloseTo(0.25, 9);
  expect(calibratedScore(c, 0.3)).toBeCloseTo(0.125, 9);
  expect(calibratedScore(undefined, 0.45)).toBe(0.45);
});

test('the summary\'s FROC counts the proposals only, what the viewer lists; every candidate analysed is the detector\'s FROC', () => {
  // One lesion per volume; the detector's candidate is on it in both, but the click analysis found it in the first only.
  const result = (found: boolean) => ({
    caseId: 'c', lesions: 1, truths: [T], truthMl: [1], dice: found ? 1 : 0, windows: 1, ms: { windows: 0, candidates: 0, total: 0 },
    candidates: [{ score: 0.9, shown: 0.9, found, analysisFound: found, probability: null, box: T, hit: 0, iou: 1, from: 'map', peak: 1, massMl: 1, darkness: 0, volumeMl: 1, outline: undefined }],
  }) as DetectCaseResult;
  const summary = summarizeDetection([result(true), result(false)]);
  expect(summary.froc.mean).toBeCloseTo(0.5, 9);
  expect(summary.recallAt1Fp).toBeCloseTo(0.5, 9);
  expect(summary.candidatesFroc.mean).toBeCloseTo(1, 9);
  expect(summary.accepted.recall).toBeCloseTo(0.5, 9);
});
