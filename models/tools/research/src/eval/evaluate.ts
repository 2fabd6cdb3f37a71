/**
 * Evaluation as in the paper: per tumour, a VOI at the tumour centre through the full inference
 * pipeline (the same code the viewer runs), segmentation scored on the source voxel grid against
 * that tumour's own connected component of the truth mask, and classification on P(malignant).
 */
import { LoadedCase } from '../data/tdsc';
import { auc, classificationMetrics, dice, hausdorff95, jaccard, meanStd, rocCurve, RocPoint } from '../metrics';
import { arraySource, Engine, SourceMask, Vec3, Volume } from '@abus-tumor-ai/engine';
import { blockSize, componentAtCenter } from '@abus-tumor-ai/engine/lab';
import { generatePhantom, normalTissueSites } from '../phantom/generate';
import { expectedCalibrationError } from './calibrate';

export interface LesionResult {
  caseId: string;
  lesion: number;
  malignant: boolean;
  truthMl: number;
  /** The click on the lesion found it (a segment reached the click, at least the card's minimum size). */
  found: boolean;
  probability: number | null;
  /** The network's own P(malignant), before the card's classifier. */
  networkProbability: number | null;
  dsc: number | null;
  jaccard: number | null;
  hd95: number | null;
  ms: number;
}

export interface Summary {
  n: number;
  /** Share of lesions whose click found them. */
  lesionsFound: number;
  segmentation?: Record<'all' | 'small' | 'large', { n: number; dsc: [number, number]; jaccard: [number, number]; hd95: [number, number] }>;
  classification?: { auc: number; networkAuc: number | null; accuracy: number; recall: number; precision: number; falsePositiveRate: number; f1: number; threshold: number; roc: RocPoint[]; ece: number; n: number };
  msPerLesion: number;
}

/** Small tumours as the paper groups them: <= 1 cm^3. */
export const SMALL_ML = 1;

/** The truth component containing (or nearest) the centre, as a SourceMask over the whole volume. */
export function truthComponent(mask: Volume, center: Vec3): SourceMask {
  const comp = componentAtCenter(mask.data, mask.dims, center, 0.5);
  let count = 0;
  for (const v of comp) count += v;
  return { mask: comp, min: [0, 0, 0], max: [mask.dims[0] - 1, mask.dims[1] - 1, mask.dims[2] - 1], voxelCount: count };
}

/** Both masks over the union of their boxes, for the overlap and distance metrics. */
function onUnionBox(pred: SourceMask, truth: SourceMask, dims: Vec3): { a: Uint8Array; b: Uint8Array; size: Vec3 } {
  const lo: Vec3 = [0, 0, 0];
  const hi: Vec3 = [0, 0, 0];
  const tb = tightBox(truth, dims);
  for (let i = 0; i < 3; i++) {
    lo[i] = pred.voxelCount ? Math.min(pred.min[i], tb.min[i]) : tb.min[i];
    hi[i] = pred.voxelCount ? Math.max(pred.max[i], tb.max[i]) : tb.max[i];
  }
  const size = blockSize(lo, hi);
  const a = new Uint8Array(size[0] * size[1] * size[2]);
  const b = new Uint8Array(a.length);
  const copy = (src: SourceMask, out: Uint8Array) => {
    const s = blockSize(src.min, src.max);
    for (let k = 0; k < s[2]; k++)
      for (let j = 0; j < s[1]; j++)
        for (let i = 0; i < s[0]; i++) {
          if (!src.mask[i + s[0] * (j + s[1] * k)]) continue;
          const x = src.min[0] + i - lo[0];
          const y = src.min[1] + j - lo[1];
          const z = src.min[2] + k - lo[2];
          if (x >= 0 && y >= 0 && z >= 0 && x < size[0] && y < size[1] && z < size[2]) out[x + size[0] * (y + size[1] * z)] = 1;
        }
  };
  if (pred.voxelCount) copy(pred, a);
  copy(truth, b);
  return { a, b, size };
}

function tightBox(m: SourceMask, dims: Vec3): { min: Vec3; max: Vec3 } {
  const min: Vec3 = [dims[0], dims[1], dims[2]];
  const max: Vec3 = [-1, -1, -1];
  const [nx, ny] = dims;
  for (let n = 0; n < m.mask.length; n++) {
    if (!m.mask[n]) continue;
    const p = [n % nx, Math.floor(n / nx) % ny, Math.floor(n / (nx * ny))];
    for (let a = 0; a < 3; a++) {
      if (p[a] < min[a]) min[a] = p[a];
      if (p[a] > max[a]) max[a] = p[a];
    }
  }
  return { min, max };
}

