/**
 * Binary DICOM Segmentation (SOP class 1.2.840.10008.5.1.4.1.1.66.4) of the engine's lesion
 * masks, written with dcmjs from a plain naturalized dataset, and read back for round trips.
 *
 * Written to pass dciodvfy (dicom3tools) with no errors, unlike the SEG of the OHIF adapters.
 * One frame per (segment, slice k holding any foreground), ordered by segment then k; every frame
 * names its source image (and frame, for a multi-frame source) and its patient position.
 * Volume axes as in models/src/io/dicom.ts: i = column, j = row, k = slice (sweep).
 */
import { concat } from '../../../models/src/io/dicom';
import { patientAndStudy, StudyContext } from './common';
import { code, decimalString as ds, dicomDate, dicomTime, NaturalDataset, readPart10, toArrayBuffer, uidFor, writePart10 } from './common';

export const SEGMENTATION_STORAGE = '1.2.840.10008.5.1.4.1.1.66.4';

export interface SourceImageRef {
  sopClassUID: string;
  sopInstanceUID: string;
  /** 1-based, only for a multi-frame source */
  frameNumber?: number;
  imagePositionPatient?: [number, number, number];
}

export interface SourceSeries extends StudyContext {
  rows: number;
  columns: number;
  pixelSpacing: [number, number] /* DICOM order: row spacing, column spacing */;
  imageOrientationPatient: [number, number, number, number, number, number];
  sliceSpacing: number;
  /** One per slice k of the engine's volume, in k order (k = sweep). */
  images: SourceImageRef[];
}

export interface SegmentInput {
  label: string; // e.g. "Lesion 1: Malignant 87% (AI)"
  malignant: boolean | null; // colour: red-ish for malignant, green-ish for benign (RecommendedDisplayCIELabValue)
  /** 0/1 mask over the inclusive source-index box [min, max], i fastest (i = column, j = row, k = slice). */
  mask: Uint8Array;
  min: [number, number, number];
  max: [number, number, number];
}

export interface SegOptions {
  algorithmName: string;
  algorithmVersion: string;
  seriesNumber?: number;
  seriesDescription?: string;
  uidSeed?: string;
  contentDate?: Date;
  manufacturer?: string;
}

export interface ReadSegFrame {
  segment: number;
  sopInstanceUID: string;
  frameNumber?: number;
  imagePositionPatient: number[];
  /** Unpacked 0/1, Rows * Columns, row by row. */
  pixels: Uint8Array;
}

export interface ReadSeg {
  rows: number;
  columns: number;
  segments: { number: number; label: string }[];
  frames: ReadSegFrame[];
}

// Codes (see the notes, "Codes that fit this product").
const CATEGORY = code('49755003', 'SCT', 'Morphologically Abnormal Structure');
const PROPERTY_TYPE = code('4147007', 'SCT', 'Mass');
const BREAST = code('76752008', 'SCT', 'Breast');
const ALGORITHM_FAMILY = code('123109', 'DCM', 'Artificial Intelligence');
const DERIVATION = code('113076', 'DCM', 'Segmentation');
const SOURCE_PURPOSE = code('121322', 'DCM', 'Source image for image processing operation');

/** DICOM-scaled CIELab (0..65535) of sRGB (220, 50, 47), (60, 180, 75) and (240, 190, 40). */
const LAB_MALIGNANT = [32739, 49572, 44480];
const LAB_BENIGN = [42652, 19838, 43803];
const LAB_UNKNOWN = [52335, 35261, 52029];

// Attribute tags for the dimension index (AT values).
const TAG_REFERENCED_SEGMENT_NUMBER = 0x0062000b;
const TAG_SEGMENT_IDENTIFICATION_SEQUENCE = 0x0062000a;
const TAG_IMAGE_POSITION_PATIENT = 0x00200032;
const TAG_PLANE_POSITION_SEQUENCE = 0x00209113;

