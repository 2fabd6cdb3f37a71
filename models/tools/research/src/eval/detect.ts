/**
 * Detection evaluation as in the TDSC-ABUS 2023 challenge (its Final_Evaluation/det_score.py,
 * taken from the MELA challenge): every volume's candidates are boxes with a score in [0, 1]; a
 * candidate hits the truth lesion whose box it overlaps most if that IoU is > 0.3; at each score
 * threshold 0, 0.005, ..., 0.995 the true positives are the distinct lesions hit and the false
 * positives the candidates that hit none (a second hit of one lesion is neither); FROC is the
 * sensitivity at 0.125, 0.25, 0.5, 1, 2, 4 and 8 false positives per volume, interpolated
 * linearly, and their mean. Plus the per-volume Dice of the union of the accepted segments.
 */
import { Engine, ScanResult, SourceMask, Vec3, Volume } from '@abus-tumor-ai/engine';
import { blockSize } from '@abus-tumor-ai/engine/lab';
import { readLabels, readVolume } from '../data/tdsc';
import { readPhantomIndex } from '../phantom/dataset';
import * as fs from 'fs';
import * as path from 'path';
import { writeAtomic } from '../atomic';
import { Rng } from '../train/rng';

export const KEY_FP = [0.125, 0.25, 0.5, 1, 2, 4, 8];
export const HIT_IOU = 0.3;
/** TDSC-ABUS 2023's best detection FROC (the same definition, on real volumes): the plot's reference line. */
export const TDSC_BEST_FROC = 0.847;
/** Lesion sizes the sensitivity is split by (mL): < 0.5, 0.5-2, > 2. */
export const SIZE_BINS_ML = [0.5, 2];

/** An axis-aligned box in mm: [lo, hi] along each voxel axis (from voxel 0's centre). */
export interface BoxMm {
  lo: Vec3;
  hi: Vec3;
}

/** The mm box of an inclusive voxel-index box: each voxel spans its index +- 0.5. */
export function indexBoxMm(box: { min: Vec3; max: Vec3 }, spacing: Vec3): BoxMm {
  return {
    lo: [0, 1, 2].map((a) => (box.min[a] - 0.5) * spacing[a]) as Vec3,
    hi: [0, 1, 2].map((a) => (box.max[a] + 0.5) * spacing[a]) as Vec3,
  };
}

export function boxIoUMm(a: BoxMm, b: BoxMm): number {
  let inter = 1;
  for (let i = 0; i < 3; i++) inter *= Math.max(0, Math.min(a.hi[i], b.hi[i]) - Math.max(a.lo[i], b.lo[i]));
  if (inter <= 0) return 0;
  const vol = (x: BoxMm) => (x.hi[0] - x.lo[0]) * (x.hi[1] - x.lo[1]) * (x.hi[2] - x.lo[2]);
  return inter / (vol(a) + vol(b) - inter);
}

export interface VolumeDetections {
  predictions: { score: number; box: BoxMm }[];
  truths: BoxMm[];
  /**
   * Which truths count (default all). A candidate on a truth that does not count is neither a hit
   * nor a false positive, so the sensitivity of one size of lesion keeps the false positives of all.
   */
  counted?: boolean[];
}

export interface FrocResult {
  /** One point per score threshold: false positives per volume and sensitivity. */
  curve: { threshold: number; fp: number; recall: number }[];
  /** Sensitivity at each of KEY_FP. */
  keyRecall: number[];
  /** Their mean: the challenge's FROC score. */
  mean: number;
  maxRecall: number;
  /** Volumes, truth lesions and candidates it was computed on. */
  volumes: number;
  lesions: number;
  candidates: number;
}

/** Per candidate: the truth it overlaps most (-1: none) and that IoU. */
function bestHits(v: VolumeDetections): { hit: number; iou: number }[] {
  return v.predictions.map((p) => {
    let hit = -1;
    let iou = 0;
    v.truths.forEach((t, n) => {
      const o = boxIoUMm(p.box, t);
      if (o > iou) {
        iou = o;
        hit = n;
      }
    });
    return { hit, iou };
  });
}

