import { dice } from '@abus-tumor-ai/research';
import { IDENTITY_DIRECTION, indexToPatient, Mat3, Vec3, Volume } from '../volume';
import { componentAtCenter, measureLesion } from './postprocess';
import type { ModelCard } from '../engine/weights';
import { arraySource, blockSize, centerIndex, focusOnGrid, gridMaskToSource, normalizeVoi, planAbout, planVoi, resampleToGrid, snapToLattice } from './voi';

/** Rotation by `deg` about the patient z axis, then a swap making k point along -y: non-trivial. */
function rotated(deg: number): Mat3 {
  const c = Math.cos((deg * Math.PI) / 180);
  const s = Math.sin((deg * Math.PI) / 180);
  // columns: i -> (c, s, 0), j -> (0, 0, 1), k -> (s, -c, 0)
  return [c, 0, s, s, 0, -c, 0, 1, 0];
}

function sphereVolume(dims: Vec3, spacing: Vec3, direction: Mat3, centerMm: Vec3, radiusMm: number): Volume {
  const origin: Vec3 = [-40, 12, 7];
  const data = new Uint8Array(dims[0] * dims[1] * dims[2]);
  const geometry = { dims, spacing, origin, direction };
  let n = 0;
  for (let k = 0; k < dims[2]; k++)
    for (let j = 0; j < dims[1]; j++)
      for (let i = 0; i < dims[0]; i++, n++) {
        const p = indexToPatient(geometry, [i, j, k]);
        const r = Math.hypot(p[0] - centerMm[0], p[1] - centerMm[1], p[2] - centerMm[2]);
        data[n] = r <= radiusMm ? 200 : 20;
      }
  return { ...geometry, data };
}

