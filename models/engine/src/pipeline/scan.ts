/**
 * "Find lesions": the whole volume in two steps: the card's detector (pipeline/detector.ts), or
 * without one the click network's first pass, over windows; then the click analysis at each
 * candidate.
 *
 * API (stable; the plugin's "Find lesions" uses it):
 *
 *   engine.scan(source: VolumeSource, options?: ScanOptions): Promise<ScanResult>
 *     options.onProgress(p: ScanProgress)  p.stage 'window' (coarse pass, step/of windows), then
 *                                          'candidate' (fine pass, step/of candidates)
 *     options.signal: AbortSignal          rejects with an AbortError (name 'AbortError') at the
 *                                          next slab, window or candidate
 *     options.params: Partial<ScanParams>  overrides of the card's `scan` (else DEFAULT_SCAN)
 *   ScanResult.candidates: Candidate[], ranked by score (rank 1 first), each with
 *     rank, score (detection score in [0, 1]: found lesions above 0.5), found, centerIndex and
 *     centerMm (where the fine pass was centred), box (inclusive source-index box: the segment's
 *     when found, else the coarse one), coarse (what the coarse pass saw), and analysis (the
 *     AnalysisResult of the click analysis there: segment, P(malignant), verdict, size).
 *   Candidates with found === false are places the fine pass looked at and rejected: a viewer
 *   lists the found ones; FROC scoring uses all of them.
 *
 * 1. Coarse pass: the detector's map (docs/engine.md), or for a card without one the click
 *    network's first pass (no refinement), over overlapping windows that tile the volume. Each window is read slab by slab (SLAB_PLANES planes of the model's grid at a
 *    time, each slab's source block on its own through VolumeSource.readBlock) and resampled to
 *    the model's voxels on the reading side, so no read copies more than a slab (a few MB of a
 *    full-size volume) and only the window's small grid goes to a worker. The network was
 *    trained on VOIs centred on a lesion; measured on phantoms, its second pass (the refinement)
 *    wipes out a lesion 8-16 mm off the VOI's centre, while its first pass still marks it, the
 *    better the farther the lesion is from the window's borders; so the windows are wider than
 *    the click VOI (128 mm) but as deep (32 mm: a 48 mm deep window marked a tenth of all
 *    tissue). The probabilities go into a coarse map (cellMm cells), each window's weighted by a
 *    Gaussian taper around its centre, so a window's border region counts less where another
 *    window sees the same place nearer its middle.
 * 2. Candidates: connected components of the map above a threshold, ranked by their peak; and,
 *    when blobCandidates > 0, the darkest blobs of the image on the same grid (see darkBlobs).
 * 3. Fine pass: the click analysis (analyze(), both passes, the card's "no lesion" rule) at the
 *    centre of each candidate, the best first, up to maxCandidates map components and then
 *    blobCandidates blobs; a candidate whose centre lies in a lesion already found is the same
 *    lesion and is skipped. A sure map candidate it turns down gets a second look at the voxel
 *    nearest its centre (secondLookScore); one still turned down near the volume's lateral or
 *    sweep face, a look with the VOI moved inwards (inwardLook). A map
 *    candidate the detector is certain of (outlineScore, outlinePeak) that the click analysis
 *    still turns down, or of which it segments only a small part (outlinePart), is proposed with
 *    the detector's own outline, without a verdict (detectorOutline).
 *
 * The parameters come from the model card's `scan`, else DEFAULT_SCAN.
 */
import type { ModelCard } from '../engine/weights';
import { indexToPatient, Vec3, VolumeGeometry } from '../volume';
import { checkAbort, nextTask } from './abort';
import type { AnalysisResult, AnalyzeOptions } from './result';
import { labelComponents } from './components';
import { DETECTOR_GRID_MULTIPLE } from './detector';
import { measureLesion } from './postprocess';
import { DEFAULT_SCAN, ScanParams } from './scan-params';
import { planClick, planVoi, readWindow, SLAB_PLANES, SourceMask, VoiPlan, VolumeSource, WindowGrid } from './voi';

export { DEFAULT_SCAN, readWindow, SLAB_PLANES };
export type { WindowGrid };
export type { ScanParams };

export interface ScanProgress {
  /** 'window': the coarse pass, one step per window; 'candidate': the fine analysis of one candidate. */
  stage: 'window' | 'candidate';
  step: number;
  of: number;
}

export interface ScanOptions {
  /** Overrides of the card's (or the default) scan parameters. */
  params?: Partial<ScanParams>;
  onProgress?: (p: ScanProgress) => void;
  signal?: AbortSignal;
}