export function buildBinarySeg(
  series: SourceSeries,
  segments: SegmentInput[],
  options: SegOptions,
): { bytes: Uint8Array; sopInstanceUID: string; seriesInstanceUID: string; frames: { segment: number; k: number }[] } {
  const { rows, columns, images } = series;
  const depth = images.length;
  if (!(rows > 0 && columns > 0 && depth > 0)) throw new Error(`SEG: empty source (${columns} x ${rows} x ${depth})`);
  if (segments.length === 0) throw new Error('SEG: no segments');

  // Frames: per segment, every slice k with foreground, cut from the box into a full frame.
  const frames: { segment: number; k: number }[] = [];
  const framePixels: Uint8Array[] = [];
  segments.forEach((seg, s) => {
    const [i0, j0, k0] = seg.min;
    const [i1, j1, k1] = seg.max;
    const [nx, ny, nz] = [i1 - i0 + 1, j1 - j0 + 1, k1 - k0 + 1];
    if (!(nx > 0 && ny > 0 && nz > 0)) throw new Error(`SEG: segment ${s + 1} has an empty box [${seg.min}]..[${seg.max}]`);
    if (i0 < 0 || j0 < 0 || k0 < 0 || i1 >= columns || j1 >= rows || k1 >= depth) {
      throw new Error(`SEG: segment ${s + 1} box [${seg.min}]..[${seg.max}] is outside the source (${columns} x ${rows} x ${depth})`);
    }
    if (seg.mask.length !== nx * ny * nz) throw new Error(`SEG: segment ${s + 1} mask has ${seg.mask.length} voxels, its box ${nx * ny * nz}`);
    for (let dk = 0; dk < nz; dk++) {
      let frame: Uint8Array | undefined;
      for (let dj = 0; dj < ny; dj++) {
        const from = (dk * ny + dj) * nx;
        for (let di = 0; di < nx; di++) {
          if (!seg.mask[from + di]) continue;
          frame ??= new Uint8Array(rows * columns);
          frame[(j0 + dj) * columns + i0 + di] = 1;
        }
      }
      if (frame) {
        frames.push({ segment: s + 1, k: k0 + dk });
        framePixels.push(frame);
      }
    }
  });
  if (frames.length === 0) throw new Error('SEG: every segment is empty; there is nothing to write');

  const seed = options.uidSeed;
  const seriesInstanceUID = uidFor(seed, `seg/${series.seriesInstanceUID}/series`);
  const sopInstanceUID = uidFor(seed, `seg/${series.seriesInstanceUID}/instance`);
  const dimensionOrganizationUID = uidFor(seed, `seg/${series.seriesInstanceUID}/dimension-organization`);
  const when = options.contentDate ?? new Date();
  const positions = slicePositions(series);

  const dataset: NaturalDataset = {
    SpecificCharacterSet: 'ISO_IR 192', // dcmjs writes strings as UTF-8
    // SOP Common
    SOPClassUID: SEGMENTATION_STORAGE,
    SOPInstanceUID: sopInstanceUID,
    InstanceCreationDate: dicomDate(when),
    InstanceCreationTime: dicomTime(when),
    // Patient, General Study
    ...patientAndStudy(series),
    // General Series + Segmentation Series
    Modality: 'SEG',
    SeriesInstanceUID: seriesInstanceUID,
    SeriesNumber: options.seriesNumber ?? 300,
    SeriesDescription: options.seriesDescription ?? 'ABUS Tumor AI lesions (research use)',
    // General Equipment + Enhanced General Equipment
    Manufacturer: options.manufacturer ?? 'ABUS Tumor AI',
    ManufacturerModelName: options.algorithmName,
    DeviceSerialNumber: '0',
    SoftwareVersions: options.algorithmVersion,
    // General Image + Segmentation Image (Content Identification)
    ImageType: ['DERIVED', 'PRIMARY'],
    InstanceNumber: 1,
    ContentLabel: 'ABUS_AI_LESIONS',
    ContentDescription: 'AI lesion segmentation (research use, not for diagnosis)',
    ContentCreatorName: `${options.algorithmName}^`, // a family-name-only PN; without "^" dciodvfy flags the retired form
    ContentDate: dicomDate(when),
    ContentTime: dicomTime(when),
    // Image Pixel
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: rows,
    Columns: columns,
    BitsAllocated: 1,
    BitsStored: 1,
    HighBit: 0,
    PixelRepresentation: 0,
    LossyImageCompression: '00',
    SegmentationType: 'BINARY',
    SegmentSequence: segments.map((seg, s) => segmentItem(seg, s + 1, options)),
    // Multi-frame Functional Groups
    NumberOfFrames: frames.length,
    SharedFunctionalGroupsSequence: [
      {
        PlaneOrientationSequence: [{ ImageOrientationPatient: series.imageOrientationPatient.map(ds) }],
        PixelMeasuresSequence: [
          {
            PixelSpacing: series.pixelSpacing.map(ds),
            SliceThickness: ds(series.sliceSpacing),
            SpacingBetweenSlices: ds(series.sliceSpacing),
          },
        ],
      },
    ],
    PerFrameFunctionalGroupsSequence: frames.map(({ segment, k }) => {
      const image = images[k];
      const source: NaturalDataset = {
        ReferencedSOPClassUID: image.sopClassUID,
        ReferencedSOPInstanceUID: image.sopInstanceUID,
      };
      if (image.frameNumber !== undefined) source.ReferencedFrameNumber = image.frameNumber;
      source.PurposeOfReferenceCodeSequence = [SOURCE_PURPOSE];
      return {
        DerivationImageSequence: [{ SourceImageSequence: [source], DerivationCodeSequence: [DERIVATION] }],
        FrameContentSequence: [{ DimensionIndexValues: [segment, k + 1] }],
        PlanePositionSequence: [{ ImagePositionPatient: positions[k].map(ds) }],
        SegmentIdentificationSequence: [{ ReferencedSegmentNumber: segment }],
      };
    }),
    // Multi-frame Dimension: segment, then position along the slice normal (k order).
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimensionOrganizationUID }],
    DimensionOrganizationType: '3D',
    DimensionIndexSequence: [
      {
        DimensionOrganizationUID: dimensionOrganizationUID,
        DimensionIndexPointer: TAG_REFERENCED_SEGMENT_NUMBER,
        FunctionalGroupPointer: TAG_SEGMENT_IDENTIFICATION_SEQUENCE,
        DimensionDescriptionLabel: 'Segment',
      },
      {
        DimensionOrganizationUID: dimensionOrganizationUID,
        DimensionIndexPointer: TAG_IMAGE_POSITION_PATIENT,
        FunctionalGroupPointer: TAG_PLANE_POSITION_SEQUENCE,
        DimensionDescriptionLabel: 'Position',
      },
    ],
    // Common Instance Reference: every source instance a frame refers to (once).
    ReferencedSeriesSequence: [
      {
        SeriesInstanceUID: series.seriesInstanceUID,
        ReferencedInstanceSequence: uniqueInstances(frames.map(({ k }) => images[k])).map((im) => ({
          ReferencedSOPClassUID: im.sopClassUID,
          ReferencedSOPInstanceUID: im.sopInstanceUID,
        })),
      },
    ],
    PixelData: [toArrayBuffer(packBits(framePixels, rows * columns))],
    _vrMap: { PixelData: 'OB' },
  };
  if (series.frameOfReferenceUID) {
    dataset.FrameOfReferenceUID = series.frameOfReferenceUID;
    dataset.PositionReferenceIndicator = '';
  }
  return { bytes: writePart10(dataset), sopInstanceUID, seriesInstanceUID, frames };
}

