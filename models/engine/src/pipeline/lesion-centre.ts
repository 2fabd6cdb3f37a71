/**
 * The answer belongs to the lesion, not to the click. The network was trained on VOIs centred on
 * a lesion; a VOI centred on the click sees the lesion off-centre, and its P(malignant), verdict
 * and segment then change with where inside the mass the user clicked (measured: P ranges up to
 * 0.30 for one mass). So after the first analysis the VOI is planned again on the centroid of
 * the lesion's segment, and analysed again, until the centre moves less than CONVERGED_MM (at
 * most MAX_RECENTRINGS more analyses). Every click on one mass then ends on nearly the same VOI.
 * Both engines (in this thread, in a worker) and "Find lesions" (scan.ts) run this one loop.
 */
import type { ModelCard } from '../engine/weights';
import { Vec3, VolumeGeometry } from '../volume';
import type { AnalysisResult, AnalyzeOptions } from './result';
import type { FlipAxis } from './flips';
import { centerIndex, planAbout, planClick, planFocus, readWindow, snapToLattice, SourceMask, VoiPlan, VolumeSource, WindowGrid } from './voi';

/** A shift of the VOI's centre below this (mm) changes nothing worth another analysis. */
export const CONVERGED_MM = 1;
/** Analyses after the first, at most: each costs as much as the first. */
export const MAX_RECENTRINGS = 2;

/** Centroid of a lesion mask, continuous source index. Loops by row: it runs on the page's main thread, where a division per voxel cost 20 ms. */
export function lesionCentroid(lesion: SourceMask): Vec3 {
  const [sx, sy, sz] = [0, 1, 2].map((a) => lesion.max[a] - lesion.min[a] + 1);
  const sum = [0, 0, 0];
  let n = 0;
  for (let z = 0, q = 0; z < sz; z++)
    for (let y = 0; y < sy; y++)
      for (let x = 0; x < sx; x++, q++) {
        if (!lesion.mask[q]) continue;
        sum[0] += x;
        sum[1] += y;
        sum[2] += z;
        n++;
      }
  return [0, 1, 2].map((a) => lesion.min[a] + sum[a] / Math.max(n, 1)) as Vec3;
}

export function distanceMm(a: Vec3, b: Vec3, spacing: Vec3): number {
  return Math.hypot((a[0] - b[0]) * spacing[0], (a[1] - b[1]) * spacing[1], (a[2] - b[2]) * spacing[2]);
}

/**
 * How a VOI is run. look: the analysis stops after the network's first pass when the lesion that
 * pass segments is centred elsewhere (lesionMoved); its result then has `passes` 1. reusePlain:
 * this VOI was just analysed without flips, and that view may be taken from there (the runner
 * checks that the network's input is the same).
 */
export interface VoiRunMode {
  look?: boolean;
  reusePlain?: boolean;
}

/**
 * Analyses one planned VOI whose grid has been read slab by slab (readWindow, in readMs), with the
 * given flips averaged (none: one view). Slab by slab: a full-size volume's click VOI block is
 * about 19 M voxels, and one read of it was a long task on the page.
 */
export type VoiRunner = (plan: VoiPlan, grid: WindowGrid, flips: FlipAxis[], readMs: number, mode: VoiRunMode) => Promise<AnalysisResult>;

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** The centroid of a lesion, snapped to the lattice the click's VOI is on (see snapToLattice). */
export function latticeCentre(card: ModelCard, geometry: VolumeGeometry, lesion: SourceMask): Vec3 {
  return snapToLattice(lesionCentroid(lesion), geometry.spacing, card.input.voxelMm);
}

/** Whether a lesion's centre is on another lattice point than the VOI's: the VOI should move there. */
export function lesionMoved(card: ModelCard, geometry: VolumeGeometry, plan: VoiPlan, lesion: SourceMask): boolean {
  return distanceMm(latticeCentre(card, geometry, lesion), planFocus(plan), geometry.spacing) >= CONVERGED_MM;
}