/** One coarse detection, before its fine analysis. Boxes are inclusive source indices. */
export interface CoarseCandidate {
  /** 'map': a component of the network's coarse map; 'blob': a dark spot of the image. */
  source: 'map' | 'blob';
  /** Probability-weighted centre of the component (a blob's cell centre), continuous source index. */
  centerIndex: Vec3;
  /** Highest coarse-map value in the component (0-1). */
  peak: number;
  /** Sum of probability x cell volume, mL (0 for a blob). */
  massMl: number;
  /** A blob's darkness against its surroundings (standard deviations); 0 for a map component. */
  darkness: number;
  box: { min: Vec3; max: Vec3 };
  /** A map component's cells (indices into the coarse map, x fastest): its outline where the scan proposes the component itself. */
  cells?: Uint32Array;
}

export interface Candidate {
  /** 1 = the most likely lesion. */
  rank: number;
  /**
   * Raw detection score in [0, 1], what candidates are ranked by: the coarse pass's confidence
   * (see confidence(): map components above blobs), whatever the click analysis answered. The
   * click analysis decides what is proposed (`found`), not the order: on validation volumes it
   * answered "no lesion" at 6 of 36 lesions the detector marked with its highest confidence,
   * while its own false findings sat on small, weak map components. Not P(malignant).
   */
  rawScore: number;
  /**
   * The detection score shown: with the card's scan.calibration, the share of validation
   * proposals at this raw score that were lesions; else the raw score. Not P(malignant).
   */
  score: number;
  /** Where the fine analysis was centred: continuous source index and patient mm. */
  centerIndex: Vec3;
  centerMm: Vec3;
  /** Proposed as a lesion: the fine analysis found one there (the card's "no lesion" rule), and its score reaches the card's scan.minScore. */
  found: boolean;
  /** The lesion's source-index box when found, else the coarse component's (a blob's: 8 mm around it). */
  box: { min: Vec3; max: Vec3 };
  coarse: CoarseCandidate;
  /** The click analysis at centerIndex: segmentation, P(malignant), verdict, size. */
  analysis: AnalysisResult;
}

export interface ScanResult {
  /** Ranked by score. */
  candidates: Candidate[];
  /** Coarse components above the threshold (the fine pass looked at up to maxCandidates of them). */
  coarseCandidates: number;
  /** Dark blobs the fine pass looked at (at most blobCandidates). */
  blobs: number;
  windows: number;
  params: ScanParams;
  timingsMs: { windows: number; candidates: number; total: number };
}

/** What the scan needs from an engine: one window's probability map, and the click analysis. */
export interface WindowRunner {
  readonly card: ModelCard;
  /**
   * The segmentation probability over one window, from its grid values already resampled
   * (readWindow) and which of them fall inside the volume; both arrays may be transferred away.
   */
  windowProbability(plan: VoiPlan, window: WindowGrid, options: { iterations?: number; signal?: AbortSignal }): Promise<Float32Array>;
  analyze(source: VolumeSource, click: Vec3, options?: AnalyzeOptions): Promise<AnalysisResult>;
}

export function scanParams(card: ModelCard, overrides: Partial<ScanParams> = {}): ScanParams {
  const p = { ...DEFAULT_SCAN, ...card.scan, ...overrides };
  const triple = (v: Vec3) => Array.isArray(v) && v.length === 3 && v.every((x) => x > 0);
  if (!triple(p.strideMm)) throw new Error(`Scan stride must be three positive numbers (mm), got ${p.strideMm}`);
  const multiple = card.detector ? DETECTOR_GRID_MULTIPLE : 16;
  if (!triple(p.windowGrid) || p.windowGrid.some((g) => g % multiple !== 0)) throw new Error(`Scan window grid must be three multiples of ${multiple}${card.detector ? " (the detector's)" : ''}, got ${p.windowGrid}`);
  if (!(Number.isInteger(p.maxCandidates) && p.maxCandidates >= 0)) throw new Error(`maxCandidates must be a whole number >= 0, got ${p.maxCandidates}`);
  if (!(Number.isInteger(p.iterations) && p.iterations >= 1)) throw new Error(`Scan iterations must be a whole number >= 1, got ${p.iterations}`);
  if (!(p.cellMm > 0) || !(p.taperMm > 0)) throw new Error('Scan cellMm and taperMm must be positive');
  if (!(Number.isInteger(p.blobCandidates) && p.blobCandidates >= 0)) throw new Error(`blobCandidates must be a whole number >= 0, got ${p.blobCandidates}`);
  if (p.nmsMm !== undefined && !(p.nmsMm >= 0)) throw new Error(`Scan nmsMm must be a distance >= 0 (mm), got ${p.nmsMm}`);
  if (p.minScore !== undefined && !(p.minScore >= 0 && p.minScore <= 1)) throw new Error(`Scan minScore must be in [0, 1], got ${p.minScore}`);
  for (const key of ['secondLookScore', 'outlineScore', 'outlinePeak', 'outlinePart'] as const) {
    const v = p[key];
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= 1)) throw new Error(`Scan ${key} must be in [0, 1], got ${JSON.stringify(v)}`);
  }
  for (const key of ['inwardLook', 'detectorOutline'] as const) {
    if (p[key] !== undefined && typeof p[key] !== 'boolean') throw new Error(`Scan ${key} must be true or false, got ${JSON.stringify(p[key])}`);
  }
  const c = p.calibration;
  if (c && !(Array.isArray(c.raw) && Array.isArray(c.share) && c.raw.length === c.share.length && c.raw.length > 0 && c.raw.every((x, i) => i === 0 || x > c.raw[i - 1]) && c.share.every((y, i) => y >= 0 && y <= 1 && (i === 0 || y >= c.share[i - 1])))) {
    throw new Error('Scan calibration must be raw scores in ascending order with a share in [0, 1] each, not decreasing');
  }
  return p;
}

