/**
 * Evaluation metrics for ABUS tumour segmentation (overlap and surface distance on binary
 * masks) and benign/malignant classification (confusion counts, ROC, AUC).
 *
 * Every degenerate case (empty masks, zero denominators) has a documented value so that
 * aggregate tables never silently pick up a NaN; the only cases that throw are those where
 * no value would be meaningful (AUC with one class, malformed input).
 */
import { Vec3 } from '@abus-tumor-ai/engine';
import { voxelCount } from '@abus-tumor-ai/engine/lab';

// ---------------------------------------------------------------------------------------
// Segmentation overlap
// ---------------------------------------------------------------------------------------

interface OverlapCounts {
  sizeA: number;
  sizeB: number;
  intersection: number;
}

function overlapCounts(a: ArrayLike<number>, b: ArrayLike<number>): OverlapCounts {
  if (a.length !== b.length) {
    throw new Error(`Masks differ in length: ${a.length} vs ${b.length}`);
  }
  let sizeA = 0;
  let sizeB = 0;
  let intersection = 0;
  for (let i = 0; i < a.length; i++) {
    const inA = a[i] !== 0;
    const inB = b[i] !== 0;
    if (inA) sizeA++;
    if (inB) sizeB++;
    if (inA && inB) intersection++;
  }
  return { sizeA, sizeB, intersection };
}

/**
 * Dice similarity coefficient 2|A∩B| / (|A| + |B|) of two binary masks (nonzero = foreground).
 * Two empty masks agree perfectly, so they score 1 rather than the undefined 0/0;
 * exactly one empty mask scores 0.
 */
export function dice(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const { sizeA, sizeB, intersection } = overlapCounts(a, b);
  if (sizeA + sizeB === 0) return 1;
  return (2 * intersection) / (sizeA + sizeB);
}

/**
 * Jaccard index |A∩B| / |A∪B| of two binary masks (nonzero = foreground).
 * Two empty masks score 1 (perfect agreement, instead of 0/0); exactly one empty mask scores 0.
 */
export function jaccard(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const { sizeA, sizeB, intersection } = overlapCounts(a, b);
  const union = sizeA + sizeB - intersection;
  if (union === 0) return 1;
  return intersection / union;
}

// ---------------------------------------------------------------------------------------
// Surface distance
// ---------------------------------------------------------------------------------------

// Module-level copies of globals used in the per-voxel loops: under jest (a vm context) every
// read of a global such as `Infinity` goes through the sandbox and made the EDT over 10x slower.
const INF = Number.POSITIVE_INFINITY;
const sqrt = Math.sqrt;

function checkGeometry(length: number, dims: Vec3, spacing: Vec3): void {
  for (let axis = 0; axis < 3; axis++) {
    if (!Number.isInteger(dims[axis]) || dims[axis] < 1) {
      throw new Error(`dims must be positive integers, got [${dims.join(', ')}]`);
    }
    if (!(spacing[axis] > 0) || !Number.isFinite(spacing[axis])) {
      throw new Error(`spacing must be positive and finite, got [${spacing.join(', ')}]`);
    }
  }
  if (length !== voxelCount(dims)) {
    throw new Error(`Mask length ${length} does not match dims [${dims.join(', ')}]`);
  }
}

/**
 * Surface voxels of a binary mask: foreground voxels with at least one of their 6 face
 * neighbours in background or outside the volume. Treating the outside as background matches
 * scipy's binary_erosion default (border_value=0), as used by medpy, so a tumour touching the
 * field-of-view edge still has a closed surface.
 * Returns a 0/1 mask and the number of surface voxels.
 */
export function surfaceVoxels(mask: ArrayLike<number>, dims: Vec3): { surface: Uint8Array; count: number } {
  const [nx, ny, nz] = dims;
  if (mask.length !== voxelCount(dims)) {
    throw new Error(`Mask length ${mask.length} does not match dims [${dims.join(', ')}]`);
  }
  const surface = new Uint8Array(mask.length);
  const sliceSize = nx * ny;
  let count = 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        const idx = i + nx * (j + ny * k);
        if (mask[idx] === 0) continue;
        const onSurface =
          i === 0 || mask[idx - 1] === 0 ||
          i === nx - 1 || mask[idx + 1] === 0 ||
          j === 0 || mask[idx - nx] === 0 ||
          j === ny - 1 || mask[idx + nx] === 0 ||
          k === 0 || mask[idx - sliceSize] === 0 ||
          k === nz - 1 || mask[idx + sliceSize] === 0;
        if (onSurface) {
          surface[idx] = 1;
          count++;
        }
      }
    }
  }
  return { surface, count };
}

