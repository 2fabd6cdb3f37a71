import { auc, classificationMetrics, confusion, dice, hausdorff95, jaccard, meanStd, percentile, rocCurve, squaredDistanceTransform, surfaceVoxels } from './metrics';
import { Vec3 } from '@abus-tumor-ai/engine';

/** A mask of the given dims with the listed (i, j, k) voxels set. */
function maskOf(dims: Vec3, voxels: Vec3[]): Uint8Array {
  const mask = new Uint8Array(dims[0] * dims[1] * dims[2]);
  for (const [i, j, k] of voxels) mask[i + dims[0] * (j + dims[1] * k)] = 1;
  return mask;
}

/** A mask set wherever `inside(i, j, k)` holds. */
function maskWhere(dims: Vec3, inside: (i: number, j: number, k: number) => boolean): Uint8Array {
  const mask = new Uint8Array(dims[0] * dims[1] * dims[2]);
  for (let k = 0; k < dims[2]; k++) {
    for (let j = 0; j < dims[1]; j++) {
      for (let i = 0; i < dims[0]; i++) if (inside(i, j, k)) mask[i + dims[0] * (j + dims[1] * k)] = 1;
    }
  }
  return mask;
}

/** Axis-aligned box [lo, hi] inclusive. */
function box(dims: Vec3, lo: Vec3, hi: Vec3): Uint8Array {
  return maskWhere(dims, (i, j, k) => i >= lo[0] && i <= hi[0] && j >= lo[1] && j <= hi[1] && k >= lo[2] && k <= hi[2]);
}

/** Deterministic PRNG (mulberry32) so that the random cases are reproducible. */
function rng(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------
// Brute-force references, written independently of the implementation under test.
// ---------------------------------------------------------------------------------------

function coordsOf(mask: ArrayLike<number>, dims: Vec3): Vec3[] {
  const out: Vec3[] = [];
  for (let idx = 0; idx < mask.length; idx++) {
    if (mask[idx]) out.push([idx % dims[0], Math.floor(idx / dims[0]) % dims[1], Math.floor(idx / (dims[0] * dims[1]))]);
  }
  return out;
}

function bruteSurface(mask: ArrayLike<number>, dims: Vec3): Vec3[] {
  const at = (i: number, j: number, k: number): number =>
    i < 0 || j < 0 || k < 0 || i >= dims[0] || j >= dims[1] || k >= dims[2] ? 0 : mask[i + dims[0] * (j + dims[1] * k)];
  const steps: Vec3[] = [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]];
  return coordsOf(mask, dims).filter(([i, j, k]) => steps.some(([di, dj, dk]) => at(i + di, j + dj, k + dk) === 0));
}

function bruteDistance(p: Vec3, q: Vec3, spacing: Vec3): number {
  return Math.hypot((p[0] - q[0]) * spacing[0], (p[1] - q[1]) * spacing[1], (p[2] - q[2]) * spacing[2]);
}

function bruteNearest(p: Vec3, sites: Vec3[], spacing: Vec3): number {
  let best = Infinity;
  for (const q of sites) best = Math.min(best, bruteDistance(p, q, spacing));
  return best;
}

function bruteHd95(a: ArrayLike<number>, b: ArrayLike<number>, dims: Vec3, spacing: Vec3): number {
  const sa = bruteSurface(a, dims);
  const sb = bruteSurface(b, dims);
  if (sa.length === 0 && sb.length === 0) return 0;
  if (sa.length === 0 || sb.length === 0) return Infinity;
  const pooled = [...sa.map((p) => bruteNearest(p, sb, spacing)), ...sb.map((p) => bruteNearest(p, sa, spacing))];
  pooled.sort((x, y) => x - y);
  // numpy.percentile(pooled, 95), method="linear".
  const h = (pooled.length - 1) * 0.95;
  const lo = Math.floor(h);
  return lo + 1 < pooled.length ? pooled[lo] + (h - lo) * (pooled[lo + 1] - pooled[lo]) : pooled[lo];
}