/**
 * The window grid for a volume: the scan's, shrunk on an axis where the volume is smaller (to
 * the volume rounded up to 16 voxels), but never below the model's own grid.
 */
export function windowGridFor(geometry: VolumeGeometry, windowGrid: Vec3, modelGrid: Vec3, voxelMm: number, multiple = 16): Vec3 {
  return [0, 1, 2].map((a) => {
    const fits = multiple * Math.ceil((geometry.dims[a] * geometry.spacing[a]) / voxelMm / multiple - 1e-9);
    return Math.max(modelGrid[a], Math.min(windowGrid[a], fits));
  }) as Vec3;
}

/**
 * Window centres along one axis (continuous source indices). A volume no wider than the window
 * gets one window in its middle (padded on both sides); a wider one gets windows inside it, the
 * first and last at its edges, ceil((extent - window) / stride) + 1 of them evenly spread, so
 * neighbouring centres are at most `stride` apart.
 */
export function axisCentres(dim: number, spacing: number, windowMm: number, strideMm: number): number[] {
  const extent = dim * spacing;
  const toIndex = (mm: number) => mm / spacing - 0.5;
  if (extent <= windowMm) return [toIndex(extent / 2)];
  const n = Math.ceil((extent - windowMm) / strideMm - 1e-9) + 1;
  return Array.from({ length: n }, (_, m) => toIndex(windowMm / 2 + ((extent - windowMm) * m) / (n - 1)));
}

/** The scan's windows: one plan per window of the tiling, i fastest. */
export function tileWindows(geometry: VolumeGeometry, grid: Vec3, voxelMm: number, strideMm: Vec3): VoiPlan[] {
  const [xs, ys, zs] = [0, 1, 2].map((a) => axisCentres(geometry.dims[a], geometry.spacing[a], grid[a] * voxelMm, strideMm[a]));
  const plans: VoiPlan[] = [];
  for (const z of zs) for (const y of ys) for (const x of xs) plans.push(planVoi(geometry, [x, y, z], grid, voxelMm));
  return plans;
}

/**
 * The coarse probability map: cells of cellMm over the volume (from its outer edge, voxel -0.5),
 * each the taper-weighted mean of the window voxels that fall in it.
 */
export class CoarseMap {
  readonly dims: Vec3;
  private readonly sum: Float32Array;
  private readonly weight: Float32Array;
  private readonly greySum: Float64Array;
  private readonly greyCount: Uint32Array;

  constructor(readonly geometry: VolumeGeometry, readonly cellMm: number) {
    this.dims = [0, 1, 2].map((a) => Math.max(1, Math.ceil((geometry.dims[a] * geometry.spacing[a]) / cellMm - 1e-9))) as Vec3;
    const n = this.dims[0] * this.dims[1] * this.dims[2];
    this.sum = new Float32Array(n);
    this.weight = new Float32Array(n);
    this.greySum = new Float64Array(n);
    this.greyCount = new Uint32Array(n);
  }

  /** Per axis of a window's grid: the cell of each grid index (-1 outside the volume) and its taper weight. */
  private gridCells(plan: VoiPlan, taperMm: number): { cell: Int32Array; w: Float32Array }[] {
    const { geometry, cellMm, dims } = this;
    return [0, 1, 2].map((a) => {
      const count = plan.grid[a];
      const cell = new Int32Array(count);
      const w = new Float32Array(count);
      for (let g = 0; g < count; g++) {
        const offsetMm = (g - (count - 1) / 2) * plan.voxelMm;
        const s = plan.center[a] + offsetMm / geometry.spacing[a];
        const inside = s >= -0.5 && s <= geometry.dims[a] - 0.5;
        cell[g] = inside ? Math.min(dims[a] - 1, Math.max(0, Math.floor(((s + 0.5) * geometry.spacing[a]) / cellMm))) : -1;
        w[g] = Number.isFinite(taperMm) ? Math.exp(-0.5 * (offsetMm / taperMm) ** 2) : 1;
      }
      return { cell, w };
    });
  }

  /**
   * Adds one window's grid probabilities (grid [x][y][z] with x fastest, as the network returns
   * them), planes [z0, z1) of it (default all).
   */
  add(plan: VoiPlan, prob: Float32Array, taperMm: number, z0 = 0, z1 = plan.grid[2]): void {
    this.accumulate(plan, taperMm, (n, row, w) => {
      this.sum[row] += w * prob[n];
      this.weight[row] += w;
    }, z0, z1);
  }

