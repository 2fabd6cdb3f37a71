/** Click robustness on a hand-made case, with a stand-in engine whose answer depends on the click. */
import { Engine, IDENTITY_DIRECTION, Vec3 } from '@abus-tumor-ai/engine';
import { LoadedCase } from '../data/tdsc';
import { clickPoints, clickRobustnessText, evaluateClickRobustness, summarizeClickRobustness } from './robustness';

test('the 7 clicks: the centre, then 0.35 of the radius either way along each axis, in voxels', () => {
  const points = clickPoints([10, 20, 30], [4, 2, 10], [0.5, 0.2, 1]);
  expect(points).toHaveLength(7);
  expect(points[0]).toEqual([10, 20, 30]);
  expect(points[1][0]).toBeCloseTo(10 + (0.35 * 4) / 0.5, 12);
  expect(points[2][0]).toBeCloseTo(10 - (0.35 * 4) / 0.5, 12);
  expect(points[3][1]).toBeCloseTo(20 + (0.35 * 2) / 0.2, 12);
  expect(points[6]).toEqual([10, 20, 30 - 3.5]);
});

/** A 10^3 volume whose truth is the cube [2..7]^3 (6 voxels a side, radius 3 on every axis). */
function cubeCase(): LoadedCase {
  const dims: Vec3 = [10, 10, 10];
  const data = new Uint8Array(1000);
  for (let k = 2; k < 8; k++) for (let j = 2; j < 8; j++) for (let i = 2; i < 8; i++) data[i + 10 * (j + 10 * k)] = 1;
  const geometry = { dims, spacing: [1, 1, 1] as Vec3, origin: [0, 0, 0] as Vec3, direction: IDENTITY_DIRECTION };
  return { caseId: 'a', patientId: 'a', label: 'M', dataPath: '', maskPath: '', volume: { ...geometry, data: new Uint8Array(1000) }, mask: { ...geometry, data }, lesions: [{ center: [4.5, 4.5, 4.5], malignant: true, volumeMl: 0.216 }] };
}

/** Answers P = 0.5 + 0.1 x (click x - 4.5) and a segment of 8 voxels on the truth, 16 when clicked off-centre in z; finds nothing at -y. */
function clickDependentEngine(): Engine {
  return {
    analyze: async (_source: unknown, click: Vec3) => {
      const found = click[1] >= 4.5 - 1e-9;
      const min: Vec3 = [3, 3, 3];
      const max: Vec3 = [4, 4, click[2] === 4.5 ? 4 : 6];
      const n = (max[2] - min[2] + 1) * 4;
      const probability = 0.5 + 0.1 * (click[0] - 4.5);
      return { found, probability, verdict: probability > 0.55 ? 'Suspicious for malignancy' : 'Indeterminate', lesion: { mask: new Uint8Array(n).fill(1), min, max, voxelCount: n }, size: { volumeMl: n / 1000 } };
    },
  } as unknown as Engine;
}

test('per lesion: clicks that found it, P range, verdicts and volume ratio, measured from the answers', async () => {
  const lesions = await evaluateClickRobustness(clickDependentEngine(), [cubeCase()]);
  expect(lesions).toHaveLength(1);
  // Radius 3 voxels: +-1.05 voxels; the -y click finds nothing.
  expect(lesions[0].clicks.map((c) => c.found)).toEqual([true, true, true, true, false, true, true]);
  let s = summarizeClickRobustness(lesions);
  expect(s.clicksFound).toBeCloseTo(6 / 7, 12);
  expect(s.foundAtAll).toBe(0);
  expect(Number.isNaN(s.probabilityRange.median)).toBe(true);

  // Without the miss: P spans 0.5 +- 0.105, two verdicts, volume 8 vs 16 voxels.
  lesions[0].clicks[4] = { ...lesions[0].clicks[3] };
  s = summarizeClickRobustness(lesions);
  expect(s.foundAtAll).toBe(1);
  expect(s.probabilityRange.median).toBeCloseTo(0.21, 9);
  expect(s.oneVerdict).toBe(0);
  expect(s.volumeRatio.median).toBeCloseTo(0.5, 12);
  expect(s.volumeRatio.atLeast08).toBe(0);
  expect(clickRobustnessText(s)).toMatch(/median 0\.210/);
});

test('a lesion answered in an earlier sitting (--resume) is taken as it was, without a click', async () => {
  const [first] = await evaluateClickRobustness(clickDependentEngine(), [cubeCase()]);
  let clicks = 0;
  const counting = { analyze: async () => (clicks++, Promise.reject(new Error('clicked'))) } as unknown as Engine;
  const seen: boolean[] = [];
  const lesions = await evaluateClickRobustness(counting, [cubeCase()], (_done, _total, _lesion, resumed) => seen.push(resumed), {}, [first]);
  expect(clicks).toBe(0);
  expect(seen).toEqual([true]);
  expect(lesions).toEqual([first]);
});