/** The segments and frames of a binary SEG, frames unpacked to 0/1 per pixel. */
export function readBinarySeg(bytes: Uint8Array): ReadSeg {
  const ds = readPart10(bytes);
  if (ds.SOPClassUID !== SEGMENTATION_STORAGE) throw new Error(`not a Segmentation (SOP class ${String(ds.SOPClassUID)})`);
  if (ds.SegmentationType !== 'BINARY' || Number(ds.BitsAllocated) !== 1) {
    throw new Error(`only binary segmentations can be read (SegmentationType ${String(ds.SegmentationType)})`);
  }
  const rows = Number(ds.Rows);
  const columns = Number(ds.Columns);
  const count = Number(ds.NumberOfFrames ?? 1);
  const segments = seq(ds.SegmentSequence).map((item) => ({ number: Number(item.SegmentNumber), label: String(item.SegmentLabel ?? '') }));
  const shared = seq(ds.SharedFunctionalGroupsSequence)[0] ?? {};
  const perFrame = seq(ds.PerFrameFunctionalGroupsSequence);
  const data = concat(ds.PixelData as ArrayBuffer[] | ArrayBuffer);
  const size = rows * columns;
  if (data.length * 8 < count * size) throw new Error(`SEG pixel data is too short (${data.length} bytes for ${count} frames of ${columns} x ${rows})`);
  const frames: ReadSegFrame[] = [];
  for (let f = 0; f < count; f++) {
    const groups = perFrame[f] ?? {};
    const pick = (name: string) => seq(groups[name])[0] ?? seq(shared[name])[0] ?? {};
    const source = seq(pick('DerivationImageSequence').SourceImageSequence)[0] ?? {};
    const frameNumber = source.ReferencedFrameNumber;
    const pixels = new Uint8Array(size);
    for (let p = 0, bit = f * size; p < size; p++, bit++) pixels[p] = (data[bit >> 3] >> (bit & 7)) & 1;
    frames.push({
      segment: Number(first(pick('SegmentIdentificationSequence').ReferencedSegmentNumber)),
      sopInstanceUID: String(source.ReferencedSOPInstanceUID ?? ''),
      ...(frameNumber !== undefined && frameNumber !== null && frameNumber !== '' ? { frameNumber: Number(first(frameNumber)) } : {}),
      imagePositionPatient: toNumbers(pick('PlanePositionSequence').ImagePositionPatient),
      pixels,
    });
  }
  return { rows, columns, segments, frames };
}