export async function evaluateCases(analyzer: Engine, cases: LoadedCase[], onLesion?: (r: LesionResult, done: number, total: number) => void): Promise<LesionResult[]> {
  const total = cases.reduce((n, c) => n + c.lesions.length, 0);
  const results: LesionResult[] = [];
  const seg = analyzer.card.architecture.segmentation;
  const voxelMl = (c: LoadedCase) => (c.volume.spacing[0] * c.volume.spacing[1] * c.volume.spacing[2]) / 1000;
  for (const c of cases) {
    for (const [n, lesion] of c.lesions.entries()) {
      const result = await analyzer.analyze(arraySource(c.volume), lesion.center, { centerSpace: 'voxel' });
      const truth = truthComponent(c.mask, lesion.center);
      let dsc: number | null = null;
      let ji: number | null = null;
      let hd: number | null = null;
      if (seg) {
        const { a, b, size } = onUnionBox(result.lesion, truth, c.volume.dims);
        dsc = dice(a, b);
        ji = jaccard(a, b);
        hd = hausdorff95(a, b, size, c.volume.spacing);
      }
      const r: LesionResult = {
        caseId: c.caseId,
        lesion: n,
        malignant: lesion.malignant,
        truthMl: truth.voxelCount * voxelMl(c),
        found: result.found,
        probability: result.probability,
        networkProbability: result.found ? result.networkProbability : null,
        dsc,
        jaccard: ji,
        hd95: hd,
        ms: result.timingsMs.total,
      };
      results.push(r);
      onLesion?.(r, results.length, total);
    }
  }
  return results;
}

/** Below this many lesions of a class, AUC and the other classification figures are too noisy to report without a warning. */
export const MIN_PER_CLASS = 10;

/** A warning when a class has too few lesions for the classification figures (or is missing), else undefined. */
export function classBalanceWarning(results: LesionResult[]): string | undefined {
  const classified = results.filter((r) => r.probability !== null);
  const malignant = classified.filter((r) => r.malignant).length;
  const benign = classified.length - malignant;
  if (!malignant || !benign) return `only ${benign} benign and ${malignant} malignant lesions: AUC and the other classification figures need both classes and are not computed`;
  if (malignant < MIN_PER_CLASS || benign < MIN_PER_CLASS) return `only ${benign} benign and ${malignant} malignant lesions: with fewer than ${MIN_PER_CLASS} of a class, AUC and the other classification figures are not reliable`;
  return undefined;
}

export function summarize(results: LesionResult[], threshold: number): Summary {
  const summary: Summary = { n: results.length, lesionsFound: results.filter((r) => r.found).length / Math.max(1, results.length), msPerLesion: meanStd(results.map((r) => r.ms)).mean };
  const segmented = results.filter((r) => r.dsc !== null);
  if (segmented.length) {
    const group = (rs: LesionResult[]) => {
      // A missed lesion has HD95 = Infinity; the mean excludes it and n says how many were scored.
      const finite = rs.filter((r) => Number.isFinite(r.hd95 as number));
      const ms = (v: number[]) => {
        if (!v.length) return [NaN, NaN] as [number, number];
        const s = meanStd(v);
        return [s.mean, v.length > 1 ? s.sd : NaN] as [number, number];
      };
      return { n: rs.length, dsc: ms(rs.map((r) => r.dsc as number)), jaccard: ms(rs.map((r) => r.jaccard as number)), hd95: ms(finite.map((r) => r.hd95 as number)) };
    };
    summary.segmentation = {
      all: group(segmented),
      small: group(segmented.filter((r) => r.truthMl <= SMALL_ML)),
      large: group(segmented.filter((r) => r.truthMl > SMALL_ML)),
    };
  }
  const classified = results.filter((r) => r.probability !== null);
  const labels = classified.map((r) => (r.malignant ? 1 : 0));
  if (classified.length && labels.includes(0) && labels.includes(1)) {
    const scores = classified.map((r) => r.probability as number);
    const m = classificationMetrics(labels, scores, threshold);
    // The network's own output beside the shipped probability, on the same lesions.
    const network = classified.map((r) => r.networkProbability);
    const networkAuc = network.every((p) => p !== null) ? auc(labels, network as number[]) : null;
    summary.classification = { auc: auc(labels, scores), networkAuc, accuracy: m.accuracy, recall: m.recall, precision: m.precision, falsePositiveRate: m.falsePositiveRate, f1: m.f1, threshold, roc: rocCurve(labels, scores), ece: expectedCalibrationError(labels, scores), n: labels.length };
  }
  return summary;
}

export interface NormalClickSummary {
  clicks: number;
  /** Share of clicks on normal tissue answered "no lesion here". */
  noLesion: number;
  byKind: Record<string, { clicks: number; noLesion: number }>;
}

/**
 * Clicks on normal tissue of phantom cases (fat lobules, ligaments, gland, under the skin, above
 * the chest wall, clear of every lesion), each case regenerated from its seed: how often the
 * answer is "no lesion here".
 */
export async function evaluateNormalClicks(engine: Engine, cases: { seed: number; fullSize?: boolean }[], perCase: number, onClick?: (done: number, total: number) => void): Promise<NormalClickSummary> {
  const byKind: NormalClickSummary['byKind'] = {};
  let clicks = 0;
  let noLesion = 0;
  for (const c of cases) {
    const phantom = generatePhantom({ seed: c.seed, fullSize: c.fullSize });
    const source = arraySource(phantom.volume);
    for (const site of normalTissueSites(phantom, perCase, c.seed)) {
      const r = await engine.analyze(source, site.index, { centerSpace: 'voxel' });
      const k = (byKind[site.kind] ??= { clicks: 0, noLesion: 0 });
      k.clicks++;
      clicks++;
      if (!r.found) {
        k.noLesion++;
        noLesion++;
      }
      onClick?.(clicks, cases.length * perCase);
    }
  }
  return { clicks, noLesion: noLesion / Math.max(1, clicks), byKind };
}
