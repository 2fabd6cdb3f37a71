/** The re-centring loop, with a stand-in network that segments one fixed ball wherever the VOI is. */
import type { ModelCard } from '../engine/weights';
import { IDENTITY_DIRECTION, Vec3 } from '../volume';
import type { AnalysisResult } from './analyze';
import { FlipAxis, flipGrid, flipViews } from './flips';
import { analyzeAtLesion, CONVERGED_MM, distanceMm, lesionCentroid, lesionMoved, VoiRunner } from './lesion-centre';
import { arraySource, planFocus, snapToLattice, SourceMask, VoiPlan } from './voi';

const CARD = { input: { grid: [16, 16, 16], voxelMm: 1, voiMm: [16, 16, 16], normalization: 'zscore-voi' }, architecture: { iterations: 2 } } as unknown as ModelCard;
const SPACING: Vec3 = [0.5, 0.5, 1];
const BALL: Vec3 = [30.3, 20.6, 15.2];
const source = arraySource({ dims: [60, 40, 30], spacing: SPACING, origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data: new Uint8Array(60 * 40 * 30) });

/**
 * The ball (radius 4 mm) as the network would see it from a VOI: only the part inside the VOI's
 * block, and its far side cut by half the VOI focus's offset from it, as a real network's
 * segment shrinks off-centre; so the segment's centroid is pulled toward the click.
 */
function ballRunner(calls: { plan: VoiPlan; flips: FlipAxis[]; passes?: number; reusePlain?: boolean }[]): VoiRunner {
  return async (plan, _block, flips, _readMs, { look, reusePlain }) => {
    const call = { plan, flips, passes: 2, reusePlain };
    calls.push(call);
    const min = plan.blockMin;
    const max = plan.blockMax;
    const size = [0, 1, 2].map((a) => max[a] - min[a] + 1);
    const mask = new Uint8Array(size[0] * size[1] * size[2]);
    const toBall = BALL.map((v, a) => (v - planFocus(plan)[a]) * SPACING[a]);
    const offset = Math.hypot(...toBall);
    let n = 0;
    for (let k = 0, q = 0; k < size[2]; k++)
      for (let j = 0; j < size[1]; j++)
        for (let i = 0; i < size[0]; i++, q++) {
          const p = [min[0] + i, min[1] + j, min[2] + k];
          const d = p.map((v, a) => (v - BALL[a]) * SPACING[a]);
          const away = offset > 0 ? d.reduce((s, v, a) => s + (v * toBall[a]) / offset, 0) : 0;
          if (Math.hypot(...d) <= 4 && away <= 4 - offset / 2) {
            mask[q] = 1;
            n++;
          }
        }
    const lesion: SourceMask = { mask, min, max, voxelCount: n };
    // A look stops after the first pass when the ball's segment is centred on another lattice point.
    if (look && n > 0 && lesionMoved(CARD, source, plan, lesion)) call.passes = 1;
    return { found: n > 0, lesion, probability: 0.5, centerIndex: planFocus(plan), passes: call.passes, timingsMs: { total: 10 } } as unknown as AnalysisResult;
  };
}

test('flip views: none, one axis or both, never depth; a flip is its own inverse', () => {
  expect(flipViews([])).toEqual([[]]);
  expect(flipViews(['lateral', 'sweep'])).toEqual([[], ['lateral'], ['sweep'], ['lateral', 'sweep']]);
  expect(() => flipViews(['depth' as FlipAxis])).toThrow(/never depth/);
  const grid: Vec3 = [3, 2, 4];
  const data = Float32Array.from({ length: 24 }, (_, i) => i);
  const both = flipGrid(data, grid, ['lateral', 'sweep']);
  expect(both[0]).toBe(2 + 3 * 2 * 3); // x = 2, y = 0, z = 3
  expect(Array.from(flipGrid(both, grid, ['lateral', 'sweep']))).toEqual(Array.from(data));
});

test('the centroid of a mask is in source indices', () => {
  const mask: SourceMask = { mask: Uint8Array.from([1, 0, 0, 1]), min: [10, 20, 30], max: [11, 21, 30], voxelCount: 2 };
  expect(lesionCentroid(mask)).toEqual([10.5, 20.5, 30]);
});