/**
 * One pass of the Felzenszwalb–Huttenlocher lower envelope of parabolas:
 * d[q] = min_p (w (q - p)^2 + f[p]). Points with f = Infinity are left out of the envelope
 * (their parabola can never be the minimum), which keeps Infinity - Infinity out of the
 * intersection formula; a line with no finite point stays Infinity.
 */
function lowerEnvelope1d(
  f: Float64Array,
  n: number,
  w: number,
  d: Float64Array,
  v: Int32Array,
  z: Float64Array,
): void {
  let k = -1;
  for (let q = 0; q < n; q++) {
    const fq = f[q];
    if (fq === INF) continue;
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = -INF;
      z[1] = INF;
      continue;
    }
    let s: number;
    for (;;) {
      const p = v[k];
      s = (fq + w * q * q - (f[p] + w * p * p)) / (2 * w * (q - p));
      // z[0] is -Infinity, so k never drops below 0 here.
      if (s <= z[k]) k--;
      else break;
    }
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = INF;
  }
  if (k < 0) {
    d.fill(INF, 0, n);
    return;
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    while (z[k + 1] < q) k++;
    const p = v[k];
    d[q] = w * (q - p) * (q - p) + f[p];
  }
}

/**
 * Exact squared Euclidean distance (mm²) from every voxel to the nearest nonzero voxel of
 * `sites`, honouring anisotropic spacing. Squared distance separates into a sum over axes,
 * so three 1-D lower-envelope passes (one per axis, weighted by spacing²) give the exact 3-D
 * result in O(voxels) time, where a brute-force search would be O(voxels × sites).
 * Voxels get Infinity when there are no sites at all.
 */
export function squaredDistanceTransform(sites: ArrayLike<number>, dims: Vec3, spacing: Vec3): Float64Array {
  checkGeometry(sites.length, dims, spacing);
  const [nx, ny, nz] = dims;
  const out = new Float64Array(sites.length);
  for (let idx = 0; idx < sites.length; idx++) out[idx] = sites[idx] !== 0 ? 0 : INF;

  const maxLen = Math.max(nx, ny, nz);
  const f = new Float64Array(maxLen);
  const d = new Float64Array(maxLen);
  const v = new Int32Array(maxLen);
  const z = new Float64Array(maxLen + 1);
  const strides: Vec3 = [1, nx, nx * ny];

  for (let axis = 0; axis < 3; axis++) {
    const len = dims[axis];
    if (len === 1) continue; // Nothing to propagate along a singleton axis.
    const stride = strides[axis];
    const w = spacing[axis] * spacing[axis];
    // Iterate over every line parallel to `axis` via its two orthogonal coordinates.
    const [ua, ub] = axis === 0 ? [1, 2] : axis === 1 ? [0, 2] : [0, 1];
    for (let b = 0; b < dims[ub]; b++) {
      for (let a = 0; a < dims[ua]; a++) {
        const start = a * strides[ua] + b * strides[ub];
        let anyFinite = false;
        for (let q = 0; q < len; q++) {
          const value = out[start + q * stride];
          f[q] = value;
          if (value !== INF) anyFinite = true;
        }
        if (!anyFinite) continue;
        lowerEnvelope1d(f, len, w, d, v, z);
        for (let q = 0; q < len; q++) out[start + q * stride] = d[q];
      }
    }
  }
  return out;
}

/**
 * The p-th percentile (0..100) by linear interpolation between closest ranks, numpy's default
 * ("linear"): with the values sorted ascending as x[0..n-1], h = (n - 1) p / 100 and the result
 * is x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
 */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) throw new Error('percentile needs at least one value');
  if (!(p >= 0 && p <= 100)) throw new Error(`percentile p must be in [0, 100], got ${p}`);
  const sorted = Float64Array.from(values).sort();
  const h = ((sorted.length - 1) * p) / 100;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const frac = h - lo;
  // Skip the interpolation term when it is not needed so that Infinity values do not give NaN.
  if (frac === 0 || sorted[lo] === sorted[hi]) return sorted[lo];
  return sorted[lo] + frac * (sorted[hi] - sorted[lo]);
}