  /**
   * Adds one window's grid values to the grey-level grid (the mean per cell), for the dark-blob
   * candidates. Called before the values go to the network (a worker takes them).
   */
  addGrey(plan: VoiPlan, window: WindowGrid, z0 = 0, z1 = plan.grid[2]): void {
    this.accumulate(plan, Infinity, (n, cell) => {
      if (!window.inside[n]) return;
      this.greySum[cell] += window.values[n];
      this.greyCount[cell]++;
    }, z0, z1);
  }

  private accumulate(plan: VoiPlan, taperMm: number, visit: (n: number, cell: number, w: number) => void, z0: number, z1: number): void {
    const { dims } = this;
    const axes = this.gridCells(plan, taperMm);
    const [gx, gy] = plan.grid;
    let n = z0 * gx * gy;
    for (let z = z0; z < z1; z++) {
      const cz = axes[2].cell[z];
      for (let y = 0; y < gy; y++) {
        const cy = axes[1].cell[y];
        if (cz < 0 || cy < 0) {
          n += gx;
          continue;
        }
        const row = dims[0] * (cy + dims[1] * cz);
        const wzy = axes[2].w[z] * axes[1].w[y];
        for (let x = 0; x < gx; x++, n++) {
          const cx = axes[0].cell[x];
          if (cx >= 0) visit(n, row + cx, wzy * axes[0].w[x]);
        }
      }
    }
  }

  /** Mean grey level per cell (NaN where no window reached). */
  grey(): Float32Array {
    return Float32Array.from(this.greySum, (s, i) => (this.greyCount[i] > 0 ? s / this.greyCount[i] : NaN));
  }

  /** The map: weighted mean per cell (0 where no window reached). */
  values(): Float32Array {
    return this.sum.map((s, i) => (this.weight[i] > 0 ? s / this.weight[i] : 0));
  }
}

/**
 * Connected components (6-connected) of map >= threshold, with at least minMl of probability
 * mass, as candidates ranked by peak (best first).
 */
export function findCandidates(map: Float32Array, mapDims: Vec3, cellMm: number, geometry: VolumeGeometry, threshold: number, minMl: number): CoarseCandidate[] {
  const cellMl = cellMm ** 3 / 1000;
  const components: { peak: number; mass: number; weighted: number[]; lo: number[]; hi: number[]; cells: number[] }[] = [];
  labelComponents(map, mapDims, threshold, (label, x, y, z) => {
    const c = (components[label - 1] ??= { peak: 0, mass: 0, weighted: [0, 0, 0], lo: [...mapDims], hi: [-1, -1, -1], cells: [] });
    const cell = x + mapDims[0] * (y + mapDims[1] * z);
    const p = map[cell];
    c.cells.push(cell);
    c.peak = Math.max(c.peak, p);
    c.mass += p;
    [x, y, z].forEach((v, a) => {
      c.weighted[a] += p * v;
      c.lo[a] = Math.min(c.lo[a], v);
      c.hi[a] = Math.max(c.hi[a], v);
    });
  });
  const out: CoarseCandidate[] = [];
  for (const { peak, mass, weighted, lo, hi, cells } of components) {
    if (mass * cellMl < minMl) continue;
    // Cell c spans [c, c+1) * cellMm from the volume's outer edge, which is voxel index -0.5.
    const toIndex = (a: number, cellCoord: number) => (cellCoord * cellMm) / geometry.spacing[a] - 0.5;
    const clampIndex = (a: number, v: number) => Math.min(geometry.dims[a] - 1, Math.max(0, v));
    out.push({
      source: 'map',
      centerIndex: [0, 1, 2].map((a) => clampIndex(a, toIndex(a, weighted[a] / mass + 0.5))) as Vec3,
      peak,
      massMl: mass * cellMl,
      darkness: 0,
      box: {
        min: [0, 1, 2].map((a) => clampIndex(a, Math.ceil(toIndex(a, lo[a])))) as Vec3,
        max: [0, 1, 2].map((a) => clampIndex(a, Math.floor(toIndex(a, hi[a] + 1)))) as Vec3,
      },
      cells: Uint32Array.from(cells),
    });
  }
  return out.sort((a, b) => b.peak - a.peak || b.massMl - a.massMl);
}

/**
 * Gaussian blur of a grid along its three axes (sigma in cells), edges renormalised; NaN cells
 * count as absent. One axis a task: the whole blur of a volume's grid took 59 ms of one task on a
 * busy core (find-lesions e2e with a CPU hog), and it runs on the page's main thread.
 */