test('clicks anywhere on the ball end on a VOI at its centre: the same final VOI, flips only there', async () => {
  const finals: Vec3[] = [];
  for (const click of [[30, 21, 15], [33, 21, 15], [28, 19, 16], [30, 23, 13]] as Vec3[]) {
    const calls: { plan: VoiPlan; flips: FlipAxis[]; passes?: number; reusePlain?: boolean }[] = [];
    const r = await analyzeAtLesion(CARD, source, click, { centerSpace: 'voxel', flips: ['lateral'] }, ballRunner(calls));
    expect(r.found).toBe(true);
    expect(r.clickIndex).toEqual(click);
    expect(r.analyses).toBe(calls.length);
    // The click's analysis stops after its first pass when the ball is centred elsewhere; then at most three analyses with all passes.
    expect(calls.slice(1).map((c) => c.passes)).toEqual(calls.slice(1).map(() => 2));
    expect(calls.length).toBeLessThanOrEqual(4);
    // Only the last analysis averages the flips.
    expect(calls.map((c) => c.flips.length)).toEqual([...calls.slice(1).map(() => 0), 1]);
    // It may take its unflipped view from the analysis before it when that ran on the same VOI (and only then).
    const [before, last] = calls.slice(-2);
    expect(last.reusePlain).toBe(before.passes === 2 && before.plan.center.join() === last.plan.center.join());
    expect(distanceMm(r.centerIndex, BALL, SPACING)).toBeLessThan(CONVERGED_MM);
    finals.push(r.centerIndex);
    expect(r.timingsMs.recentre).toBeGreaterThanOrEqual(0);
  }
  for (const f of finals) expect(distanceMm(f, finals[0], SPACING)).toBeLessThan(CONVERGED_MM);
});

test('without re-centring: one analysis at the click, with the flips there', async () => {
  const calls: { plan: VoiPlan; flips: FlipAxis[]; passes?: number }[] = [];
  const r = await analyzeAtLesion(CARD, source, [33, 21, 15], { centerSpace: 'voxel', recentre: false, flips: ['sweep'] }, ballRunner(calls));
  expect(calls.map((c) => c.flips)).toEqual([['sweep']]);
  expect(r.analyses).toBe(1);
  // The click's VOI centre is on the lattice of the network's voxels (snapToLattice), within half a network voxel of the click.
  expect(r.centerIndex).toEqual(snapToLattice([33, 21, 15], SPACING, CARD.input.voxelMm));
  expect(distanceMm(r.centerIndex, [33, 21, 15], SPACING)).toBeLessThanOrEqual((Math.sqrt(3) * CARD.input.voxelMm) / 2);
});

test('clicks a fraction of a voxel apart give the network the same VOI', async () => {
  const centres = [];
  for (const click of [[34, 22, 15], [34.3, 21.8, 15.2], [33.6, 22.4, 14.9]] as Vec3[]) {
    const calls: { plan: VoiPlan; flips: FlipAxis[]; passes?: number }[] = [];
    await analyzeAtLesion(CARD, source, click, { centerSpace: 'voxel', recentre: false }, ballRunner(calls));
    centres.push(calls[0].plan.center);
  }
  expect(centres[1]).toEqual(centres[0]);
  expect(centres[2]).toEqual(centres[0]);
});

test('no lesion at the click: the look goes on, and the full network at the click says so; nothing re-centred', async () => {
  const calls: { plan: VoiPlan; flips: FlipAxis[]; passes?: number }[] = [];
  const r = await analyzeAtLesion(CARD, source, [5, 5, 5], { centerSpace: 'voxel' }, ballRunner(calls));
  expect(r.found).toBe(false);
  expect(calls.map((c) => c.passes)).toEqual([2]);
});

test("a click on the ball's lattice point: one run, the look went on as the analysis", async () => {
  const calls: { plan: VoiPlan; flips: FlipAxis[]; passes?: number }[] = [];
  const centre = snapToLattice(BALL, SPACING, CARD.input.voxelMm);
  const r = await analyzeAtLesion(CARD, source, centre, { centerSpace: 'voxel' }, ballRunner(calls));
  expect(r.found).toBe(true);
  expect(calls.map((c) => c.passes)).toEqual([2]);
  expect(r.analyses).toBe(1);
});

test('a click off the ball: the look stops after one pass and the analysis runs at the ball', async () => {
  const calls: { plan: VoiPlan; flips: FlipAxis[]; passes?: number }[] = [];
  const r = await analyzeAtLesion(CARD, source, [33, 21, 15], { centerSpace: 'voxel' }, ballRunner(calls));
  expect(calls[0].passes).toBe(1);
  expect(calls[1].passes).toBe(2);
  expect(distanceMm(r.centerIndex, BALL, SPACING)).toBeLessThan(CONVERGED_MM);
});