/**
 * Surface distances (mm) from each surface voxel of `from` to the nearest surface voxel of
 * `to`, in storage order of the `from` surface voxels.
 */
function directedSurfaceDistances(
  fromSurface: Uint8Array,
  fromCount: number,
  toSurface: Uint8Array,
  dims: Vec3,
  spacing: Vec3,
): Float64Array {
  const squared = squaredDistanceTransform(toSurface, dims, spacing);
  const distances = new Float64Array(fromCount);
  let n = 0;
  for (let idx = 0; idx < fromSurface.length; idx++) {
    if (fromSurface[idx] !== 0) distances[n++] = sqrt(squared[idx]);
  }
  return distances;
}

/**
 * Symmetric 95th-percentile Hausdorff distance (mm) between binary masks `a` and `b`, with the
 * medpy `hd95` definition: the 95th percentile (numpy-style linear interpolation, see
 * `percentile`) of the POOLED distances from every surface voxel of A to the nearest surface
 * voxel of B together with those from every surface voxel of B to the nearest surface voxel of
 * A. (MONAI instead takes the larger of the two directed percentiles; the two can differ.)
 * Surface voxels are as in `surfaceVoxels`; distances are exact Euclidean distances between
 * voxel centres with the given (possibly anisotropic) spacing.
 *
 * Empty masks: both empty → 0 (the segmentations agree); exactly one empty → Infinity (there is
 * no surface to measure to), so callers must decide how to aggregate such cases.
 */
export function hausdorff95(a: ArrayLike<number>, b: ArrayLike<number>, dims: Vec3, spacing: Vec3): number {
  if (a.length !== b.length) {
    throw new Error(`Masks differ in length: ${a.length} vs ${b.length}`);
  }
  checkGeometry(a.length, dims, spacing);
  const surfA = surfaceVoxels(a, dims);
  const surfB = surfaceVoxels(b, dims);
  if (surfA.count === 0 && surfB.count === 0) return 0;
  if (surfA.count === 0 || surfB.count === 0) return Infinity;

  const aToB = directedSurfaceDistances(surfA.surface, surfA.count, surfB.surface, dims, spacing);
  const bToA = directedSurfaceDistances(surfB.surface, surfB.count, surfA.surface, dims, spacing);
  const pooled = new Float64Array(aToB.length + bToA.length);
  pooled.set(aToB, 0);
  pooled.set(bToA, aToB.length);
  return percentile(pooled, 95);
}

// ---------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export interface ClassificationMetrics extends Confusion {
  accuracy: number;
  precision: number;
  recall: number;
  falsePositiveRate: number;
  f1: number;
}

export interface RocPoint {
  /** Cases with score >= threshold are called positive (malignant). */
  threshold: number;
  tpr: number;
  fpr: number;
}

// A label of 2 or -1 is almost certainly an encoding mistake; counting it as either class
// would silently corrupt every metric, so reject it.
function checkBinary(values: ArrayLike<number>, name: string): void {
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== 0 && values[i] !== 1) {
      throw new Error(`${name} must be 0 or 1, got ${values[i]} at index ${i}`);
    }
  }
}

function checkSameLength(labels: ArrayLike<number>, other: ArrayLike<number>, name: string): void {
  if (labels.length !== other.length) {
    throw new Error(`labels and ${name} differ in length: ${labels.length} vs ${other.length}`);
  }
}

function checkScores(scores: ArrayLike<number>): void {
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) throw new Error(`score at index ${i} is NaN`);
  }
}

// 0/0 means "no cases of that kind", which tables should show as 0 rather than NaN.
function ratio(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : numerator / denominator;
}

/** Confusion counts of 0/1 predictions against 0/1 labels (1 = positive, i.e. malignant). */
export function confusion(labels: ArrayLike<number>, predicted: ArrayLike<number>): Confusion {
  checkSameLength(labels, predicted, 'predicted');
  checkBinary(labels, 'labels');
  checkBinary(predicted, 'predicted');
  const counts: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) {
      if (predicted[i] === 1) counts.tp++;
      else counts.fn++;
    } else if (predicted[i] === 1) counts.fp++;
    else counts.tn++;
  }
  return counts;
}

/**
 * Threshold metrics for scores against 0/1 labels; a case is called positive when
 * score >= threshold. Any ratio whose denominator is zero (e.g. precision with no positive
 * calls, recall with no positive labels, accuracy of an empty set) is reported as 0, never NaN.
 * f1 = 2tp / (2tp + fp + fn), which equals the harmonic mean of precision and recall.
 */
