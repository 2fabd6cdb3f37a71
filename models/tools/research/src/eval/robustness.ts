/**
 * Click robustness: does the answer belong to the lesion or to the click? Each lesion is clicked
 * at its centre and at 6 points a fraction of its radius away along the voxel axes (+-lateral,
 * +-depth, +-sweep; the radius along an axis is half the truth component's extent on it), and
 * the 7 answers are compared: found or not, P(malignant), verdict, segmented volume.
 */
import { AnalyzeOptions, arraySource, Engine, SourceMask, Vec3 } from '@abus-tumor-ai/engine';
import { LoadedCase } from '../data/tdsc';
import { percentile } from '../metrics';
import { truthComponent } from './evaluate';

/** How far the off-centre clicks are from the centre, as a fraction of the lesion's radius on that axis. */
export const CLICK_OFFSET = 0.35;

export interface ClickAnswer {
  click: Vec3;
  /** The click found a lesion and its segment overlaps this lesion's truth. */
  found: boolean;
  probability: number | null;
  verdict: string | null;
  volumeMl: number;
}

export interface LesionClicks {
  caseId: string;
  lesion: number;
  clicks: ClickAnswer[];
  /** In a --records file: the flips that answered (older files lack it). */
  flips?: string[];
}

export interface ClickRobustness {
  lesions: number;
  clicksPerLesion: number;
  offsetFraction: number;
  /** Share of all clicks that found their lesion. */
  clicksFound: number;
  /** Lesions found at every click: the rest of the figures are over these. */
  foundAtAll: number;
  /** max - min of P(malignant) over a lesion's clicks. */
  probabilityRange: { median: number; p95: number; max: number };
  /** Share of lesions with the same verdict at every click. */
  oneVerdict: number;
  /** min / max of the segmented volume over a lesion's clicks. */
  volumeRatio: { median: number; min: number; atLeast08: number };
}

/** The centre, then +x, -x, +y, -y, +z, -z at `fraction` of the half extent (mm) on each axis; continuous voxel indices. */
export function clickPoints(center: Vec3, halfExtentMm: Vec3, spacing: Vec3, fraction = CLICK_OFFSET): Vec3[] {
  const points: Vec3[] = [center];
  for (let a = 0; a < 3; a++)
    for (const sign of [1, -1]) {
      const p: Vec3 = [center[0], center[1], center[2]];
      p[a] += (sign * fraction * halfExtentMm[a]) / spacing[a];
      points.push(p);
    }
  return points;
}

/** Voxels of `pred` (a box) that are set in `truth` (a whole-volume mask). */
function overlap(pred: SourceMask, truth: SourceMask, dims: Vec3): number {
  const size = [pred.max[0] - pred.min[0] + 1, pred.max[1] - pred.min[1] + 1, pred.max[2] - pred.min[2] + 1];
  let n = 0;
  for (let k = 0, q = 0; k < size[2]; k++)
    for (let j = 0; j < size[1]; j++)
      for (let i = 0; i < size[0]; i++, q++) {
        if (pred.mask[q] && truth.mask[pred.min[0] + i + dims[0] * (pred.min[1] + j + dims[1] * (pred.min[2] + k))]) n++;
      }
  return n;
}

/** Half the extent (mm) of a whole-volume mask along each axis. */
function halfExtent(truth: SourceMask, dims: Vec3, spacing: Vec3): Vec3 {
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  for (let n = 0; n < truth.mask.length; n++) {
    if (!truth.mask[n]) continue;
    const p = [n % dims[0], Math.floor(n / dims[0]) % dims[1], Math.floor(n / (dims[0] * dims[1]))];
    for (let a = 0; a < 3; a++) {
      lo[a] = Math.min(lo[a], p[a]);
      hi[a] = Math.max(hi[a], p[a]);
    }
  }
  return [0, 1, 2].map((a) => (hi[a] >= lo[a] ? ((hi[a] - lo[a] + 1) * spacing[a]) / 2 : 0)) as Vec3;
}

