/**
 * Readers of the SEG and SR files the plugin and the CLI write, for tests: they check what was
 * written (segments, frames, positions, findings) without a viewer. Test code only; the product
 * writes these objects and reads none of them.
 */
import { COMPREHENSIVE_3D_SR_STORAGE, concat, first, LABEL_MAP_SEGMENTATION_STORAGE, NaturalDataset, readPart10, SegFlavour, SEGMENTATION_STORAGE, seq } from '@abus-tumor-ai/engine';

const BACKGROUND = 0;
export interface ReadSegFrame {
  segment: number;
  sopInstanceUID: string;
  frameNumber?: number;
  imagePositionPatient: number[];
  /** Unpacked 0/1, Rows * Columns, row by row: the pixels of `segment` in this frame. */
  pixels: Uint8Array;
}

export interface ReadSeg {
  flavour: SegFlavour;
  rows: number;
  columns: number;
  /** The described segments, less a label map's background. */
  segments: { number: number; label: string }[];
  /** Binary: one per stored frame. Label map: one per (stored frame, segment present in it). */
  frames: ReadSegFrame[];
}

/** A written SEG instance. */

export function readSeg(bytes: Uint8Array): ReadSeg {
  const ds = readPart10(bytes);
  const flavour: SegFlavour | undefined = ds.SOPClassUID === SEGMENTATION_STORAGE ? 'binary' : ds.SOPClassUID === LABEL_MAP_SEGMENTATION_STORAGE ? 'labelmap' : undefined;
  if (!flavour) throw new Error(`not a Segmentation (SOP class ${String(ds.SOPClassUID)})`);
  const bits = Number(ds.BitsAllocated);
  if (flavour === 'binary' && (ds.SegmentationType !== 'BINARY' || bits !== 1)) {
    throw new Error(`only binary segmentations can be read (SegmentationType ${String(ds.SegmentationType)})`);
  }
  if (flavour === 'labelmap' && (ds.SegmentationType !== 'LABELMAP' || (bits !== 8 && bits !== 16))) {
    throw new Error(`not a label map (SegmentationType ${String(ds.SegmentationType)}, BitsAllocated ${bits})`);
  }
  const rows = Number(ds.Rows);
  const columns = Number(ds.Columns);
  const count = Number(ds.NumberOfFrames ?? 1);
  // Where a label map gives no Pixel Padding Value, 0 is taken as the background, as dcmqi does.
  const background = flavour === 'labelmap' ? Number(first(ds.PixelPaddingValue) ?? BACKGROUND) : undefined;
  const described = seq(ds.SegmentSequence).map((item) => ({ number: Number(item.SegmentNumber), label: String(item.SegmentLabel ?? '') }));
  const segments = described.filter((s) => s.number !== background);
  const shared = seq(ds.SharedFunctionalGroupsSequence)[0] ?? {};
  const perFrame = seq(ds.PerFrameFunctionalGroupsSequence);
  const data = concat(ds.PixelData as ArrayBuffer[] | ArrayBuffer);
  const size = rows * columns;
  if (data.length * 8 < count * size * bits) throw new Error(`SEG pixel data is too short (${data.length} bytes for ${count} frames of ${columns} x ${rows})`);
  const known = new Set(described.map((s) => s.number));
  const frames: ReadSegFrame[] = [];
  for (let f = 0; f < count; f++) {
    const groups = perFrame[f] ?? {};
    const pick = (name: string) => seq(groups[name])[0] ?? seq(shared[name])[0] ?? {};
    const source = seq(pick('DerivationImageSequence').SourceImageSequence)[0] ?? {};
    const frameNumber = source.ReferencedFrameNumber;
    const where = {
      sopInstanceUID: String(source.ReferencedSOPInstanceUID ?? ''),
      ...(frameNumber !== undefined && frameNumber !== null && frameNumber !== '' ? { frameNumber: Number(first(frameNumber)) } : {}),
      imagePositionPatient: toNumbers(pick('PlanePositionSequence').ImagePositionPatient),
    };
    if (flavour === 'binary') {
      const pixels = new Uint8Array(size);
      for (let p = 0, bit = f * size; p < size; p++, bit++) pixels[p] = (data[bit >> 3] >> (bit & 7)) & 1;
      frames.push({ segment: Number(first(pick('SegmentIdentificationSequence').ReferencedSegmentNumber)), ...where, pixels });
      continue;
    }
    const values = labelMapFrame(data, f, size, bits);
    const present = [...new Set(values)].filter((v) => v !== background).sort((x, y) => x - y);
    for (const v of present) {
      if (!known.has(v)) throw new Error(`SEG frame ${f + 1} holds pixel value ${v}, which no Segment Sequence item describes`);
      frames.push({ segment: v, ...where, pixels: Uint8Array.from(values, (x) => (x === v ? 1 : 0)) });
    }
  }
  return { flavour, rows, columns, segments, frames };
}