/**
 * All frames as one bit stream: pixel n of the stream is bit (n mod 8) of byte floor(n / 8),
 * least significant bit first. DICOM (PS3.5 8.1.1) packs 1-bit frames back to back with no
 * padding between them, so when Rows * Columns is not a multiple of 8 a frame starts inside a
 * byte; only the end of the whole stream is padded (with zero bits, then to an even length).
 */
export function packBits(frames: Uint8Array[], frameSize: number): Uint8Array {
  const bits = frames.length * frameSize;
  const out = new Uint8Array(Math.ceil(bits / 16) * 2);
  frames.forEach((frame, f) => {
    for (let p = 0, bit = f * frameSize; p < frameSize; p++, bit++) if (frame[p]) out[bit >> 3] |= 1 << (bit & 7);
  });
  return out;
}

function segmentItem(seg: SegmentInput, number: number, options: SegOptions): NaturalDataset {
  return {
    SegmentNumber: number,
    SegmentLabel: seg.label.slice(0, 64),
    SegmentedPropertyCategoryCodeSequence: [CATEGORY],
    SegmentedPropertyTypeCodeSequence: [PROPERTY_TYPE],
    AnatomicRegionSequence: [BREAST],
    SegmentAlgorithmType: 'AUTOMATIC',
    SegmentAlgorithmName: options.algorithmName,
    SegmentationAlgorithmIdentificationSequence: [
      {
        AlgorithmFamilyCodeSequence: [ALGORITHM_FAMILY],
        AlgorithmName: options.algorithmName,
        AlgorithmVersion: options.algorithmVersion,
      },
    ],
    RecommendedDisplayCIELabValue: seg.malignant === true ? LAB_MALIGNANT : seg.malignant === false ? LAB_BENIGN : LAB_UNKNOWN,
  };
}

/**
 * ImagePositionPatient of every slice k: the source's own, or, where the source gives none (a
 * multi-frame sweep without per-frame positions, as GE Invenia ABUS exports), computed as the
 * first image's position (or (0, 0, 0), as the volume reader assumes) plus k * sliceSpacing
 * along the slice normal (row direction x column direction of ImageOrientationPatient).
 */
function slicePositions(series: SourceSeries): number[][] {
  const o = series.imageOrientationPatient;
  const normal = unit([o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]]);
  const base = series.images[0].imagePositionPatient ?? [0, 0, 0];
  return series.images.map((im, k) => im.imagePositionPatient ?? base.map((x, a) => x + k * series.sliceSpacing * normal[a]));
}

function unit(v: number[]): number[] {
  const len = Math.hypot(v[0], v[1], v[2]);
  if (!(len > 0)) throw new Error('SEG: ImageOrientationPatient has parallel or zero axes');
  return v.map((x) => x / len);
}

function uniqueInstances(images: SourceImageRef[]): SourceImageRef[] {
  const seen = new Map<string, SourceImageRef>();
  for (const im of images) if (!seen.has(im.sopInstanceUID)) seen.set(im.sopInstanceUID, im);
  return [...seen.values()];
}

function seq(v: unknown): NaturalDataset[] {
  if (Array.isArray(v)) return v as NaturalDataset[];
  return v && typeof v === 'object' ? [v as NaturalDataset] : [];
}

function first(v: unknown): unknown {
  return Array.isArray(v) ? v[0] : v;
}

function toNumbers(v: unknown): number[] {
  if (v === undefined || v === null || v === '') return [];
  return (Array.isArray(v) ? v : [v]).map(Number);
}