/** `options`: the engine's analysis options for every click (e.g. flips), besides the voxel centre. */
export async function evaluateClickRobustness(engine: Engine, cases: LoadedCase[], onLesion?: (done: number, total: number, lesion: LesionClicks, resumed: boolean) => void, options: Omit<AnalyzeOptions, 'centerSpace'> = {}, answered: LesionClicks[] = []): Promise<LesionClicks[]> {
  const total = cases.reduce((n, c) => n + c.lesions.length, 0);
  const out: LesionClicks[] = [];
  for (const c of cases) {
    const source = arraySource(c.volume);
    for (const [n, lesion] of c.lesions.entries()) {
      // A lesion answered in an earlier sitting (eval --resume) is taken as it was.
      const before = answered.find((a) => a.caseId === c.caseId && a.lesion === n);
      if (before) {
        out.push(before);
        onLesion?.(out.length, total, before, true);
        continue;
      }
      const truth = truthComponent(c.mask, lesion.center);
      const clicks: ClickAnswer[] = [];
      for (const click of clickPoints(lesion.center, halfExtent(truth, c.mask.dims, c.volume.spacing), c.volume.spacing)) {
        const r = await engine.analyze(source, click, { ...options, centerSpace: 'voxel' });
        const found = r.found && overlap(r.lesion, truth, c.mask.dims) > 0;
        clicks.push({ click, found, probability: found ? r.probability : null, verdict: found ? r.verdict : null, volumeMl: found ? r.size.volumeMl : 0 });
      }
      out.push({ caseId: c.caseId, lesion: n, clicks });
      onLesion?.(out.length, total, out[out.length - 1], false);
    }
  }
  return out;
}

export function summarizeClickRobustness(lesions: LesionClicks[]): ClickRobustness {
  const clicks = lesions.flatMap((l) => l.clicks);
  const all = lesions.filter((l) => l.clicks.every((c) => c.found));
  const spread = (values: number[]) => Math.max(...values) - Math.min(...values);
  const ranges = all.filter((l) => l.clicks[0].probability !== null).map((l) => spread(l.clicks.map((c) => c.probability as number)));
  const ratios = all.map((l) => {
    const v = l.clicks.map((c) => c.volumeMl);
    return Math.min(...v) / Math.max(...v);
  });
  const stat = (values: number[], p: number) => (values.length ? percentile(values, p) : NaN);
  const share = (n: number, of: number) => (of ? n / of : NaN);
  return {
    lesions: lesions.length,
    clicksPerLesion: lesions[0]?.clicks.length ?? 0,
    offsetFraction: CLICK_OFFSET,
    clicksFound: share(clicks.filter((c) => c.found).length, clicks.length),
    foundAtAll: all.length,
    probabilityRange: { median: stat(ranges, 50), p95: stat(ranges, 95), max: stat(ranges, 100) },
    oneVerdict: share(all.filter((l) => new Set(l.clicks.map((c) => c.verdict)).size === 1).length, all.length),
    volumeRatio: { median: stat(ratios, 50), min: stat(ratios, 0), atLeast08: share(ratios.filter((r) => r >= 0.8).length, ratios.length) },
  };
}

/** The summary in a few lines, for the terminal and docs. */
export function clickRobustnessText(s: ClickRobustness): string {
  const pct = (v: number) => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : 'n/a');
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');
  return [
    `click robustness: ${s.lesions} lesions, ${s.clicksPerLesion} clicks each (centre and +-${s.offsetFraction} of the radius on each axis)`,
    `  clicks that found their lesion: ${pct(s.clicksFound)}; lesions found at every click: ${s.foundAtAll}`,
    `  P(malignant) range over a lesion's clicks: median ${f(s.probabilityRange.median)}, 95th percentile ${f(s.probabilityRange.p95)}, largest ${f(s.probabilityRange.max)}`,
    `  one verdict at every click: ${pct(s.oneVerdict)} of lesions`,
    `  segmented volume min/max: median ${f(s.volumeRatio.median)}, lowest ${f(s.volumeRatio.min)}; >= 0.8 for ${pct(s.volumeRatio.atLeast08)} of lesions`,
  ].join('\n');
}