export function froc(volumes: VolumeDetections[], iouThreshold = HIT_IOU, keyFp = KEY_FP): FrocResult {
  const hits = volumes.map(bestHits);
  const lesions = volumes.reduce((n, v) => n + v.truths.filter((_, t) => v.counted?.[t] ?? true).length, 0);
  const curve: FrocResult['curve'] = [];
  for (let step = 0; step < 200; step++) {
    const threshold = step * 0.005;
    let tp = 0;
    let fp = 0;
    volumes.forEach((v, i) => {
      const found = new Set<number>();
      v.predictions.forEach((p, j) => {
        if (!(p.score >= threshold)) return;
        if (hits[i][j].iou > iouThreshold) found.add(hits[i][j].hit);
        else fp++;
      });
      tp += [...found].filter((n) => v.counted?.[n] ?? true).length;
    });
    curve.push({ threshold, fp: fp / Math.max(1, volumes.length), recall: lesions ? tp / lesions : 1 });
  }
  // Sorted by false positives; at equal false positives the higher sensitivity comes last, so
  // "the last point at or below" a key is the best one there (the challenge's pandas sort leaves
  // ties in no defined order).
  const sorted = [...curve].sort((a, b) => a.fp - b.fp || a.recall - b.recall);
  const maxRecall = Math.max(...curve.map((p) => p.recall));
  const keyRecall = keyFp.map((key) => {
    const below = sorted.filter((p) => p.fp <= key);
    const above = sorted.filter((p) => p.fp >= key);
    if (!below.length) return 0;
    if (!above.length) return maxRecall;
    const p0 = below[below.length - 1];
    const p1 = above[0];
    return p0.recall + (p1.recall - p0.recall) * ((key - p0.fp) / (p1.fp - p0.fp + 1e-8));
  });
  return {
    curve,
    keyRecall,
    mean: keyRecall.reduce((a, b) => a + b, 0) / keyRecall.length,
    maxRecall,
    volumes: volumes.length,
    lesions,
    candidates: volumes.reduce((n, v) => n + v.predictions.length, 0),
  };
}

/**
 * The FROC score's 95% interval by the bootstrap over volumes (the unit the score averages over):
 * `draws` resamples of the volumes with replacement, seeded, so a report is reproducible.
 */
export function frocInterval(volumes: VolumeDetections[], draws = 1000, seed = 23): [number, number] {
  if (!volumes.length) return [NaN, NaN];
  const rng = new Rng(seed);
  const scores = Array.from({ length: draws }, () => froc(volumes.map(() => volumes[Math.floor(rng.next() * volumes.length)])).mean).sort((a, b) => a - b);
  return [scores[Math.floor(0.025 * (draws - 1))], scores[Math.ceil(0.975 * (draws - 1))]];
}

/** Sensitivity at 1 false positive per volume for each lesion size (SIZE_BINS_ML), the false positives of all candidates counting. */
export function sensitivityBySize(volumes: VolumeDetections[], truthMl: number[][]): { label: string; lesions: number; sensitivityAt1Fp: number }[] {
  const edges = [0, ...SIZE_BINS_ML, Infinity];
  return edges.slice(1).map((hi, b) => {
    const lo = edges[b];
    const label = lo === 0 ? `< ${hi} mL` : hi === Infinity ? `> ${lo} mL` : `${lo}-${hi} mL`;
    const counted = volumes.map((v, i) => ({ ...v, counted: truthMl[i].map((ml) => ml >= lo && ml < hi) }));
    const f = froc(counted);
    return { label, lesions: f.lesions, sensitivityAt1Fp: f.keyRecall[KEY_FP.indexOf(1)] };
  });
}

/**
 * The lesions of a truth mask: 26-connected components, each with its voxel box. With centres
 * (phantoms know them) only the components at those voxels, so a detached speck is no lesion.
 * Memory: one byte per voxel for the visited marks.
 */
export function truthLesions(mask: Volume, centers?: Vec3[]): { min: Vec3; max: Vec3; voxels: number }[] {
  const [nx, ny, nz] = mask.dims;
  const seen = new Uint8Array(mask.data.length);
  const out: { min: Vec3; max: Vec3; voxels: number }[] = [];
  const grow = (start: number) => {
    const stack = [start];
    seen[start] = 1;
    const min: Vec3 = [nx, ny, nz];
    const max: Vec3 = [-1, -1, -1];
    let voxels = 0;
    while (stack.length) {
      const v = stack.pop()!;
      voxels++;
      const x = v % nx;
      const y = Math.floor(v / nx) % ny;
      const z = Math.floor(v / (nx * ny));
      const p = [x, y, z];
      for (let a = 0; a < 3; a++) {
        if (p[a] < min[a]) min[a] = p[a];
        if (p[a] > max[a]) max[a] = p[a];
      }
      for (let dz = -1; dz <= 1; dz++)
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++) {
            const [xx, yy, zz] = [x + dx, y + dy, z + dz];
            if (xx < 0 || yy < 0 || zz < 0 || xx >= nx || yy >= ny || zz >= nz) continue;
            const u = xx + nx * (yy + ny * zz);
            if (!seen[u] && mask.data[u]) {
              seen[u] = 1;
              stack.push(u);
            }
          }
    }
    out.push({ min, max, voxels });
  };
  if (centers) {
    for (const c of centers) {
      const v = Math.round(c[0]) + nx * (Math.round(c[1]) + ny * Math.round(c[2]));
      if (mask.data[v] && !seen[v]) grow(v);
    }
  } else {
    for (let v = 0; v < mask.data.length; v++) if (mask.data[v] && !seen[v]) grow(v);
  }
  return out;
}