function bruteAuc(labels: number[], scores: number[]): number {
  let wins = 0;
  let pairs = 0;
  for (let p = 0; p < labels.length; p++) {
    if (labels[p] !== 1) continue;
    for (let n = 0; n < labels.length; n++) {
      if (labels[n] !== 0) continue;
      pairs++;
      if (scores[p] > scores[n]) wins += 1;
      else if (scores[p] === scores[n]) wins += 0.5;
    }
  }
  return wins / pairs;
}

// ---------------------------------------------------------------------------------------
// Overlap
// ---------------------------------------------------------------------------------------

describe('dice and jaccard', () => {
  const dims: Vec3 = [3, 3, 3];

  it('match hand-computed values on a 3x3x3 case', () => {
    // |A| = 4, |B| = 3, |A∩B| = 2, |A∪B| = 5.
    const a = maskOf(dims, [[0, 0, 0], [1, 0, 0], [1, 1, 0], [2, 2, 2]]);
    const b = maskOf(dims, [[1, 0, 0], [2, 2, 2], [0, 2, 1]]);
    expect(dice(a, b)).toBeCloseTo(4 / 7, 15);
    expect(jaccard(a, b)).toBeCloseTo(2 / 5, 15);
    expect(dice(b, a)).toBe(dice(a, b));
  });

  it('match hand-computed values on 5x4x3 boxes, treating any nonzero as foreground', () => {
    const d: Vec3 = [5, 4, 3];
    // A: i 0..2, j 0..1, k 0..1 → 12 voxels; B: i 1..4, j 0..1, k 1..2 → 16 voxels;
    // A∩B: i 1..2, j 0..1, k 1 → 4 voxels.
    const a = box(d, [0, 0, 0], [2, 1, 1]);
    const b = Float32Array.from(box(d, [1, 0, 1], [4, 1, 2]), (x) => x * 0.7);
    expect(dice(a, b)).toBeCloseTo(8 / 28, 15);
    expect(jaccard(a, b)).toBeCloseTo(4 / 24, 15);
  });

  it('are 1 for identical masks and 0 for disjoint ones', () => {
    const a = maskOf(dims, [[1, 1, 1], [0, 1, 2]]);
    const b = maskOf(dims, [[2, 2, 2]]);
    expect(dice(a, a)).toBe(1);
    expect(jaccard(a, a)).toBe(1);
    expect(dice(a, b)).toBe(0);
    expect(jaccard(a, b)).toBe(0);
  });

  it('give 1 when both masks are empty and 0 when exactly one is', () => {
    const empty = new Uint8Array(27);
    const one = maskOf(dims, [[1, 1, 1]]);
    expect(dice(empty, empty)).toBe(1);
    expect(jaccard(empty, empty)).toBe(1);
    expect(dice(empty, one)).toBe(0);
    expect(dice(one, empty)).toBe(0);
    expect(jaccard(empty, one)).toBe(0);
    expect(jaccard(one, empty)).toBe(0);
  });

  it('reject masks of different lengths', () => {
    expect(() => dice(new Uint8Array(3), new Uint8Array(4))).toThrow(/length/);
    expect(() => jaccard(new Uint8Array(3), new Uint8Array(4))).toThrow(/length/);
  });
});

// ---------------------------------------------------------------------------------------
// Surface distance
// ---------------------------------------------------------------------------------------

describe('surfaceVoxels', () => {
  it('drops only the centre of a 3x3x3 cube inside a 5x5x5 volume', () => {
    const dims: Vec3 = [5, 5, 5];
    const { surface, count } = surfaceVoxels(box(dims, [1, 1, 1], [3, 3, 3]), dims);
    expect(count).toBe(26);
    expect(surface[2 + 5 * (2 + 5 * 2)]).toBe(0);
  });

  it('counts voxels on the volume border as surface', () => {
    const dims: Vec3 = [3, 3, 3];
    expect(surfaceVoxels(new Uint8Array(27).fill(1), dims).count).toBe(26);
    const d5: Vec3 = [5, 5, 5];
    expect(surfaceVoxels(new Uint8Array(125).fill(1), d5).count).toBe(125 - 27);
  });
});

