/**
 * A folder of phantoms in the TDSC-ABUS layout, so code written for that challenge's data runs
 * on them unchanged:
 *   DATA_000.nrrd, MASK_000.nrrd (gzip; 0 background, 1 lesion), ...
 *   labels.csv: case_id,label,data_path,mask_path (label M or B, of the main lesion)
 *   phantoms.json: every case's truth (lesions, BI-RADS features, click, geometry, seeds)
 *   dicom/DATA_000/IM0001.dcm ...        with format 'dicom' (US Image Storage, one file per sweep slice)
 *   dicom-multiframe/DATA_000.dcm        with format 'dicom-multiframe' (one US Multi-frame Image)
 *
 * Cases with no lesion ("negatives") are written too (their mask is empty) but left out of
 * labels.csv, whose every row in TDSC has a lesion; phantoms.json lists them under `negatives`.
 * Unlike the TDSC files, the NRRD headers carry the real spacing.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { DicomWriteMeta, indexToPatient, makeUid, Vec3, VolumeGeometry, writeDicomSeries } from '@abus-tumor-ai/engine';
import { GzipCodec, writeNrrd } from '@abus-tumor-ai/engine/node';
import { generatePhantom, LesionInfo, Phantom, PhantomOptions, roundTo } from './generate';
import { hashSeed } from './random';
import { writeAtomic } from '../atomic';

export type PhantomFormat = 'nrrd' | 'dicom' | 'dicom-multiframe';
export const PHANTOM_FORMATS: readonly PhantomFormat[] = ['nrrd', 'dicom', 'dicom-multiframe'];

export interface PhantomDatasetOptions {
  count: number;
  seed: number;
  fullSize?: boolean;
  /** Image formats; default ['nrrd']. Masks are always NRRD. */
  formats?: PhantomFormat[];
  /** Passed on to generatePhantom (e.g. a coarse `spacing` for quick tests). */
  phantom?: Omit<PhantomOptions, 'seed' | 'fullSize'>;
  /** Lesions per case, in turn: case n has lesionCycle[n % length] (e.g. [0, 1, 2, 3] for a detection set). */
  lesionCycle?: (0 | 1 | 2 | 3)[];
}

export interface PhantomCase extends VolumeGeometry {
  case_id: number;
  /** DATA_000 etc. */
  name: string;
  /** Seed of this case: generatePhantom({ seed, fullSize }) rebuilds it. */
  seed: number;
  /** Class of the main lesion; null for a negative. */
  label: 'M' | 'B' | null;
  /** Paths relative to the dataset folder; data_path is the NRRD if written, else a DICOM form. */
  data_path: string;
  mask_path: string;
  dicom_path?: string;
  dicom_multiframe_path?: string;
  patient_id: string;
  study_instance_uid: string;
  clickCenter: Vec3;
  clickCenterMm: Vec3;
  lesions: LesionInfo[];
}

export interface PhantomIndex {
  generator: string;
  version: 1;
  seed: number;
  count: number;
  fullSize: boolean;
  formats: PhantomFormat[];
  cases: PhantomCase[];
  /** case_ids with no lesion (not in labels.csv). */
  negatives: number[];
}

export type PhantomProgress = (done: number, total: number, phantom: Phantom, record: PhantomCase) => void;

/** The seed of case `index` of a dataset seeded `seed`. */
export function phantomCaseSeed(seed: number, index: number): number {
  return hashSeed('dataset', seed, index);
}

/** Speckle barely compresses; level 1 is several times faster than the default and nearly as small. */
const FAST_GZIP: GzipCodec = {
  gzip: (data) => new Uint8Array(zlib.gzipSync(data, { level: 1 })),
  gunzip: (data) => new Uint8Array(zlib.gunzipSync(data)),
};

export function writePhantomDataset(dir: string, options: PhantomDatasetOptions, onProgress?: PhantomProgress): PhantomIndex {
  const formats = options.formats?.length ? [...new Set(options.formats)] : (['nrrd'] as PhantomFormat[]);
  for (const f of formats) if (!PHANTOM_FORMATS.includes(f)) throw new Error(`unknown phantom format '${f}' (use ${PHANTOM_FORMATS.join(', ')})`);
  if (!(Number.isInteger(options.count) && options.count >= 1)) throw new Error(`count must be a positive integer, got ${options.count}`);
  fs.mkdirSync(dir, { recursive: true });
  const index: PhantomIndex = {
    generator: 'abus-tumor-ai synthetic ABUS phantom (models/tools/research/src/phantom)',
    version: 1,
    seed: options.seed,
    count: options.count,
    fullSize: options.fullSize === true,
    formats,
    cases: [],
    negatives: [],
  };
  for (let n = 0; n < options.count; n++) {
    const seed = phantomCaseSeed(options.seed, n);
    const lesionCount = options.lesionCycle?.length ? options.lesionCycle[n % options.lesionCycle.length] : options.phantom?.lesionCount;
    const phantom = generatePhantom({ ...options.phantom, seed, fullSize: options.fullSize, lesionCount });
    const record = writeCase(dir, n, phantom, formats, options.seed);
    index.cases.push(record);
    if (record.label === null) index.negatives.push(n);
    onProgress?.(n + 1, options.count, phantom, record);
  }
  const rows = index.cases.filter((c) => c.label !== null).map((c) => `${c.case_id},${c.label},${c.data_path},${c.mask_path}`);
  writeAtomic(path.join(dir, 'labels.csv'), ['case_id,label,data_path,mask_path', ...rows].join('\n') + '\n');
  writeAtomic(path.join(dir, 'phantoms.json'), compactJson(index) + '\n');
  return index;
}