/**
 * Dice of the union of the segments against the whole truth mask; 1 when both are empty.
 * Only the segments' joint box is painted, never a second whole-volume array.
 */
export function unionDice(mask: Volume, segments: SourceMask[], truthVoxels: number): number {
  const parts = segments.filter((s) => s.voxelCount > 0);
  if (!parts.length) return truthVoxels ? 0 : 1;
  const lo = [0, 1, 2].map((a) => Math.min(...parts.map((s) => s.min[a]))) as Vec3;
  const hi = [0, 1, 2].map((a) => Math.max(...parts.map((s) => s.max[a]))) as Vec3;
  const size = blockSize(lo, hi);
  const painted = new Uint8Array(size[0] * size[1] * size[2]);
  for (const s of parts) {
    const b = blockSize(s.min, s.max);
    for (let k = 0; k < b[2]; k++)
      for (let j = 0; j < b[1]; j++)
        for (let i = 0; i < b[0]; i++)
          if (s.mask[i + b[0] * (j + b[1] * k)]) painted[s.min[0] + i - lo[0] + size[0] * (s.min[1] + j - lo[1] + size[1] * (s.min[2] + k - lo[2]))] = 1;
  }
  const [nx, ny] = mask.dims;
  let predicted = 0;
  let both = 0;
  for (let k = 0; k < size[2]; k++)
    for (let j = 0; j < size[1]; j++)
      for (let i = 0; i < size[0]; i++) {
        if (!painted[i + size[0] * (j + size[1] * k)]) continue;
        predicted++;
        if (mask.data[lo[0] + i + nx * (lo[1] + j + ny * (lo[2] + k))]) both++;
      }
  return (2 * both) / (predicted + truthVoxels);
}

/** One volume of the detection evaluation. */
export interface DetectCase {
  caseId: string;
  volume: Volume;
  mask: Volume;
  /** Lesion centres when known (phantoms); else every mask component is a lesion. */
  lesionCenters?: Vec3[];
}

export interface DetectCaseResult {
  caseId: string;
  lesions: number;
  /**
   * Candidates ranked, each with its best truth overlap (hit -1: none). found: proposed (the
   * click analysis found a lesion and the score reaches the card's minScore); analysisFound: the
   * click analysis found one, whatever the score.
   */
  candidates: { score: number; shown: number; found: boolean; analysisFound: boolean; probability: number | null; box: BoxMm; hit: number; iou: number; from: 'map' | 'blob'; peak: number; massMl: number; darkness: number; volumeMl: number; outline: 'detector' | undefined }[];
  /** Dice of the union of the found (accepted) segments against the truth. */
  dice: number;
  windows: number;
  ms: { windows: number; candidates: number; total: number };
  truths: BoxMm[];
  /** Each truth lesion's volume (mL), in the order of truths. */
  truthMl: number[];
}