async function blurGrid(values: Float32Array, dims: Vec3, sigma: number): Promise<Float32Array> {
  const r = Math.ceil(3 * sigma);
  const kernel = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-0.5 * ((i - r) / sigma) ** 2));
  let cur = values.map((v) => (Number.isNaN(v) ? 0 : v));
  let wts = values.map((v) => (Number.isNaN(v) ? 0 : 1));
  const strides = [1, dims[0], dims[0] * dims[1]];
  for (let a = 0; a < 3; a++) {
    const next = new Float32Array(cur.length);
    const nextW = new Float32Array(cur.length);
    const n = dims[a];
    const st = strides[a];
    for (let v = 0; v < cur.length; v++) {
      const c = Math.floor(v / st) % n;
      let acc = 0;
      let w = 0;
      for (let d = Math.max(-r, -c); d <= Math.min(r, n - 1 - c); d++) {
        acc += kernel[d + r] * cur[v + d * st];
        w += kernel[d + r] * wts[v + d * st];
      }
      next[v] = acc;
      nextW[v] = w;
    }
    cur = next;
    wts = nextW;
    await nextTask();
  }
  return cur.map((v, i) => (wts[i] > 0 ? v / wts[i] : NaN));
}

/**
 * Dark blobs of the grey-level grid: local maxima of (surroundings - spot) / SD, the spot a
 * Gaussian of 2 mm, the surroundings one of 8 mm; at least `darkness` SDs, 10 mm apart, the
 * darkest first; none within 4 mm of the volume's faces or within `excludeMm` of a given centre
 * (the map's candidates).
 */
export async function darkBlobs(grey: Float32Array, dims: Vec3, cellMm: number, geometry: VolumeGeometry, darkness: number, count: number, exclude: Vec3[] = [], excludeMm = 10): Promise<CoarseCandidate[]> {
  if (count <= 0) return [];
  // Two passes over the typed array: the same sums, in the same order, as before it yielded between stages.
  let [n, sum, squares] = [0, 0, 0];
  for (const v of grey) {
    if (!Number.isFinite(v)) continue;
    n++;
    sum += v;
  }
  const mean = sum / Math.max(1, n);
  for (const v of grey) if (Number.isFinite(v)) squares += (v - mean) ** 2;
  const sd = Math.sqrt(squares / Math.max(1, n)) || 1;
  await nextTask();
  const spot = await blurGrid(grey, dims, 2 / cellMm);
  const around = await blurGrid(grey, dims, 8 / cellMm);
  const dog = spot.map((v, i) => (around[i] - v) / sd);
  await nextTask();
  const [nx, ny, nz] = dims;
  const peaks: { v: number; d: number }[] = [];
  // Not within 4 mm of the volume's faces: there the surroundings are one-sided (and skin is dark).
  const edge = Math.max(1, Math.round(4 / cellMm));
  const inner = (c: number, n: number) => c >= edge && c < n - edge;
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        if (!inner(x, nx) || !inner(y, ny) || !inner(z, nz)) continue;
        const v = x + nx * (y + ny * z);
        const d = dog[v];
        if (!(d >= darkness)) continue;
        let top = true;
        for (let dz = -1; dz <= 1 && top; dz++)
          for (let dy = -1; dy <= 1 && top; dy++)
            for (let dx = -1; dx <= 1 && top; dx++) {
              const [xx, yy, zz] = [x + dx, y + dy, z + dz];
              if ((dx || dy || dz) && xx >= 0 && yy >= 0 && zz >= 0 && xx < nx && yy < ny && zz < nz && dog[xx + nx * (yy + ny * zz)] > d) top = false;
            }
        if (top) peaks.push({ v, d });
      }
  peaks.sort((a, b) => b.d - a.d);
  const toMm = (c: Vec3) => c.map((i, a) => (i + 0.5) * geometry.spacing[a]);
  const far = (a: Vec3, b: Vec3) => {
    const [p, q] = [toMm(a), toMm(b)];
    return Math.hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]) >= excludeMm;
  };
  const out: CoarseCandidate[] = [];
  for (const { v, d } of peaks) {
    if (out.length >= count) break;
    const cell = [v % nx, Math.floor(v / nx) % ny, Math.floor(v / (nx * ny))];
    const centerIndex = cell.map((c, a) => Math.min(geometry.dims[a] - 1, Math.max(0, ((c + 0.5) * cellMm) / geometry.spacing[a] - 0.5))) as Vec3;
    if (!exclude.every((e) => far(e, centerIndex)) || !out.every((o) => far(o.centerIndex, centerIndex))) continue;
    const half = [0, 1, 2].map((a) => 4 / geometry.spacing[a]);
    out.push({
      source: 'blob',
      centerIndex,
      peak: 0,
      massMl: 0,
      darkness: d,
      box: {
        min: centerIndex.map((c, a) => Math.max(0, Math.round(c - half[a]))) as Vec3,
        max: centerIndex.map((c, a) => Math.min(geometry.dims[a] - 1, Math.round(c + half[a]))) as Vec3,
      },
    });
  }
  return out;
}

/** Two found lesions whose boxes overlap this much are one lesion. */
const DUPLICATE_IOU = 0.3;
/** An answer agrees with the detector's component when their boxes overlap by more than this IoU (the hit rule of the detection eval). */
const AGREEMENT_IOU = 0.3;