describe('squaredDistanceTransform', () => {
  it('weights each axis by its spacing', () => {
    const dims: Vec3 = [4, 3, 5];
    const spacing: Vec3 = [0.5, 2, 1.5];
    const edt = squaredDistanceTransform(maskOf(dims, [[0, 0, 0]]), dims, spacing);
    // Voxel (3, 2, 4): (3·0.5)² + (2·2)² + (4·1.5)² = 2.25 + 16 + 36.
    expect(edt[3 + 4 * (2 + 3 * 4)]).toBeCloseTo(54.25, 12);
    expect(edt[0]).toBe(0);
  });

  it('is Infinity everywhere without sites', () => {
    const edt = squaredDistanceTransform(new Uint8Array(24), [2, 3, 4], [1, 1, 1]);
    expect(Array.from(edt).every((x) => x === Infinity)).toBe(true);
  });

  it('matches brute force at every voxel on random anisotropic cases', () => {
    const random = rng(7);
    const cases: Vec3[] = [[7, 6, 5], [1, 9, 4], [8, 1, 1], [5, 5, 9]];
    for (const dims of cases) {
      for (const density of [0.02, 0.1, 0.5]) {
        const spacing: Vec3 = [0.2 + 2 * random(), 0.2 + 2 * random(), 0.2 + 2 * random()];
        const sites = maskWhere(dims, () => random() < density);
        if (!sites.some((x) => x)) sites[0] = 1;
        const siteCoords = coordsOf(sites, dims);
        const edt = squaredDistanceTransform(sites, dims, spacing);
        for (let idx = 0; idx < edt.length; idx++) {
          const p: Vec3 = [idx % dims[0], Math.floor(idx / dims[0]) % dims[1], Math.floor(idx / (dims[0] * dims[1]))];
          expect(Math.sqrt(edt[idx])).toBeCloseTo(bruteNearest(p, siteCoords, spacing), 10);
        }
      }
    }
  });
});

describe('percentile', () => {
  it('interpolates linearly between closest ranks like numpy', () => {
    // h = 3 · 0.95 = 2.85 → 3 + 0.85 · (4 - 3).
    expect(percentile([4, 1, 3, 2], 95)).toBeCloseTo(3.85, 12);
    expect(percentile([4, 1, 3, 2], 50)).toBeCloseTo(2.5, 12);
    expect(percentile([4, 1, 3, 2], 0)).toBe(1);
    expect(percentile([4, 1, 3, 2], 100)).toBe(4);
    expect(percentile([7], 95)).toBe(7);
  });

  it('rejects empty input and out-of-range p', () => {
    expect(() => percentile([], 95)).toThrow();
    expect(() => percentile([1], 101)).toThrow();
  });
});