export function classificationMetrics(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  threshold = 0.5,
): ClassificationMetrics {
  checkSameLength(labels, scores, 'scores');
  checkScores(scores);
  const predicted = new Uint8Array(scores.length);
  for (let i = 0; i < scores.length; i++) predicted[i] = scores[i] >= threshold ? 1 : 0;
  const { tp, fp, tn, fn } = confusion(labels, predicted);
  return {
    accuracy: ratio(tp + tn, tp + fp + tn + fn),
    precision: ratio(tp, tp + fp),
    recall: ratio(tp, tp + fn),
    falsePositiveRate: ratio(fp, fp + tn),
    f1: ratio(2 * tp, 2 * tp + fp + fn),
    tp,
    fp,
    tn,
    fn,
  };
}

interface RocCounts {
  threshold: number;
  tp: number;
  fp: number;
}

/** Cumulative (tp, fp) at each distinct score, highest first, after the (0, 0) start. */
function rocCounts(labels: ArrayLike<number>, scores: ArrayLike<number>): { points: RocCounts[]; pos: number; neg: number } {
  checkSameLength(labels, scores, 'scores');
  checkBinary(labels, 'labels');
  checkScores(scores);
  let pos = 0;
  for (let i = 0; i < labels.length; i++) pos += labels[i];
  const neg = labels.length - pos;
  if (pos === 0 || neg === 0) {
    throw new Error('AUC needs at least one positive and one negative');
  }
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((x, y) => scores[y] - scores[x]);
  // Infinity as the first threshold: nothing scores at or above it, so nothing is positive.
  const points: RocCounts[] = [{ threshold: Infinity, tp: 0, fp: 0 }];
  let tp = 0;
  let fp = 0;
  let r = 0;
  while (r < order.length) {
    const threshold = scores[order[r]];
    // Consume the whole tie group before emitting a point: tied cases cross the threshold
    // together, so the curve moves diagonally instead of depending on their input order.
    while (r < order.length && scores[order[r]] === threshold) {
      if (labels[order[r]] === 1) tp++;
      else fp++;
      r++;
    }
    points.push({ threshold, tp, fp });
  }
  return { points, pos, neg };
}

/**
 * ROC curve of scores against 0/1 labels: one point per distinct score (threshold, calling
 * score >= threshold positive), preceded by (fpr 0, tpr 0) at threshold Infinity and ending at
 * (1, 1) at the lowest score. Tied scores produce a single diagonal step.
 * Throws when only one class is present, because tpr or fpr would be 0/0.
 */
export function rocCurve(labels: ArrayLike<number>, scores: ArrayLike<number>): RocPoint[] {
  const { points, pos, neg } = rocCounts(labels, scores);
  return points.map(({ threshold, tp, fp }) => ({ threshold, tpr: tp / pos, fpr: fp / neg }));
}

/**
 * Area under the ROC curve by the trapezoid rule on `rocCurve`, which equals the
 * Mann-Whitney probability that a random positive outscores a random negative, with ties
 * counted 1/2. Computed on integer counts so that the result is exact up to one final division.
 * Throws "AUC needs at least one positive and one negative" when a class is missing.
 */
export function auc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const { points, pos, neg } = rocCounts(labels, scores);
  let twiceArea = 0; // In units of (1 negative) × (1 positive).
  for (let i = 1; i < points.length; i++) {
    twiceArea += (points[i].fp - points[i - 1].fp) * (points[i].tp + points[i - 1].tp);
  }
  return twiceArea / (2 * pos * neg);
}

// ---------------------------------------------------------------------------------------
// Summaries
// ---------------------------------------------------------------------------------------

/**
 * Mean and sample standard deviation (n - 1 denominator) for "mean ± SD" tables; with a single
 * value the spread is reported as 0. Throws on an empty list, whose mean is undefined.
 */
export function meanStd(values: ArrayLike<number>): { mean: number; sd: number } {
  const n = values.length;
  if (n === 0) throw new Error('meanStd needs at least one value');
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i];
  const mean = sum / n;
  if (n < 2) return { mean, sd: 0 };
  // Two passes: summing squared deviations avoids the cancellation of sum(x²) - n·mean².
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (values[i] - mean) * (values[i] - mean);
  return { mean, sd: Math.sqrt(squares / (n - 1)) };
}