/** Intersection over union of two inclusive index boxes (voxel counts; the same in mm on one grid). */
export function boxIoU(a: { min: Vec3; max: Vec3 }, b: { min: Vec3; max: Vec3 }): number {
  let inter = 1;
  let va = 1;
  let vb = 1;
  for (let i = 0; i < 3; i++) {
    inter *= Math.max(0, Math.min(a.max[i], b.max[i]) - Math.max(a.min[i], b.min[i]) + 1);
    va *= Math.max(0, a.max[i] - a.min[i] + 1);
    vb *= Math.max(0, b.max[i] - b.min[i] + 1);
  }
  return inter > 0 ? inter / (va + vb - inter) : 0;
}

const inBox = (p: Vec3, box: { min: Vec3; max: Vec3 }) => p.every((v, a) => v >= box.min[a] - 0.5 && v <= box.max[a] + 0.5);
/** A lesion already found that this box duplicates: they overlap, or the box holds its centre. */
const duplicates = (found: Candidate[], box: { min: Vec3; max: Vec3 }) => found.some((f) => boxIoU(f.box, box) > DUPLICATE_IOU || inBox(f.centerIndex, box));
const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** Planes of a window's grid per task when the scan adds it to its map. */
const MAP_PLANES = 16;

async function inPlanes(plan: VoiPlan, step: (z0: number, z1: number) => void): Promise<void> {
  for (let z0 = 0; z0 < plan.grid[2]; z0 += MAP_PLANES) {
    await nextTask();
    step(z0, Math.min(plan.grid[2], z0 + MAP_PLANES));
  }
  await nextTask();
}

/** The coarse pass alone: the map over the whole volume and its components (for calibration and tests). */
export async function coarsePass(runner: WindowRunner, source: VolumeSource, params: ScanParams, options: Omit<ScanOptions, 'params'> = {}): Promise<{ map: CoarseMap; candidates: CoarseCandidate[]; blobs: CoarseCandidate[]; windows: number }> {
  if (source.dims.some((d) => d < 2)) throw new Error(`This is a 2-D image (${source.dims.join(' x ')}); finding lesions needs a 3-D volume`);
  const { grid, voxelMm } = runner.card.input;
  const geometry: VolumeGeometry = { dims: source.dims, spacing: source.spacing, origin: source.origin, direction: source.direction };
  const windowGrid = windowGridFor(geometry, params.windowGrid, grid, voxelMm, runner.card.detector ? DETECTOR_GRID_MULTIPLE : 16);
  const windows = tileWindows(geometry, windowGrid, voxelMm, params.strideMm);
  const map = new CoarseMap(geometry, params.cellMm);
  for (const [w, plan] of windows.entries()) {
    options.onProgress?.({ stage: 'window', step: w + 1, of: windows.length });
    const window = await readWindow(source, plan, options.signal);
    // The map's updates a few planes a task: a whole window in one task reached 163-212 ms on a
    // core shared with a CPU hog (find-lesions e2e), and a worker's answer arrives in a message task
    // of the page that would run them too.
    if (params.blobCandidates > 0) await inPlanes(plan, (z0, z1) => map.addGrey(plan, window, z0, z1));
    const prob = await runner.windowProbability(plan, window, { iterations: params.iterations, signal: options.signal });
    await inPlanes(plan, (z0, z1) => map.add(plan, prob, params.taperMm, z0, z1));
    checkAbort(options.signal);
  }
  const candidates = findCandidates(map.values(), map.dims, params.cellMm, geometry, params.threshold, params.minMl);
  await nextTask();
  const grey = map.grey();
  await nextTask();
  const blobs = await darkBlobs(grey, map.dims, params.cellMm, geometry, params.blobDarkness, params.blobCandidates, candidates.map((c) => c.centerIndex));
  return { map, candidates, blobs, windows: windows.length };
}

/**
 * How sure the coarse pass is, in [0, 1): a map component in [0.5, 1), from its peak and its
 * probability mass (a large, certain component near 1); a dark blob below 0.5, by its darkness.
 */
export function confidence(c: CoarseCandidate): number {
  if (c.source === 'blob') return 0.5 * Math.min(0.999, c.darkness / 4);
  return 0.5 + 0.5 * Math.min(1, Math.max(0, c.peak)) * (1 - Math.exp(-c.massMl / 0.5));
}

/**
 * Non-maximum suppression in millimetres: candidates (best first) whose centre lies within
 * `radiusMm` of a better one's are dropped. A map component can split in two at the threshold;
 * both halves would be analysed as clicks on one lesion.
 */
export function suppressNear<T extends { centerIndex: Vec3 }>(ranked: T[], radiusMm: number, spacing: Vec3): T[] {
  if (!(radiusMm > 0)) return ranked;
  const kept: T[] = [];
  const distMm = (a: Vec3, b: Vec3) => Math.hypot(...a.map((v, i) => (v - b[i]) * spacing[i]));
  for (const c of ranked) if (!kept.some((k) => distMm(k.centerIndex, c.centerIndex) < radiusMm)) kept.push(c);
  return kept;
}