describe('hausdorff95', () => {
  it('is the spacing-scaled distance between two single voxels', () => {
    const dims: Vec3 = [3, 3, 5];
    const a = maskOf(dims, [[1, 1, 0]]);
    const b = maskOf(dims, [[1, 1, 3]]);
    // Three voxels apart along k at 0.5 mm.
    expect(hausdorff95(a, b, dims, [1, 1, 0.5])).toBeCloseTo(1.5, 12);
    expect(hausdorff95(a, b, dims, [1, 1, 2])).toBeCloseTo(6, 12);
    // Diagonal: voxels (0,0,0) and (2,1,3) with spacing [0.5, 2, 1.5] → √(1 + 4 + 20.25).
    const c = maskOf(dims, [[0, 0, 0]]);
    const d = maskOf(dims, [[2, 1, 3]]);
    expect(hausdorff95(c, d, dims, [0.5, 2, 1.5])).toBeCloseTo(Math.sqrt(25.25), 12);
  });

  it('is 0 for identical masks', () => {
    const dims: Vec3 = [5, 5, 6];
    const a = box(dims, [1, 1, 1], [3, 3, 3]);
    expect(hausdorff95(a, a, dims, [0.3, 0.7, 2])).toBe(0);
  });

  it('measures a one-voxel shift of a cube along an anisotropic axis in mm', () => {
    // A: 3x3x3 cube at k 1..3; B: the same cube at k 2..4. Per direction (by symmetry the same
    // both ways) the 26 surface voxels give: 9 on the far face at one k-step, 16 on a shared
    // surface voxel at 0, and 1 (A's (2,2,3), B's interior centre) one step from B's surface.
    // Pooled 52 values: 32 zeros, 2 of that one-step value and 18 k-steps; h = 51 · 0.95 = 48.45
    // falls inside the k-step block.
    const dims: Vec3 = [5, 5, 6];
    const a = box(dims, [1, 1, 1], [3, 3, 3]);
    const b = box(dims, [1, 1, 2], [3, 3, 4]);
    // k spacing 2: a k-step is 2 mm; (2,2,3)'s nearest B surface voxel is 1 mm away in-plane.
    expect(hausdorff95(a, b, dims, [1, 1, 2])).toBeCloseTo(2, 12);
    // k spacing 0.5: a k-step is 0.5 mm.
    expect(hausdorff95(a, b, dims, [1, 1, 0.5])).toBeCloseTo(0.5, 12);
    expect(hausdorff95(b, a, dims, [1, 1, 0.5])).toBeCloseTo(0.5, 12);
  });

  it('interpolates the 95th percentile of the pooled distances', () => {
    // 1-D line: A = voxels 0 and 9, B = voxel 1. A→B: [1, 8]; B→A: [1]. Pooled sorted [1, 1, 8],
    // h = 2 · 0.95 = 1.9 → 1 + 0.9 · 7 = 7.3 voxels.
    const dims: Vec3 = [10, 1, 1];
    const a = maskOf(dims, [[0, 0, 0], [9, 0, 0]]);
    const b = maskOf(dims, [[1, 0, 0]]);
    expect(hausdorff95(a, b, dims, [1, 1, 1])).toBeCloseTo(7.3, 12);
    expect(hausdorff95(a, b, dims, [0.5, 3, 3])).toBeCloseTo(3.65, 12);
    // Symmetric: swapping the masks pools the same distances.
    expect(hausdorff95(b, a, dims, [0.5, 3, 3])).toBeCloseTo(3.65, 12);
  });

  it('is 0 when both masks are empty and Infinity when exactly one is', () => {
    const dims: Vec3 = [3, 3, 3];
    const empty = new Uint8Array(27);
    const one = maskOf(dims, [[1, 1, 1]]);
    expect(hausdorff95(empty, empty, dims, [1, 1, 1])).toBe(0);
    expect(hausdorff95(empty, one, dims, [1, 1, 1])).toBe(Infinity);
    expect(hausdorff95(one, empty, dims, [1, 1, 1])).toBe(Infinity);
  });

  it('rejects inconsistent geometry', () => {
    const m = new Uint8Array(27);
    expect(() => hausdorff95(m, m, [3, 3, 2], [1, 1, 1])).toThrow(/dims/);
    expect(() => hausdorff95(m, new Uint8Array(26), [3, 3, 3], [1, 1, 1])).toThrow(/length/);
    expect(() => hausdorff95(m, m, [3, 3, 3], [1, 0, 1])).toThrow(/spacing/);
  });

  it('matches a brute-force reference on random anisotropic masks', () => {
    const random = rng(2024);
    for (let trial = 0; trial < 40; trial++) {
      const dims: Vec3 = [2 + Math.floor(random() * 8), 1 + Math.floor(random() * 8), 2 + Math.floor(random() * 8)];
      const spacing: Vec3 = [0.2 + 2 * random(), 0.2 + 2 * random(), 0.2 + 2 * random()];
      const densityA = 0.05 + 0.6 * random();
      const densityB = 0.05 + 0.6 * random();
      const a = maskWhere(dims, () => random() < densityA);
      const b = maskWhere(dims, () => random() < densityB);
      const expected = bruteHd95(a, b, dims, spacing);
      const actual = hausdorff95(a, b, dims, spacing);
      if (Number.isFinite(expected)) expect(actual).toBeCloseTo(expected, 10);
      else expect(actual).toBe(expected);
    }
  });

  it('matches brute force on blob-shaped masks', () => {
    const dims: Vec3 = [32, 16, 24];
    const spacing: Vec3 = [0.2, 0.5, 0.8];
    const a = maskWhere(dims, (i, j, k) => ((i - 15) / 10) ** 2 + ((j - 8) / 5) ** 2 + ((k - 12) / 6) ** 2 <= 1);
    const b = maskWhere(
      dims,
      (i, j, k) => ((i - 18) / 9) ** 2 + ((j - 7) / 6) ** 2 + ((k - 11) / 7) ** 2 <= 1 || (i > 25 && j < 4 && k < 3),
    );
    expect(hausdorff95(a, b, dims, spacing)).toBeCloseTo(bruteHd95(a, b, dims, spacing), 10);
  });

  it('handles a 128x64x128 volume quickly', () => {
    const dims: Vec3 = [128, 64, 128];
    const spacing: Vec3 = [0.2, 0.073, 0.5];
    const a = maskWhere(dims, (i, j, k) => ((i - 64) / 40) ** 2 + ((j - 32) / 20) ** 2 + ((k - 64) / 30) ** 2 <= 1);
    const b = maskWhere(dims, (i, j, k) => ((i - 66) / 40) ** 2 + ((j - 32) / 20) ** 2 + ((k - 64) / 30) ** 2 <= 1);
    const start = Date.now();
    const hd = hausdorff95(a, b, dims, spacing);
    const elapsed = Date.now() - start;
    // A 2-voxel shift along i (0.2 mm) bounds every surface distance by 0.4 mm.
    expect(hd).toBeGreaterThan(0);
    expect(hd).toBeLessThanOrEqual(0.4 + 1e-12);
    // ~0.1 s in practice; the slack only absorbs slow CI machines.
    expect(elapsed).toBeLessThan(3000);
  });
});

