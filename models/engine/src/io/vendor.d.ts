/**
 * Minimal typings for the two untyped I/O libraries, covering only what the engine uses.
 */

declare module 'nrrd-js' {
  /** A parsed NRRD header plus data; field names are nrrd-js's camel-cased NRRD field names. */
  export interface NrrdFields {
    type?: string;
    dimension?: number;
    sizes?: number[];
    encoding?: string;
    endian?: string;
    space?: string;
    spaceDimension?: number;
    spaceDirections?: (number[] | null)[];
    spaceOrigin?: number[];
    spacings?: number[];
    kinds?: (string | null)[];
    dataFile?: unknown;
    lineSkip?: number;
    byteSkip?: number;
    /** Decoded samples (raw and ascii encodings only). */
    data?: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number };
    /** The bytes after the header (already-encoded data when serializing). */
    buffer?: ArrayBuffer;
  }
  export function parse(buffer: ArrayBuffer): NrrdFields;
  export function serialize(nrrd: NrrdFields): ArrayBuffer;
}

declare module 'dcmjs' {
  /** A "naturalized" dataset: keyword -> value (sequences are arrays of datasets). */
  export type NaturalDataset = { [keyword: string]: unknown };
  /** A dataset keyed by 8-hex-digit tags, as stored in DicomDict. */
  export type DenaturalizedDataset = { [tag: string]: { vr: string; Value?: unknown[] } };

  export class DicomDict {
    constructor(meta: DenaturalizedDataset);
    meta: DenaturalizedDataset;
    dict: DenaturalizedDataset;
    write(options?: { allowInvalidVRLength?: boolean }): ArrayBuffer;
  }

  export const data: {
    DicomDict: typeof DicomDict;
    DicomMessage: {
      readFile(buffer: ArrayBuffer, options?: { ignoreErrors?: boolean; untilTag?: string | null }): DicomDict;
    };
    DicomMetaDictionary: {
      naturalizeDataset(dataset: DenaturalizedDataset): NaturalDataset;
      denaturalizeDataset(dataset: NaturalDataset): DenaturalizedDataset;
    };
  };
}
