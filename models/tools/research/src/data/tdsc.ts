/**
 * Datasets in the TDSC-ABUS challenge layout: labels.csv (case_id,label,data_path,mask_path),
 * DATA_xxx.nrrd volumes (or DICOM series folders) and MASK_xxx.nrrd masks (0 background, 1 tumour). The public challenge
 * headers carry identity spacing, so spacing can be supplied and is checked for plausibility.
 * Lesions (centre and class) come from phantoms.json when present (synthetic data knows every
 * lesion's class), else from the mask: its largest connected component, with the case's label.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Vec3, Volume } from '@abus-tumor-ai/engine';
import { readVolumeFile } from './volume-file';

export interface LesionSample {
  /** Voxel index of the lesion centre. */
  center: Vec3;
  malignant: boolean;
  /** Lesion volume in mL, from the mask component (or the phantom's truth). */
  volumeMl: number;
}

export interface CaseEntry {
  caseId: string;
  /** Patients, for fold assignment; TDSC gives none, so each case is its own patient. */
  patientId: string;
  label: 'M' | 'B';
  dataPath: string;
  maskPath: string;
}

export interface LoadedCase extends CaseEntry {
  volume: Volume;
  mask: Volume;
  lesions: LesionSample[];
}

export function readLabels(dir: string): CaseEntry[] {
  const file = path.join(dir, 'labels.csv');
  if (!fs.existsSync(file)) throw new Error(`No labels.csv in ${dir} (expected the TDSC-ABUS layout: case_id,label,data_path,mask_path)`);
  const lines = fs.readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l.trim());
  const header = lines[0].split(',').map((h) => h.trim().toLowerCase());
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0 && name !== 'patient_id') throw new Error(`labels.csv lacks the column '${name}'`);
    return i;
  };
  const [id, label, data, mask, patient] = ['case_id', 'label', 'data_path', 'mask_path', 'patient_id'].map(col);
  return lines.slice(1).map((line, n) => {
    const cells = line.split(',').map((c) => c.trim());
    const l = cells[label]?.toUpperCase();
    if (l !== 'M' && l !== 'B') throw new Error(`labels.csv line ${n + 2}: label must be M or B, got '${cells[label]}'`);
    return {
      caseId: cells[id],
      patientId: patient >= 0 && cells[patient] ? cells[patient] : cells[id],
      label: l,
      dataPath: path.resolve(dir, cells[data]),
      maskPath: path.resolve(dir, cells[mask]),
    };
  });
}

/** TDSC-ABUS spacing is about 0.2 x 0.073 x 0.476 mm; far outside 0.02-2 mm is suspicious. */
export function spacingWarning(spacing: Vec3): string | undefined {
  if (spacing.every((s) => Math.abs(s - 1) < 1e-9)) return 'spacing is 1 x 1 x 1 mm, as some TDSC-ABUS headers state; pass --spacing if that is not the real spacing';
  if (spacing.some((s) => s < 0.02 || s > 2)) return `spacing ${spacing.join(' x ')} mm is implausible for ABUS`;
  return undefined;
}

interface PhantomJsonCase {
  name: string;
  lesions: { centerIndex: Vec3; malignant: boolean; volume_ml: number }[];
}

function phantomLesions(dir: string): Map<string, LesionSample[]> | undefined {
  const file = path.join(dir, 'phantoms.json');
  if (!fs.existsSync(file)) return undefined;
  const index = JSON.parse(fs.readFileSync(file, 'utf8')) as { cases: PhantomJsonCase[] };
  return new Map(index.cases.map((c) => [c.name, c.lesions.map((l) => ({ center: l.centerIndex, malignant: l.malignant, volumeMl: l.volume_ml }))]));
}