/** The calibrated score: the validation share interpolated at `raw` (flat beyond the table's ends). */
export function calibratedScore(calibration: ScanParams['calibration'], raw: number): number {
  if (!calibration || !calibration.raw.length) return raw;
  const { raw: xs, share: ys } = calibration;
  if (raw <= xs[0]) return ys[0];
  if (raw >= xs[xs.length - 1]) return ys[ys.length - 1];
  let i = 1;
  while (xs[i] < raw) i++;
  const t = (raw - xs[i - 1]) / (xs[i] - xs[i - 1]);
  return ys[i - 1] + t * (ys[i] - ys[i - 1]);
}

/** A map candidate the detector is sure of (params.secondLookScore): it earns the scan's second looks. */
const isSure = (c: CoarseCandidate, rawScore: number, params: ScanParams) => c.source === 'map' && params.secondLookScore !== undefined && rawScore >= params.secondLookScore;
/** A map candidate the detector's outline stands for when the click analysis turns it down (params.detectorOutline). */
const isOutlined = (c: CoarseCandidate, rawScore: number, params: ScanParams) => {
  const minScore = params.outlineScore ?? params.secondLookScore;
  return c.source === 'map' && minScore !== undefined && rawScore >= minScore && c.peak >= (params.outlinePeak ?? 0);
};

/** A click segment so much smaller than its map component (params.outlinePart) that it is taken for a part of the lesion. */
const isPart = (c: Candidate, params: ScanParams) => params.outlinePart !== undefined && c.analysis.size.volumeMl < params.outlinePart * c.coarse.massMl;

/**
 * A map component's own outline on the source voxels: each voxel of its box whose map cell is
 * one of the component's (a voxel's centre, (i + 0.5) x spacing from the volume's outer edge,
 * lies in cell floor of that over cellMm).
 */
function componentOutline(c: CoarseCandidate, mapDims: Vec3, cellMm: number, spacing: Vec3): SourceMask {
  const cells = new Set(c.cells ?? []);
  const { min, max } = c.box;
  const [nx, ny, nz] = [0, 1, 2].map((a) => max[a] - min[a] + 1);
  const cellOf = (a: number, i: number) => Math.min(mapDims[a] - 1, Math.floor(((i + 0.5) * spacing[a]) / cellMm));
  const mask = new Uint8Array(nx * ny * nz);
  let voxelCount = 0;
  for (let z = 0; z < nz; z++) {
    const cz = cellOf(2, min[2] + z);
    for (let y = 0; y < ny; y++) {
      const cy = cellOf(1, min[1] + y);
      for (let x = 0; x < nx; x++) {
        if (!cells.has(cellOf(0, min[0] + x) + mapDims[0] * (cy + mapDims[1] * cz))) continue;
        mask[x + nx * (y + ny * z)] = 1;
        voxelCount++;
      }
    }
  }
  return { mask, min: [...min] as Vec3, max: [...max] as Vec3, voxelCount };
}

/**
 * What the scan proposes at a map candidate the detector is certain of and the click analysis
 * turned down or segmented a small part of, with params.detectorOutline: the detector's
 * component itself, centred at the component's centre, with no P(malignant) and no verdict (the
 * click analysis gave none, or gave one for the part). Why: on validation phantoms the click
 * analysis answered "no lesion" even at the true centre of lesions the detector marked with its
 * box on them (0.6-1.7 mL; docs/engine.md, Finding lesions).
 */
function detectorAnswer(turnedDown: AnalysisResult, c: CoarseCandidate, map: CoarseMap, spacing: Vec3): AnalysisResult {
  const lesion = componentOutline(c, map.dims, map.cellMm, spacing);
  return {
    ...turnedDown,
    found: lesion.voxelCount > 0,
    probability: null,
    probabilityRange: null,
    networkProbability: null,
    descriptors: null,
    verdict: null,
    label: null,
    lesion,
    size: measureLesion(lesion, spacing),
    // A part's own centre lies off the lesion's; Go to and the already-marked check use this one.
    centerIndex: c.centerIndex,
    outline: 'detector',
  };
}

/**
 * The click analysis at a candidate's centre; for a sure map candidate it turns down, once more
 * at the nearest voxel (params.secondLookScore), and if still turned down and its VOI crosses a
 * lateral or sweep face, once more with the VOI moved inwards (params.inwardLook). Returns where
 * the answer kept was centred.
 */