/** The segments and frames of a binary SEG, frames unpacked to 0/1 per pixel; refuses a label map. */
export function readBinarySeg(bytes: Uint8Array): ReadSeg {
  const seg = readSeg(bytes);
  if (seg.flavour !== 'binary') throw new Error('only binary segmentations can be read (SegmentationType LABELMAP)');
  return seg;
}

/**
 * All frames as one bit stream: pixel n of the stream is bit (n mod 8) of byte floor(n / 8),
 * least significant bit first. DICOM (PS3.5 8.1.1) packs 1-bit frames back to back with no
 * padding between them, so when Rows * Columns is not a multiple of 8 a frame starts inside a
 * byte; only the end of the whole stream is padded (with zero bits, then to an even length).
 */

export interface ReadReport {
  lesions: { number: number; probabilityPercent: number | null; segmentSopInstanceUID: string; segmentNumber: number }[];
  algorithmName?: string;
  algorithmVersion?: string;
}


export function readMeasurementReport(bytes: Uint8Array): ReadReport {
  const ds = readPart10(bytes);
  if (str(ds.SOPClassUID) !== COMPREHENSIVE_3D_SR_STORAGE && !str(ds.SOPClassUID).startsWith('1.2.840.10008.5.1.4.1.1.88.')) {
    throw new Error(`not a structured report (SOP class ${str(ds.SOPClassUID)})`);
  }
  if (!hasName(ds, '126000')) throw new Error('not a TID 1500 Measurement Report');
  const measurements = children(ds).filter((c) => hasName(c, '126010'));
  const report: ReadReport = { lesions: [] };
  for (const group of measurements.flatMap(children).filter((c) => hasName(c, '125007'))) {
    const kids = children(group);
    const find = (value: string) => kids.find((c) => hasName(c, value));
    const tracking = str(find('112039')?.TextValue);
    const probability = find('111047');
    const measured = probability ? seq(probability.MeasuredValueSequence)[0] : undefined;
    const segmentRef = seq(find('121191')?.ReferencedSOPSequence)[0];
    report.algorithmName ??= find('111001') ? str(find('111001')!.TextValue) : undefined;
    report.algorithmVersion ??= find('111003') ? str(find('111003')!.TextValue) : undefined;
    report.lesions.push({
      number: Number(/(\d+)\s*$/.exec(tracking)?.[1] ?? report.lesions.length + 1),
      probabilityPercent: measured ? Number(first(measured.NumericValue)) : null,
      segmentSopInstanceUID: str(segmentRef?.ReferencedSOPInstanceUID),
      segmentNumber: Number(first(segmentRef?.ReferencedSegmentNumber) ?? 0),
    });
  }
  return report;
}


function toNumbers(v: unknown): number[] {
  if (v === undefined || v === null || v === '') return [];
  return (Array.isArray(v) ? v : [v]).map(Number);
}

/** Frame `f` of label map pixel data. */
function labelMapFrame(data: Uint8Array, f: number, size: number, bits: number): number[] {
  if (bits === 8) return Array.from(data.subarray(f * size, (f + 1) * size));
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return Array.from({ length: size }, (_, p) => view.getUint16(2 * (f * size + p), true));
}

function children(ds: NaturalDataset): NaturalDataset[] {
  return seq(ds.ContentSequence);
}

function hasName(ds: NaturalDataset, codeValue: string): boolean {
  return str(seq(ds.ConceptNameCodeSequence)[0]?.CodeValue) === codeValue;
}

function str(value: unknown): string {
  const v = first(value);
  return v == null ? '' : String(v).trim();
}