describe('VOI geometry', () => {
  const dims: Vec3 = [90, 140, 40];
  const spacing: Vec3 = [0.4, 0.15, 0.9];
  const direction = rotated(30);

  test('a sphere at known patient coordinates is found at the right voxels after crop, resample and back-resample', async () => {
    const base = { dims, spacing, origin: [-40, 12, 7] as Vec3, direction };
    const sphereCenter = indexToPatient(base, [20.3, 77.6, 19.2]);
    const radius = 5;
    const volume = sphereVolume(dims, spacing, direction, sphereCenter, radius);
    let reads = 0;
    const source = arraySource(volume);
    const counting = { ...source, readBlock: (a: Vec3, b: Vec3) => (reads++, source.readBlock(a, b)) };

    // The click is off-centre on the lesion, in patient millimetres.
    const click: Vec3 = [sphereCenter[0] + 1.2, sphereCenter[1] - 0.8, sphereCenter[2] + 0.5];
    const index = centerIndex(volume, click, 'patient');
    const plan = planVoi(volume, index, [48, 32, 48], 0.5);
    const block = await counting.readBlock(plan.blockMin, plan.blockMax);
    const { values, inside } = resampleToGrid(plan, volume, block);
    const gridProb = values.map((v) => (v - 20) / 180);
    const gridMask = componentAtCenter(gridProb, plan.grid, [23.5, 15.5, 23.5]);
    const lesion = gridMaskToSource(plan, volume, gridMask);

    // The analytic sphere, voxel by voxel, over the same box.
    const size = blockSize(lesion.min, lesion.max);
    const truth = new Uint8Array(lesion.mask.length);
    let n = 0;
    for (let k = 0; k < size[2]; k++)
      for (let j = 0; j < size[1]; j++)
        for (let i = 0; i < size[0]; i++, n++) {
          const p = indexToPatient(volume, [lesion.min[0] + i, lesion.min[1] + j, lesion.min[2] + k]);
          truth[n] = Math.hypot(p[0] - sphereCenter[0], p[1] - sphereCenter[1], p[2] - sphereCenter[2]) <= radius ? 1 : 0;
        }
    let truthTotal = 0;
    for (const v of volume.data) if (v === 200) truthTotal++;
    expect(truth.reduce((a, b) => a + b, 0)).toBe(truthTotal); // the box holds the whole sphere
    expect(dice(lesion.mask, truth)).toBeGreaterThan(0.95);
    expect(reads).toBe(1);
    // Only the VOI block (24 x 16 x 24 mm) was read, not the volume.
    const blockVoxels = block.length;
    expect(blockVoxels).toBeLessThan(0.6 * volume.data.length);
    expect(inside.some((v) => v === 0)).toBe(true); // the VOI runs past the volume's edge here

    const measured = measureLesion(lesion, spacing);
    const sphereMl = ((4 / 3) * Math.PI * radius ** 3) / 1000;
    expect(Math.abs(measured.volumeMl - sphereMl) / sphereMl).toBeLessThan(0.1);
    expect(measured.longestMm).toBeGreaterThan(2 * radius - 1.5);
    expect(measured.longestMm).toBeLessThan(2 * radius + 0.5);
  });

  test('a click outside the volume is refused with a clear message', () => {
    const geometry = { dims, spacing, origin: [0, 0, 0] as Vec3, direction };
    expect(() => centerIndex(geometry, [-10, 0, 0], 'voxel')).toThrow(/outside the volume/);
    expect(() => centerIndex(geometry, indexToPatient(geometry, [45, 70, 60]), 'patient')).toThrow(/outside the volume: voxel \(45\.0, 70\.0, 60\.0\)/);
  });

  test('normalisation is a z-score inside the volume and 0 outside', () => {
    const values = Float32Array.from([1, 2, 3, 100]);
    const out = normalizeVoi(values, Uint8Array.from([1, 1, 1, 0]));
    expect(out[3]).toBe(0);
    expect(out[1]).toBeCloseTo(0, 6);
    expect(out[2]).toBeCloseTo(1 / Math.sqrt(2 / 3), 5);
  });

  test('the component containing the click is kept, not a larger one elsewhere', () => {
    const dimsG: Vec3 = [10, 4, 4];
    const prob = new Float32Array(160);
    prob[0] = prob[1] = prob[2] = prob[3] = 0.9; // big blob far away
    const near = 7 + 10 * (2 + 4 * 2);
    prob[near] = 0.8;
    const mask = componentAtCenter(prob, dimsG, [7, 2, 2]);
    expect(mask[near]).toBe(1);
    expect(mask[0]).toBe(0);
    expect(componentAtCenter(new Float32Array(160), dimsG, [1, 1, 1]).every((v) => v === 0)).toBe(true);
  });

  test('a VOI about a point near a lateral or sweep face moves inwards on the lattice, to stay inside a volume long enough; never in depth', () => {
    const card = { input: { grid: [64, 32, 64], voxelMm: 1 } } as unknown as ModelCard;
    const geometry = { dims: [300, 200, 150] as Vec3, spacing: [0.4, 0.2, 0.5] as Vec3, origin: [0, 0, 0] as Vec3, direction: IDENTITY_DIRECTION };
    const extentMm = (plan: { blockMin: Vec3; blockMax: Vec3 }, a: number) => (plan.blockMax[a] - plan.blockMin[a]) * geometry.spacing[a];
    const middle = planAbout(card, geometry, [150.3, 100, 75.2], true);
    expect(middle.center).toEqual(middle.focus);
    expect(middle.focus).toEqual(snapToLattice([150.3, 100, 75.2], geometry.spacing, 1));
    // Without `inward` (a click's default) it stays centred on the point.
    expect(planAbout(card, geometry, [10.2, 3, 140.4]).center).toEqual(snapToLattice([10.2, 3, 140.4], geometry.spacing, 1));
    const near = planAbout(card, geometry, [10.2, 3, 140.4], true);
    expect(near.focus).toEqual(snapToLattice([10.2, 3, 140.4], geometry.spacing, 1));
    // Lateral: the 63 mm grid span fits 119.6 mm; sweep: 74.5 mm. Whole 1 mm steps inwards, and no further than needed.
    const halfIndex = [31.5 / 0.4, 0, 31.5 / 0.5];
    for (const a of [0, 2]) {
      expect(near.center[a] - halfIndex[a]).toBeGreaterThanOrEqual(0);
      expect(near.center[a] + halfIndex[a]).toBeLessThanOrEqual(geometry.dims[a] - 1);
      expect(Math.abs(near.center[a] - near.focus![a]) * geometry.spacing[a]).toBeGreaterThan(5);
      const steps = ((near.center[a] - near.focus![a]) * geometry.spacing[a]) / card.input.voxelMm;
      expect(Math.abs(steps - Math.round(steps))).toBeLessThan(1e-6);
      expect(extentMm(near, a)).toBeGreaterThan(62);
    }
    expect(near.center[0] - halfIndex[0]).toBeLessThan(1 / 0.4);
    expect(geometry.dims[2] - 1 - (near.center[2] + halfIndex[2])).toBeLessThan(1 / 0.5);
    expect(near.center[1]).toBe(near.focus![1]);
    // The focus on the grid is where the point is: the analysis takes the lesion there.
    const g = focusOnGrid(near, geometry.spacing);
    expect(g[1]).toBeCloseTo(15.5, 6);
    expect(g[0]).toBeCloseTo(31.5 - (near.center[0] - near.focus![0]) * 0.4, 6);
    // Too short along an axis to hold the VOI: centred there, as before.
    const short = planAbout(card, { ...geometry, dims: [100, 200, 150] }, [10, 100, 75], true);
    expect(short.center[0]).toBe(short.focus![0]);
  });
});