// ---------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------

describe('confusion and classificationMetrics', () => {
  const labels = [1, 1, 1, 0, 0, 0, 0, 1];
  const scores = [0.9, 0.6, 0.4, 0.7, 0.2, 0.1, 0.5, 0.55];

  it('count a hand-made set', () => {
    expect(confusion(labels, [1, 1, 0, 1, 0, 0, 1, 1])).toEqual({ tp: 3, fp: 2, tn: 2, fn: 1 });
  });

  it('compute threshold metrics by hand, with score == threshold called positive', () => {
    // Predicted at 0.5: [1, 1, 0, 1, 0, 0, 1, 1] → tp 3, fp 2, tn 2, fn 1.
    const m = classificationMetrics(labels, scores);
    expect(m).toMatchObject({ tp: 3, fp: 2, tn: 2, fn: 1 });
    expect(m.accuracy).toBeCloseTo(5 / 8, 15);
    expect(m.precision).toBeCloseTo(3 / 5, 15);
    expect(m.recall).toBeCloseTo(3 / 4, 15);
    expect(m.falsePositiveRate).toBeCloseTo(2 / 4, 15);
    expect(m.f1).toBeCloseTo(2 / 3, 15);
    // Raising the threshold just past 0.5 flips case 6 to a true negative.
    const strict = classificationMetrics(labels, scores, 0.51);
    expect(strict).toMatchObject({ tp: 3, fp: 1, tn: 3, fn: 1 });
  });

  it('report 0 instead of NaN for zero denominators', () => {
    const m = classificationMetrics([0, 0, 0], [0.1, 0.2, 0.3]);
    expect(m).toEqual({ accuracy: 1, precision: 0, recall: 0, falsePositiveRate: 0, f1: 0, tp: 0, fp: 0, tn: 3, fn: 0 });
    const empty = classificationMetrics([], []);
    expect(Object.values(empty).every((x) => x === 0)).toBe(true);
  });

  it('reject non-binary labels, NaN scores and mismatched lengths', () => {
    expect(() => confusion([0, 2], [0, 1])).toThrow(/labels/);
    expect(() => confusion([0, 1], [0, 0.5])).toThrow(/predicted/);
    expect(() => classificationMetrics([0, 1], [0.2, NaN])).toThrow(/NaN/);
    expect(() => classificationMetrics([0, 1], [0.2])).toThrow(/length/);
  });
});