test('inward, a click near a lateral face: the VOI moves inwards to stay inside the volume, and the answer is still about the click', async () => {
  const calls: { plan: VoiPlan; flips: FlipAxis[]; passes?: number }[] = [];
  const click: Vec3 = [2, 5, 15];
  const centred: typeof calls = [];
  await analyzeAtLesion(CARD, source, click, { centerSpace: 'voxel' }, ballRunner(centred));
  expect(centred[0].plan.center).toEqual(snapToLattice(click, SPACING, CARD.input.voxelMm));
  const r = await analyzeAtLesion(CARD, source, click, { centerSpace: 'voxel', inward: true }, ballRunner(calls));
  expect(r.found).toBe(false);
  const { plan } = calls[0];
  // 16 mm grid at 0.5 mm source voxels: the VOI's first grid voxel is at index >= 0, the click 6.5 mm off its centre.
  expect(plan.center[0] - (7.5 * CARD.input.voxelMm) / SPACING[0]).toBeGreaterThanOrEqual(0);
  expect(planFocus(plan)).toEqual(snapToLattice(click, SPACING, CARD.input.voxelMm));
  expect(r.centerIndex).toEqual(planFocus(plan));
  expect((plan.center[0] - planFocus(plan)[0]) * SPACING[0]).toBeGreaterThan(4);
});

/**
 * A mass the network's plain view misses when centred on it, though every view averaged there
 * finds it (as measured on a spiculated phantom cancer): looks from anywhere segment it about `at`.
 */
function missedAtCentreRunner(at: Vec3, calls: { plan: VoiPlan; flips: FlipAxis[]; passes?: number; reusePlain?: boolean }[]): VoiRunner {
  return async (plan, _block, flips, _readMs, { look, reusePlain }) => {
    const atCentre = distanceMm(planFocus(plan), at, SPACING) < CONVERGED_MM;
    const call = { plan, flips, passes: look && !atCentre ? 1 : 2, reusePlain };
    calls.push(call);
    const found = !atCentre || flips.length > 0;
    const min = plan.blockMin;
    const max = plan.blockMax;
    const size = [0, 1, 2].map((a) => max[a] - min[a] + 1);
    const mask = new Uint8Array(size[0] * size[1] * size[2]);
    let n = 0;
    for (let k = 0, q = 0; k < size[2]; k++)
      for (let j = 0; j < size[1]; j++)
        for (let i = 0; i < size[0]; i++, q++) {
          const d = [min[0] + i, min[1] + j, min[2] + k].map((v, a) => (v - at[a]) * SPACING[a]);
          if (found && Math.hypot(...d) <= 3) {
            mask[q] = 1;
            n++;
          }
        }
    const lesion: SourceMask = { mask, min, max, voxelCount: n };
    return { found: n > 0, lesion, probability: n > 0 ? 0.7 + 0.01 * flips.length : null, centerIndex: planFocus(plan), passes: call.passes, timingsMs: { total: 10 } } as unknown as AnalysisResult;
  };
}

test('a mass one view misses at its centre: the views averaged there answer, the same from every click whose look moved there', async () => {
  const at = snapToLattice([30, 20, 15], SPACING, CARD.input.voxelMm);
  const answers: { centre: Vec3; p: number | null }[] = [];
  for (const click of [[33, 21, 15], [27, 19, 16]] as Vec3[]) {
    const calls: { plan: VoiPlan; flips: FlipAxis[]; passes?: number; reusePlain?: boolean }[] = [];
    const r = await analyzeAtLesion(CARD, source, click, { centerSpace: 'voxel', flips: ['lateral'] }, missedAtCentreRunner(at, calls));
    expect(r.found).toBe(true);
    // The look, the plain view at the centre, then the flips there (its plain view taken from the run before); not the click again.
    expect(calls.map((c) => [c.passes, c.flips.length, Boolean(c.reusePlain)])).toEqual([[1, 0, false], [2, 0, false], [2, 1, true]]);
    expect(calls.slice(1).every((c) => distanceMm(planFocus(c.plan), at, SPACING) < CONVERGED_MM)).toBe(true);
    answers.push({ centre: r.centerIndex, p: r.probability });
  }
  expect(answers[1]).toEqual(answers[0]);
});

test('without flips, a mass missed at its centre: back to the click', async () => {
  const at = snapToLattice([30, 20, 15], SPACING, CARD.input.voxelMm);
  const click: Vec3 = [33, 21, 15];
  const calls: { plan: VoiPlan; flips: FlipAxis[]; passes?: number }[] = [];
  const r = await analyzeAtLesion(CARD, source, click, { centerSpace: 'voxel' }, missedAtCentreRunner(at, calls));
  // The look, the centre (nothing), the click's own VOI; a move to the centre from there finds nothing again and keeps the click's answer.
  expect(calls.every((c) => c.flips.length === 0)).toBe(true);
  expect(planFocus(calls[2].plan)).toEqual(planFocus(calls[0].plan));
  expect(r.found).toBe(true);
  expect(r.centerIndex).toEqual(planFocus(calls[0].plan));
});
