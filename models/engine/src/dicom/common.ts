/**
 * What the DICOM readers and writers share (ultrasound volumes, SEG, SR): UIDs, DA/TM/DS
 * formatting, coded entries, attribute access, and Part 10 reading and writing with dcmjs
 * (explicit VR little endian).
 */
/// <reference path="../io/vendor.d.ts" />
import * as dcmjs from 'dcmjs';
import type { NaturalDataset } from 'dcmjs';
import { toArrayBuffer } from '../io/bytes';

export { toArrayBuffer };

export type { NaturalDataset };

const { DicomDict, DicomMessage, DicomMetaDictionary } = dcmjs.data;

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/** "2.25." + a 128-bit number: FNV-1a of `seed` (reproducible), or random without a seed. */
export function makeUid(seed?: string): string {
  let value = BigInt(0);
  if (seed === undefined) {
    const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
    for (let i = 0; i < bytes.length; i++) value = (value << BigInt(8)) | BigInt(bytes[i]);
  } else {
    const prime = BigInt('0x0000000001000000000000000000013b');
    const mask = (BigInt(1) << BigInt(128)) - BigInt(1);
    value = BigInt('0x6c62272e07bb014262b821756295c58d');
    const bytes = new TextEncoder().encode(seed);
    for (let i = 0; i < bytes.length; i++) value = ((value ^ BigInt(bytes[i])) * prime) & mask;
  }
  return `2.25.${value.toString()}`;
}

/**
 * A UID for `role`: derived from `seed` when there is one (reproducible files: the same seed and
 * role give the same UID), random otherwise. "2.25." + a 128-bit number, as makeUid.
 */
export function uidFor(seed: string | undefined, role: string): string {
  return makeUid(seed === undefined ? undefined : `${seed}/${role}`);
}

/** DICOM DA (YYYYMMDD), local time. */
export function dicomDate(d: Date): string {
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}`;
}

/** DICOM TM (HHMMSS), local time. */
export function dicomTime(d: Date): string {
  return `${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
}

/** Decimal String: at most 16 characters, as many significant digits as fit (up to 12). */
export function decimalString(x: number): string {
  for (let digits = 12; ; digits--) {
    const s = String(Number(x.toPrecision(digits)) + 0);
    if (s.length <= 16) return s;
  }
}

/** One item of a code sequence (basic coded entry). */
export function code(value: string, scheme: string, meaning: string): NaturalDataset {
  return { CodeValue: value, CodingSchemeDesignator: scheme, CodeMeaning: meaning };
}

/** A Part 10 file (explicit VR little endian) of a naturalized dataset; every file this project writes has this meta header. */
export function writePart10(dataset: NaturalDataset): Uint8Array {
  const meta: NaturalDataset = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: dataset.SOPClassUID,
    MediaStorageSOPInstanceUID: dataset.SOPInstanceUID,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: makeUid('abus-tumor-ai/dicom-writer'),
    ImplementationVersionName: 'ABUS_TUMOR_AI',
    _vrMap: { FileMetaInformationVersion: 'OB' },
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return new Uint8Array(dict.write());
}

const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
const TRANSFER_SYNTAX_NAMES: Record<string, string> = {
  '1.2.840.10008.1.2.1.99': 'deflated',
  '1.2.840.10008.1.2.2': 'explicit VR big endian',
  '1.2.840.10008.1.2.4.50': 'JPEG baseline',
  '1.2.840.10008.1.2.4.70': 'JPEG lossless',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.5': 'RLE lossless',
};

/**
 * The naturalized dataset (keyword -> value) of a Part 10 file. Only uncompressed little-endian
 * files can be read; `label` names the file in messages.
 */
export function readPart10(bytes: Uint8Array, label = 'the file'): NaturalDataset {
  let dict: dcmjs.DicomDict;
  try {
    dict = DicomMessage.readFile(toArrayBuffer(bytes));
  } catch (err) {
    throw new Error(`${label} is not a readable DICOM file (${(err as Error).message})`);
  }
  const syntax = String(dict.meta['00020010']?.Value?.[0] ?? '');
  if (syntax !== IMPLICIT_VR_LITTLE_ENDIAN && syntax !== EXPLICIT_VR_LITTLE_ENDIAN) {
    const name = TRANSFER_SYNTAX_NAMES[syntax] ?? 'compressed';
    throw new Error(`${label}: transfer syntax ${syntax} (${name}) is not supported; only uncompressed little-endian DICOM can be read`);
  }
  return DicomMetaDictionary.naturalizeDataset(dict.dict);
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** Which breast a series shows (side undefined: unknown) and which attribute said so. */
export interface Laterality {
  side?: 'L' | 'R';
  from: string;
}

/** The patient and study a derived object (SEG, SR) belongs to: copied from its source series. */
export interface StudyContext {
  /** The source's laterality; a derived object records an unknown one as unknown, never a guess. */
  laterality?: Laterality;
  studyInstanceUID: string;
  seriesInstanceUID: string;
  frameOfReferenceUID?: string;
  patientName?: string;
  patientId?: string;
  patientBirthDate?: string;
  patientSex?: string;
  studyDate?: string;
  studyTime?: string;
  studyId?: string;
  accessionNumber?: string;
  referringPhysicianName?: string;
}

/** The Patient and General Study modules of a derived object (Type 2 values empty when unknown). */
export function patientAndStudy(source: StudyContext): NaturalDataset {
  return {
    PatientName: source.patientName ?? '',
    PatientID: source.patientId ?? '',
    PatientBirthDate: source.patientBirthDate ?? '',
    PatientSex: source.patientSex ?? '',
    StudyInstanceUID: source.studyInstanceUID,
    StudyDate: source.studyDate ?? '',
    StudyTime: source.studyTime ?? '',
    ReferringPhysicianName: source.referringPhysicianName ?? '',
    StudyID: source.studyId ?? '',
    AccessionNumber: source.accessionNumber ?? '',
  };
}

/** dcmjs gives single values bare and multiple values as arrays; numbers may be strings. */
export function nums(ds: NaturalDataset, key: string): number[] | undefined {
  const v = ds[key];
  if (v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) return undefined;
  return (Array.isArray(v) ? v : [v]).map(Number);
}

export function num(ds: NaturalDataset, key: string): number | undefined {
  const v = nums(ds, key)?.[0];
  return v === undefined || Number.isNaN(v) ? undefined : v;
}

export function str(ds: NaturalDataset, key: string): string | undefined {
  const v = ds[key];
  const s = Array.isArray(v) ? v[0] : v;
  return typeof s === 'string' && s !== '' ? s : undefined;
}

/** dcmjs gives pixel data as one or several ArrayBuffers; this joins them. */
export function concat(buffers: ArrayBuffer[] | ArrayBuffer): Uint8Array {
  const list = Array.isArray(buffers) ? buffers : [buffers];
  if (list.length === 1) return new Uint8Array(list[0]);
  const out = new Uint8Array(list.reduce((n, b) => n + b.byteLength, 0));
  let offset = 0;
  for (const b of list) {
    out.set(new Uint8Array(b), offset);
    offset += b.byteLength;
  }
  return out;
}

/** A sequence attribute's items: dcmjs gives one item bare and several as an array. */
export function seq(value: unknown): NaturalDataset[] {
  if (Array.isArray(value)) return value as NaturalDataset[];
  return value && typeof value === 'object' ? [value as NaturalDataset] : [];
}

/** The first value of a possibly multi-valued attribute. */
export function first(value: unknown): unknown {
  return Array.isArray(value) ? value[0] : value;
}
