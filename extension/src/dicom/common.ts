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

const { DicomDict, DicomMessage, DicomMetaDictionary } = dcmjs.data;

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

/**
 * A Part 10 file of a naturalized dataset (keywords -> values; sequences as arrays of datasets),
 * explicit VR little endian. Its SOPClassUID and SOPInstanceUID go to the file meta information.
 * Give `_vrMap: { PixelData: 'OB' | 'OW' }` in the dataset for pixel data.
 */
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