describe('rocCurve and auc', () => {
  it('give 0.75 on a small hand-computed case', () => {
    const labels = [0, 0, 1, 1];
    const scores = [0.1, 0.4, 0.35, 0.8];
    expect(auc(labels, scores)).toBeCloseTo(0.75, 15);
    expect(rocCurve(labels, scores)).toEqual([
      { threshold: Infinity, tpr: 0, fpr: 0 },
      { threshold: 0.8, tpr: 0.5, fpr: 0 },
      { threshold: 0.4, tpr: 0.5, fpr: 0.5 },
      { threshold: 0.35, tpr: 1, fpr: 0.5 },
      { threshold: 0.1, tpr: 1, fpr: 1 },
    ]);
  });

  it('move diagonally across tied scores', () => {
    // P = 3, N = 2. Mann-Whitney: positive 0.8 beats both negatives (2); each positive 0.5 ties
    // the negative 0.5 (½) and beats 0.2 (1) → 1.5 each. Total 5 of 6 pairs.
    const labels = [0, 1, 0, 1, 1];
    const scores = [0.5, 0.5, 0.2, 0.8, 0.5];
    const curve = rocCurve(labels, scores);
    expect(curve.map(({ tpr, fpr }) => [fpr, tpr])).toEqual([
      [0, 0],
      [0, 1 / 3],
      [0.5, 1], // One step for the whole tie group at 0.5: a diagonal segment.
      [1, 1],
    ]);
    expect(auc(labels, scores)).toBeCloseTo(5 / 6, 15);
    // Input order within a tie must not matter.
    expect(auc([1, 1, 0, 0, 1], [0.5, 0.5, 0.5, 0.2, 0.8])).toBeCloseTo(5 / 6, 15);
  });

  it('give 0.5 when every score is tied', () => {
    expect(rocCurve([0, 1, 1], [0.3, 0.3, 0.3]).map(({ tpr, fpr }) => [fpr, tpr])).toEqual([
      [0, 0],
      [1, 1],
    ]);
    expect(auc([0, 1, 1], [0.3, 0.3, 0.3])).toBe(0.5);
  });

  it('give 1 for a perfect classifier and 0 for an inverted one', () => {
    const labels = [0, 1, 0, 1, 1, 0];
    const scores = [0.1, 0.9, 0.3, 0.7, 0.8, 0.2];
    expect(auc(labels, scores)).toBe(1);
    expect(auc(labels, scores.map((s) => 1 - s))).toBe(0);
  });

  it('start at (0, 0), end at (1, 1) and match Mann-Whitney on random tied scores', () => {
    const random = rng(99);
    for (let trial = 0; trial < 50; trial++) {
      const n = 2 + Math.floor(random() * 30);
      const labels = Array.from({ length: n }, (_, i) => (i === 0 ? 0 : i === 1 ? 1 : random() < 0.4 ? 1 : 0));
      const scores = Array.from({ length: n }, () => Math.round(random() * 6) / 6);
      const curve = rocCurve(labels, scores);
      expect(curve[0]).toEqual({ threshold: Infinity, tpr: 0, fpr: 0 });
      expect(curve[curve.length - 1]).toMatchObject({ tpr: 1, fpr: 1 });
      expect(auc(labels, scores)).toBeCloseTo(bruteAuc(labels, scores), 12);
    }
  });

  it('throw when only one class is present', () => {
    expect(() => auc([1, 1, 1], [0.2, 0.5, 0.9])).toThrow('AUC needs at least one positive and one negative');
    expect(() => auc([0, 0], [0.2, 0.5])).toThrow('AUC needs at least one positive and one negative');
    expect(() => auc([], [])).toThrow('AUC needs at least one positive and one negative');
    expect(() => rocCurve([0], [0.5])).toThrow('AUC needs at least one positive and one negative');
  });
});

describe('meanStd', () => {
  it('uses the sample standard deviation', () => {
    // Mean 5; squared deviations 9 + 1 + 1 + 9 = 20; 20 / 3.
    const { mean, sd } = meanStd([2, 4, 6, 8]);
    expect(mean).toBe(5);
    expect(sd).toBeCloseTo(Math.sqrt(20 / 3), 15);
  });

  it('reports sd 0 for a single value and throws on none', () => {
    expect(meanStd([3.5])).toEqual({ mean: 3.5, sd: 0 });
    expect(() => meanStd([])).toThrow();
  });
});