export async function evaluateDetectCase(engine: Engine, c: DetectCase, scan: (e: Engine, v: Volume) => Promise<ScanResult>): Promise<DetectCaseResult> {
  const truth = truthLesions(c.mask, c.lesionCenters);
  const truths = truth.map((t) => indexBoxMm(t, c.volume.spacing));
  const voxelMl = c.volume.spacing.reduce((a, b) => a * b, 1) / 1000;
  let truthVoxels = 0;
  for (let v = 0; v < c.mask.data.length; v++) if (c.mask.data[v]) truthVoxels++;
  const result = await scan(engine, c.volume);
  // Ranked by the raw score: a calibrated one is flat where validation could not tell candidates apart.
  const predictions = result.candidates.map((k) => ({ score: k.rawScore, box: indexBoxMm(k.box, c.volume.spacing) }));
  const hits = bestHits({ predictions, truths });
  return {
    caseId: c.caseId,
    lesions: truth.length,
    candidates: result.candidates.map((k, n) => ({ score: k.rawScore, shown: k.score, found: k.found, analysisFound: k.analysis.found, probability: k.analysis.probability, box: predictions[n].box, ...hits[n], from: k.coarse.source, peak: k.coarse.peak, massMl: k.coarse.massMl, darkness: k.coarse.darkness, volumeMl: k.found ? k.analysis.size.volumeMl : 0, outline: k.analysis.outline })),
    dice: unionDice(c.mask, result.candidates.filter((k) => k.found).map((k) => k.analysis.lesion), truthVoxels),
    windows: result.windows,
    ms: result.timingsMs,
    truths,
    truthMl: truth.map((t) => t.voxels * voxelMl),
  };
}

export interface DetectSummary {
  /** FROC of the proposals: the candidates the scan proposes (found), what the viewer lists, ranked by their detection score. */
  froc: FrocResult;
  /** FROC of every candidate the scan analysed, proposed or not: the detector's list before the click analysis's "no lesion". */
  candidatesFroc: FrocResult;
  /** The FROC score's 95% bootstrap interval over volumes. */
  frocInterval: [number, number];
  /** Sensitivity at 1 FP per volume by lesion size. */
  bySize: { label: string; lesions: number; sensitivityAt1Fp: number }[];
  /** Sensitivity at 1 false positive per volume. */
  recallAt1Fp: number;
  /** Accepted (found) candidates only: lesions hit and false positives per volume. */
  accepted: { recall: number; fpPerVolume: number };
  dice: { all: number; withLesions: number; lesionFree: number };
  volumes: number;
  lesionFreeVolumes: number;
  lesions: number;
  secondsPerVolume: number;
}

export function summarizeDetection(results: DetectCaseResult[]): DetectSummary {
  // What a reader is shown: the proposals (found), ranked by the detector's score. Every
  // candidate the scan analysed, proposed or not, is the detector's own list (candidatesFroc).
  const volumes = results.map((r) => ({ predictions: r.candidates.filter((c) => c.found).map((c) => ({ score: c.score, box: c.box })), truths: r.truths }));
  const f = froc(volumes);
  const candidatesFroc = froc(results.map((r) => ({ predictions: r.candidates.map((c) => ({ score: c.score, box: c.box })), truths: r.truths })));
  const frocBounds = frocInterval(volumes);
  const bySize = sensitivityBySize(volumes, results.map((r) => r.truthMl));
  const acceptedRun = froc(results.map((r) => ({ predictions: r.candidates.filter((c) => c.found).map((c) => ({ score: 1, box: c.box })), truths: r.truths })));
  const last = acceptedRun.curve[acceptedRun.curve.length - 1];
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  const withLesions = results.filter((r) => r.lesions > 0);
  const free = results.filter((r) => r.lesions === 0);
  return {
    froc: f,
    candidatesFroc,
    frocInterval: frocBounds,
    bySize,
    recallAt1Fp: f.keyRecall[KEY_FP.indexOf(1)],
    accepted: { recall: last.recall, fpPerVolume: last.fp },
    dice: { all: mean(results.map((r) => r.dice)), withLesions: mean(withLesions.map((r) => r.dice)), lesionFree: mean(free.map((r) => r.dice)) },
    volumes: results.length,
    lesionFreeVolumes: free.length,
    lesions: f.lesions,
    secondsPerVolume: mean(results.map((r) => r.ms.total / 1000)),
  };
}

/** A volume of a detection dataset, read when needed (a whole volume is large: one at a time). */
export interface DetectEntry {
  caseId: string;
  dataPath: string;
  maskPath: string;
  /** Phantoms: the lesion centres (voxel indices); else every mask component is a lesion. */
  lesionCenters?: Vec3[];
}

/**
 * The volumes of a folder: a phantom dataset (phantoms.json: every case, the lesion-free ones
 * too, with the lesion centres) or a TDSC-ABUS layout (labels.csv; lesions are the mask's
 * components). Phantom images must have been written as NRRD.
 */