/** Centroid and size of the largest 6-connected component of a 0/1 mask. */
export function largestComponent(mask: Volume): { center: Vec3; voxels: number } | undefined {
  const [nx, ny, nz] = mask.dims;
  const labels = new Int32Array(mask.data.length);
  const queue = new Int32Array(mask.data.length);
  let best: { center: Vec3; voxels: number } | undefined;
  let next = 0;
  for (let start = 0; start < mask.data.length; start++) {
    if (!mask.data[start] || labels[start]) continue;
    labels[start] = ++next;
    let head = 0;
    let tail = 0;
    queue[tail++] = start;
    const sum = [0, 0, 0];
    while (head < tail) {
      const v = queue[head++];
      const x = v % nx;
      const y = Math.floor(v / nx) % ny;
      const z = Math.floor(v / (nx * ny));
      sum[0] += x;
      sum[1] += y;
      sum[2] += z;
      for (const [ok, u] of [[x > 0, v - 1], [x < nx - 1, v + 1], [y > 0, v - nx], [y < ny - 1, v + nx], [z > 0, v - nx * ny], [z < nz - 1, v + nx * ny]] as [boolean, number][]) {
        if (ok && mask.data[u] && !labels[u]) {
          labels[u] = next;
          queue[tail++] = u;
        }
      }
    }
    if (!best || tail > best.voxels) best = { center: [sum[0] / tail, sum[1] / tail, sum[2] / tail], voxels: tail };
  }
  return best;
}

/** An NRRD file, or a folder of DICOM files (a single-frame series or one multi-frame sweep). */
export function readVolume(file: string, spacing?: Vec3): Volume {
  if (!fs.existsSync(file)) throw new Error(`Missing file: ${file}`);
  return readVolumeFile(file, spacing);
}

export function loadCase(entry: CaseEntry, options: { spacing?: Vec3; phantoms?: Map<string, LesionSample[]> } = {}): LoadedCase {
  const volume = readVolume(entry.dataPath, options.spacing);
  const mask = readVolume(entry.maskPath, options.spacing);
  if (volume.dims.join() !== mask.dims.join()) throw new Error(`${entry.caseId}: mask ${mask.dims.join('x')} does not match volume ${volume.dims.join('x')}`);
  const name = path.basename(entry.dataPath).replace(/\.n(rrd|hdr)$/i, '');
  let lesions = options.phantoms?.get(name);
  if (!lesions) {
    const main = largestComponent(mask);
    if (!main) throw new Error(`${entry.caseId}: the mask is empty`);
    const voxelMl = (volume.spacing[0] * volume.spacing[1] * volume.spacing[2]) / 1000;
    lesions = [{ center: main.center, malignant: entry.label === 'M', volumeMl: main.voxels * voxelMl }];
  }
  return { ...entry, volume, mask, lesions };
}

export function loadDataset(dir: string, options: { spacing?: Vec3; limit?: number } = {}): { cases: LoadedCase[]; warnings: string[] } {
  const entries = readLabels(dir).slice(0, options.limit);
  const phantoms = phantomLesions(dir);
  const cases = entries.map((e) => loadCase(e, { spacing: options.spacing, phantoms }));
  const warnings = [...new Set(cases.map((c) => spacingWarning(c.volume.spacing)).filter((w): w is string => Boolean(w)))];
  return { cases, warnings };
}

/**
 * Patient-level folds: every case of a patient lands in the same fold. Patients are ordered by a
 * hash of their id, so the split does not depend on file order and is the same on every machine.
 */
export function assignFolds(patientIds: string[], folds: number): number[] {
  const hash = (s: string) => {
    let h = 2166136261;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
    return h;
  };
  const patients = [...new Set(patientIds)].sort((a, b) => hash(a) - hash(b) || a.localeCompare(b));
  const foldOf = new Map(patients.map((p, i) => [p, i % folds]));
  return patientIds.map((p) => foldOf.get(p) as number);
}

/** One line saying what a dataset folder holds, for model cards. */
export function describeDataset(dir: string, cases: LoadedCase[]): string {
  const lesions = cases.reduce((n, c) => n + c.lesions.length, 0);
  const malignant = cases.reduce((n, c) => n + c.lesions.filter((l) => l.malignant).length, 0);
  return `${datasetOrigin(dir)}: ${cases.length} cases, ${lesions} lesions (${malignant} malignant, ${lesions - malignant} benign)`;
}

/** Where a dataset folder came from: the phantom generator and its seed, or the folder's name. */
export function datasetOrigin(dir: string): string {
  const file = path.join(dir, 'phantoms.json');
  if (!fs.existsSync(file)) return `TDSC-ABUS-layout data '${path.basename(path.resolve(dir))}'`;
  const index = JSON.parse(fs.readFileSync(file, 'utf8')) as { generator?: string; seed?: number; count?: number };
  return `synthetic ABUS phantoms (${index.generator ?? 'abus-ai phantom'}, seed ${index.seed}, ${index.count} generated)`;
}