export function readPhantomIndex(dir: string): PhantomIndex {
  const file = path.join(dir, 'phantoms.json');
  if (!fs.existsSync(file)) throw new Error(`${dir} is not a phantom dataset: no phantoms.json`);
  const index = JSON.parse(fs.readFileSync(file, 'utf8')) as PhantomIndex;
  if (index.version !== 1 || !Array.isArray(index.cases)) throw new Error(`${file}: unsupported phantom index (version ${index.version})`);
  return index;
}

function writeCase(dir: string, n: number, phantom: Phantom, formats: PhantomFormat[], datasetSeed: number): PhantomCase {
  const name = `DATA_${String(n).padStart(3, '0')}`;
  const maskName = `MASK_${String(n).padStart(3, '0')}.nrrd`;
  const uidSeed = `abus-phantom/${datasetSeed}/${n}`;
  const patientId = `PHANTOM-${datasetSeed}-${String(n).padStart(3, '0')}`;
  const meta: DicomWriteMeta = {
    patientName: `PHANTOM^${name}`,
    patientId,
    studyInstanceUID: makeUid(`${uidSeed}/study`),
    uidSeed,
    seriesDescription: 'Synthetic ABUS phantom (research use only)',
    laterality: hashSeed(uidSeed) % 2 === 0 ? 'L' : 'R',
    // The sweep spacing is written so that readers get the geometry right without assuming it.
    omitSweepSpacing: false,
  };
  const record: PhantomCase = {
    case_id: n,
    name,
    seed: phantom.seed,
    label: phantom.lesions.length ? (phantom.lesions[0].malignant ? 'M' : 'B') : null,
    data_path: '',
    mask_path: maskName,
    patient_id: patientId,
    study_instance_uid: meta.studyInstanceUID!,
    dims: phantom.volume.dims,
    spacing: phantom.volume.spacing,
    origin: phantom.volume.origin,
    direction: phantom.volume.direction,
    clickCenter: phantom.clickCenter,
    clickCenterMm: indexToPatient(phantom.volume, phantom.clickCenter).map((v) => roundTo(v, 1e-6)) as Vec3,
    lesions: phantom.lesions,
  };
  writeAtomic(path.join(dir, maskName), writeNrrd(phantom.mask, { gzip: true, codec: FAST_GZIP }));
  if (formats.includes('dicom-multiframe')) {
    record.dicom_multiframe_path = `dicom-multiframe/${name}.dcm`;
    fs.mkdirSync(path.join(dir, 'dicom-multiframe'), { recursive: true });
    const [file] = writeDicomSeries(phantom.volume, meta, 'multiframe');
    writeAtomic(path.join(dir, record.dicom_multiframe_path), file);
  }
  if (formats.includes('dicom')) {
    record.dicom_path = `dicom/${name}`;
    const folder = path.join(dir, record.dicom_path);
    fs.rmSync(folder, { recursive: true, force: true });
    fs.mkdirSync(folder, { recursive: true });
    writeDicomSeries(phantom.volume, meta, 'single-frame').forEach((file, k) => {
      writeAtomic(path.join(folder, `IM${String(k + 1).padStart(4, '0')}.dcm`), file);
    });
  }
  if (formats.includes('nrrd')) {
    writeAtomic(path.join(dir, `${name}.nrrd`), writeNrrd(phantom.volume, { gzip: true, codec: FAST_GZIP }));
    record.data_path = `${name}.nrrd`;
  } else {
    record.data_path = record.dicom_path ?? record.dicom_multiframe_path!;
  }
  return record;
}

/** Indented JSON with number arrays (vectors, matrices) kept on one line, so the file stays readable. */
function compactJson(value: unknown): string {
  return JSON.stringify(value, null, 1).replace(/\[\s*(-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*)\s*\]/g, (_, inner: string) => `[${inner.split(/,\s*/).join(', ')}]`);
}