export function detectEntries(dir: string, limit?: number): DetectEntry[] {
  let entries: DetectEntry[];
  if (fs.existsSync(path.join(dir, 'phantoms.json'))) {
    entries = readPhantomIndex(dir).cases.map((c) => {
      if (!/\.nrrd$/i.test(c.data_path)) throw new Error(`${dir}: case ${c.name} has no NRRD image (write the phantoms with --format nrrd)`);
      return { caseId: c.name, dataPath: path.resolve(dir, c.data_path), maskPath: path.resolve(dir, c.mask_path), lesionCenters: c.lesions.map((l) => l.centerIndex) };
    });
  } else {
    entries = readLabels(dir).map((e) => ({ caseId: e.caseId, dataPath: e.dataPath, maskPath: e.maskPath }));
  }
  return entries.slice(0, limit);
}

export function loadDetectCase(entry: DetectEntry, spacing?: Vec3): DetectCase {
  const volume = readVolume(entry.dataPath, spacing);
  const mask = readVolume(entry.maskPath, spacing);
  if (volume.dims.join() !== mask.dims.join()) throw new Error(`${entry.caseId}: mask ${mask.dims.join('x')} does not match volume ${volume.dims.join('x')}`);
  return { caseId: entry.caseId, volume, mask, lesionCenters: entry.lesionCenters };
}

