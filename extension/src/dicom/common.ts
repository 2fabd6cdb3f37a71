/**
 * Small helpers shared by the DICOM writers of the extension (SEG, SR): UIDs, DA/TM/DS
 * formatting, coded entries, and Part 10 writing/reading with dcmjs (explicit VR little endian).
 */
/// <reference path="../../../models/src/io/vendor.d.ts" />
import * as dcmjs from 'dcmjs';
import type { NaturalDataset } from 'dcmjs';
import { makeUid } from '../../../models/src/io/dicom';

export type { NaturalDataset };
export { makeUid };

const { DicomMessage, DicomMetaDictionary } = dcmjs.data;

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

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

/** DICOM DT (YYYYMMDDHHMMSS), local time. */
export function dicomDateTime(d: Date): string {
  return dicomDate(d) + dicomTime(d);
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

/** Part 10 writing is the US writer's own (models/src/io/dicom.ts), so every file we write has the same meta header. */
export { writePart10 } from '../../../models/src/io/dicom';

/** The naturalized dataset of a Part 10 file (uncompressed transfer syntaxes). */
export function readPart10(bytes: Uint8Array): NaturalDataset {
  let dict: dcmjs.DicomDict;
  try {
    dict = DicomMessage.readFile(toArrayBuffer(bytes));
  } catch (err) {
    throw new Error(`not a readable DICOM file (${(err as Error).message})`);
  }
  return DicomMetaDictionary.naturalizeDataset(dict.dict);
}

export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  return whole && bytes.buffer instanceof ArrayBuffer ? bytes.buffer : new Uint8Array(bytes).buffer;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** The patient and study a derived object (SEG, SR) belongs to: copied from its source series. */
export interface StudyContext {
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