/**
 * A click's analysis, re-centred on its lesion (options.recentre, default on). The analysis at the
 * click looks after the network's first pass: if the lesion that pass segments is centred on the
 * click's lattice point, it goes on as the analysis (one VOI, no cost); if not, it stops there
 * (half an analysis) and the analysis runs at that centre. Then again until the lesion's centre
 * stays on the same lattice point, at most MAX_RECENTRINGS more. A look that finds nothing goes
 * on at the click, so "no lesion" is always the full network's answer. The network views (flips)
 * are averaged only in the last analysis, at the lesion's own centre, and where one view at the
 * centre a look moved to finds nothing (before going back to the click). The result's timings are the
 * last analysis' stages, plus `recentre` (ms of everything before it) and `total`.
 */
export async function analyzeAtLesion(card: ModelCard, source: VolumeSource, click: Vec3, options: AnalyzeOptions, runVoi: VoiRunner): Promise<AnalysisResult> {
  const t0 = now();
  const flips = options.flips ?? card.analysis?.flips ?? [];
  const recentre = options.recentre ?? true;
  const inward = options.inward ?? false;
  let plan = planClick(card, source, click, options.centerSpace ?? 'patient', inward);
  const clickIndex = centerIndex(source, click, options.centerSpace ?? 'patient');
  let runs = 0;
  /** The VOI on a lesion's own centre. */
  const planOn = (lesion: SourceMask) => planAbout(card, source, lesionCentroid(lesion), inward);
  const analyse = async (p: VoiPlan, views: FlipAxis[], mode: VoiRunMode = {}) => {
    const t = now();
    options.onProgress?.({ stage: 'reading VOI' });
    const grid = await readWindow(source, p, options.signal);
    runs++;
    return runVoi(p, grid, views, now() - t, mode);
  };
  // Without re-centring, the flips (if any) are averaged at the click.
  const atClick = plan;
  let result = await analyse(plan, recentre ? [] : flips, { look: recentre && card.architecture.iterations > 1 });
  /** Whether `result` already averages the flips (then a converged loop has nothing left to run). */
  let averaged = !recentre;
  if (result.passes < card.architecture.iterations) {
    // The look moved: the analysis runs at the lesion's centre. One view finding nothing there is
    // not yet "no lesion": the views averaged there decide. Clicks on one mass whose looks meet on
    // that centre then go on from the same answer; going back to each click's own VOI gave one
    // mass P 0.79 from one start and 0.80 from another 2.5 mm away. Only then, the click.
    options.onProgress?.({ stage: 're-centring', step: 0, of: MAX_RECENTRINGS });
    result = await analyse((plan = planOn(result.lesion)), []);
    if (!result.found && flips.length) {
      result = await analyse(plan, flips, { reusePlain: true });
      averaged = result.found;
    }
    if (!result.found) result = await analyse((plan = atClick), []);
  }
  let analyses = 1;
  let converged = !recentre;
  while (!converged && result.found) {
    converged = !lesionMoved(card, source, plan, result.lesion);
    // The last allowed analysis, or one at a centre that no longer moves, averages the flips.
    const last = converged || analyses === MAX_RECENTRINGS;
    if (converged && (!flips.length || averaged)) break;
    options.onProgress?.({ stage: 're-centring', step: analyses, of: MAX_RECENTRINGS });
    // Converged: the same VOI again, with flips; its unflipped view is the analysis just run.
    const next = await analyse((plan = converged ? plan : planOn(result.lesion)), last ? flips : [], { reusePlain: converged });
    analyses++;
    // A lesion lost at its own centre (rare: a segment that only holds together off-centre) keeps the answer before.
    if (!next.found) break;
    result = next;
    averaged = last;
    if (last) break;
  }
  const total = Math.round((now() - t0) * 10) / 10;
  // Every run of the network counts, a look that stopped after one pass too.
  return { ...result, clickIndex, analyses: runs, timingsMs: { ...result.timingsMs, recentre: Math.round((total - result.timingsMs.total) * 10) / 10, total } };
}