/** The FROC curve with the challenge's false-positive rates marked (log2 axis, 1/16 to 16 per volume). */
export function frocSvg(f: FrocResult, title = 'FROC'): string {
  const width = 480;
  const height = 400;
  const pad = 55;
  const lo = Math.log2(1 / 16);
  const hi = Math.log2(16);
  const x = (fp: number) => pad + ((Math.log2(Math.max(fp, 1 / 16)) - lo) / (hi - lo)) * (width - 2 * pad);
  const y = (r: number) => height - pad - r * (height - 2 * pad);
  // The curve as a step function over false positives, through every distinct point.
  const points = [...f.curve].sort((a, b) => a.fp - b.fp || a.recall - b.recall).filter((p) => p.fp <= 16);
  const line = points.map((p) => `${x(p.fp).toFixed(1)},${y(p.recall).toFixed(1)}`).join(' ');
  const ticks = [1 / 16, 0.125, 0.25, 0.5, 1, 2, 4, 8, 16];
  const tickText = (t: number) => (t < 1 ? `1/${1 / t}` : String(t));
  const keys = KEY_FP.map((k, i) => `<circle cx="${x(k).toFixed(1)}" cy="${y(f.keyRecall[i]).toFixed(1)}" r="4" fill="#d62728"/>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<rect x="${pad}" y="${pad}" width="${width - 2 * pad}" height="${height - 2 * pad}" fill="none" stroke="black"/>
${ticks.map((t) => `<line x1="${x(t).toFixed(1)}" y1="${pad}" x2="${x(t).toFixed(1)}" y2="${height - pad}" stroke="#ddd"/><text x="${x(t).toFixed(1)}" y="${height - pad + 16}" font-size="11" text-anchor="middle">${tickText(t)}</text>`).join('\n')}
${[0, 0.25, 0.5, 0.75, 1].map((r) => `<text x="${pad - 6}" y="${(y(r) + 4).toFixed(1)}" font-size="11" text-anchor="end">${r}</text>`).join('\n')}
<text x="${width / 2}" y="${height - 15}" font-size="13" text-anchor="middle">False positives per volume</text>
<text x="15" y="${height / 2}" font-size="13" text-anchor="middle" transform="rotate(-90 15 ${height / 2})">Sensitivity</text>
<text x="${width / 2}" y="30" font-size="14" text-anchor="middle">${title} (research use, not for clinical diagnosis)</text>
<line x1="${pad}" y1="${y(TDSC_BEST_FROC).toFixed(1)}" x2="${width - pad}" y2="${y(TDSC_BEST_FROC).toFixed(1)}" stroke="#2ca02c" stroke-dasharray="6 4"/>
<text x="${pad + 6}" y="${(y(TDSC_BEST_FROC) - 5).toFixed(1)}" font-size="11" fill="#2ca02c">TDSC-ABUS 2023 best FROC ${TDSC_BEST_FROC} (real volumes), for reference</text>
<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="${line}"/>
${keys.join('\n')}
<text x="${width - pad - 8}" y="${height - pad - 12}" font-size="12" text-anchor="end">FROC ${f.mean.toFixed(3)} (${f.volumes} volumes, ${f.lesions} lesions)</text>
</svg>
`;
}

/** The table of the summary, as markdown. */
export function detectTable(s: DetectSummary): string {
  const head = `| volumes | lesion-free | lesions | ${KEY_FP.map((k) => `sens@${k}`).join(' | ')} | FROC of the proposals (95% interval) | Dice (all) | Dice (with lesions) | s/volume |`;
  const rule = `|${' --- |'.repeat(KEY_FP.length + 7)}`;
  const [lo, hi] = s.frocInterval;
  const row = `| ${s.volumes} | ${s.lesionFreeVolumes} | ${s.lesions} | ${s.froc.keyRecall.map((r) => r.toFixed(3)).join(' | ')} | ${s.froc.mean.toFixed(3)} (${lo.toFixed(3)}-${hi.toFixed(3)}) | ${s.dice.all.toFixed(3)} | ${s.dice.withLesions.toFixed(3)} | ${s.secondsPerVolume.toFixed(1)} |`;
  const sizes = ['', '| lesion size | lesions | sensitivity at 1 FP per volume |', '| --- | --- | --- |', ...s.bySize.map((b) => `| ${b.label} | ${b.lesions} | ${b.lesions ? b.sensitivityAt1Fp.toFixed(3) : '-'} |`)];
  const candidates = `\nEvery candidate the scan analysed, proposed or not (the detector's list; the viewer lists only the proposals): FROC ${s.candidatesFroc.mean.toFixed(3)}, ${s.candidatesFroc.keyRecall[KEY_FP.indexOf(1)].toFixed(3)} at 1 FP per volume.`;
  return [head, rule, row, ...sizes, candidates].join('\n') + '\n';
}

export function detectCsv(results: DetectCaseResult[]): string {
  const rows = results.flatMap((r) => (r.candidates.length ? r.candidates : [null]).map((c, n) =>
    [r.caseId, r.lesions, r.dice.toFixed(4), c ? n + 1 : '', c?.score.toFixed(4) ?? '', c?.shown.toFixed(4) ?? '', c ? (c.found ? 1 : 0) : '', c?.probability ?? '', c ? c.hit : '', c?.iou.toFixed(3) ?? '', c?.from ?? '', c?.peak.toFixed(3) ?? '', c?.massMl.toFixed(4) ?? '', c?.darkness.toFixed(3) ?? '', c?.volumeMl.toFixed(4) ?? '', c?.outline ?? ''].join(',')));
  return ['case,lesions,dice,rank,score,shown_score,found,probability,hit,iou,from,coarse_peak,coarse_ml,darkness,volume_ml,outline', ...rows].join('\n') + '\n';
}

/** table.md, metrics.json, candidates.csv and froc.svg in `dir`. */
export function writeDetectReport(dir: string, summary: DetectSummary, results: DetectCaseResult[], about: Record<string, unknown>): void {
  fs.mkdirSync(dir, { recursive: true });
  writeAtomic(path.join(dir, 'table.md'), `Research use only, not for clinical diagnosis.\n\n${detectTable(summary)}`);
  const { curve: _curve, ...frocKeys } = summary.froc;
  writeAtomic(path.join(dir, 'metrics.json'), JSON.stringify({ ...about, ...summary, froc: frocKeys, keyFp: KEY_FP }, null, 2) + '\n');
  writeAtomic(path.join(dir, 'candidates.csv'), detectCsv(results));
  writeAtomic(path.join(dir, 'froc.svg'), frocSvg(summary.froc));
}

/**
 * The detection score's calibration (the card's scan.calibration): pool-adjacent-violators over
 * the validation candidates the click analysis found a lesion at (before the card's minScore), so the share of lesions never falls as the raw score rises; one point
 * per pooled block, at its mean raw score.
 */
export function fitScoreCalibration(points: { raw: number; lesion: boolean }[]): { raw: number[]; share: number[] } {
  const sorted = [...points].sort((a, b) => a.raw - b.raw);
  const blocks: { rawSum: number; hits: number; n: number }[] = [];
  for (const p of sorted) {
    blocks.push({ rawSum: p.raw, hits: p.lesion ? 1 : 0, n: 1 });
    // Equal raw scores are one block; a block with a higher share than the next is pooled with it.
    while (blocks.length > 1) {
      const [a, b] = blocks.slice(-2);
      if (!(a.hits / a.n >= b.hits / b.n || a.rawSum / a.n === b.rawSum / b.n)) break;
      blocks.splice(-2, 2, { rawSum: a.rawSum + b.rawSum, hits: a.hits + b.hits, n: a.n + b.n });
    }
  }
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return { raw: blocks.map((b) => b.rawSum / b.n), share: blocks.map((b) => round(b.hits / b.n)) };
}