async function analyzeCandidate(runner: WindowRunner, source: VolumeSource, c: CoarseCandidate, rawScore: number, params: ScanParams, signal?: AbortSignal): Promise<{ analysis: AnalysisResult; centerIndex: Vec3 }> {
  const first = await runner.analyze(source, c.centerIndex, { centerSpace: 'voxel', signal });
  const nearest = c.centerIndex.map((v, a) => Math.min(source.dims[a] - 1, Math.max(0, Math.round(v)))) as Vec3;
  const sure = isSure(c, rawScore, params);
  let kept = { analysis: first, centerIndex: c.centerIndex };
  if (!sure) return kept;
  if (!first.found && nearest.some((v, a) => v !== c.centerIndex[a])) {
    const second = await runner.analyze(source, nearest, { centerSpace: 'voxel', signal });
    if (second.found) kept = { analysis: second, centerIndex: nearest };
  }
  // A lesion found centred keeps that answer, however little its box agrees with the component:
  // the inward VOI re-centres to a lattice point no click at the lesion takes, so replacing it
  // would give the proposal another P than a click at its centre (issue #22's bar).
  if (!params.inwardLook || kept.analysis.found) return kept;
  const centred = planClick(runner.card, source, kept.centerIndex, 'voxel');
  const moved = planClick(runner.card, source, kept.centerIndex, 'voxel', true);
  if (moved.center.every((v, a) => v === centred.center[a])) return kept;
  const inward = await runner.analyze(source, kept.centerIndex, { centerSpace: 'voxel', signal, inward: true });
  const agrees = inward.found && boxIoU({ min: inward.lesion.min, max: inward.lesion.max }, c.box) > AGREEMENT_IOU;
  return agrees ? { analysis: inward, centerIndex: kept.centerIndex } : kept;
}

/** The whole scan: coarse pass, then the click analysis of the best candidates. */
export async function scanVolume(runner: WindowRunner, source: VolumeSource, options: ScanOptions = {}): Promise<ScanResult> {
  const t0 = now();
  const params = scanParams(runner.card, options.params);
  const coarse = await coarsePass(runner, source, params, options);
  const t1 = now();
  const found: Candidate[] = [];
  const analysed: Candidate[] = [];
  const queue = [...suppressNear(coarse.candidates, params.nmsMm ?? 0, source.spacing).slice(0, params.maxCandidates), ...coarse.blobs];
  // A part that the detector's outline will replace (below) does not stand for its lesion yet: a
  // fuller segment of it from another component wins, and the part is then dropped.
  const yieldsToOutline = (f: Candidate) => !!params.detectorOutline && isPart(f, params) && isOutlined(f.coarse, f.rawScore, params);
  const standing = () => found.filter((f) => !yieldsToOutline(f));
  let step = 0;
  for (const c of queue) {
    // Another component of a lesion already found (a lesion can split at the threshold).
    if (standing().some((f) => inBox(c.centerIndex, f.box))) continue;
    options.onProgress?.({ stage: 'candidate', step: ++step, of: queue.length });
    const rawScore = confidence(c);
    const { analysis, centerIndex } = await analyzeCandidate(runner, source, c, rawScore, params, options.signal);
    const score = calibratedScore(params.calibration, rawScore);
    const candidate: Candidate = {
      rank: 0,
      rawScore,
      score,
      centerIndex,
      centerMm: indexToPatient(source, centerIndex),
      found: analysis.found && score >= (params.minScore ?? 0),
      box: analysis.found ? { min: analysis.lesion.min, max: analysis.lesion.max } : c.box,
      coarse: c,
      analysis,
    };
    // Two components can still lead to one lesion: the second finding of it is dropped.
    if (analysis.found && duplicates(standing(), candidate.box)) continue;
    analysed.push(candidate);
    if (analysis.found) found.push(candidate);
  }
  // The detector's own outlines last, so that a click analysis's segment of a lesion (from another
  // component of it) always wins over the outline.
  if (params.detectorOutline) {
    const partsOfFound = new Set<Candidate>();
    for (const [i, c] of analysed.entries()) {
      if ((c.analysis.found && !isPart(c, params)) || !isOutlined(c.coarse, c.rawScore, params)) continue;
      const analysis = detectorAnswer(c.analysis, c.coarse, coarse.map, source.spacing);
      const box = { min: analysis.lesion.min, max: analysis.lesion.max };
      if (!analysis.found) continue;
      if (duplicates(found.filter((f) => f !== c), box)) {
        if (c.analysis.found) partsOfFound.add(c);
        continue;
      }
      analysed[i] = { ...c, analysis, box, found: c.score >= (params.minScore ?? 0) };
      if (found.includes(c)) found[found.indexOf(c)] = analysed[i];
      else found.push(analysed[i]);
    }
    // A part of a lesion found whole from another component is a second finding of it.
    analysed.splice(0, analysed.length, ...analysed.filter((c) => !partsOfFound.has(c)));
    found.splice(0, found.length, ...found.filter((c) => !partsOfFound.has(c)));
  }
  const candidates = analysed.sort((a, b) => b.rawScore - a.rawScore).map((c, i) => ({ ...c, rank: i + 1 }));
  const t2 = now();
  return {
    candidates,
    coarseCandidates: coarse.candidates.length,
    blobs: coarse.blobs.length,
    windows: coarse.windows,
    params,
    timingsMs: { windows: Math.round(t1 - t0), candidates: Math.round(t2 - t1), total: Math.round(t2 - t0) },
  };
}
