/**
 * DICOM Segmentation of the engine's lesion masks in two flavours, written with dcmjs from a plain
 * naturalized dataset, and read back for round trips. Both are one Segmentation IOD (PS3.3 A.51):
 * - 'binary': Segmentation Storage (1.2.840.10008.5.1.4.1.1.66.4), SegmentationType BINARY, 1-bit
 *   frames: one frame per (segment, slice k holding any of it), ordered by segment then k.
 * - 'labelmap': Label Map Segmentation Storage (1.2.840.10008.5.1.4.1.1.66.7, Sup 243),
 *   SegmentationType LABELMAP: one 8-bit frame (16-bit beyond 255 segments) per slice k holding
 *   any segment, in k order, each pixel the number of its segment, 0 the background.
 *
 * The binary flavour passes dciodvfy (dicom3tools) with no errors, unlike the SEG of the OHIF
 * adapters. Every frame names its source image (and frame, for a multi-frame source) and its
 * patient position. Volume axes as in dicom/volume.ts: i = column, j = row, k = slice (sweep).
 */

import { code, decimalString as ds, dicomDate, dicomTime, Laterality, NaturalDataset, patientAndStudy, StudyContext, toArrayBuffer, uidFor, writePart10 } from './common';

export const SEGMENTATION_STORAGE = '1.2.840.10008.5.1.4.1.1.66.4';
export const LABEL_MAP_SEGMENTATION_STORAGE = '1.2.840.10008.5.1.4.1.1.66.7';

/** Binary SEG (…66.4, validated by dciodvfy) or Label Map SEG (…66.7). */
export type SegFlavour = 'binary' | 'labelmap';

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

export interface SegFile {
  bytes: Uint8Array;
  sopClassUID: string;
  sopInstanceUID: string;
  seriesInstanceUID: string;
}

export interface BinarySegFile extends SegFile {
  frames: { segment: number; k: number }[];
}

export interface LabelMapSegFile extends SegFile {
  /** The slice k of every frame, in frame order. */
  slices: number[];
}

// Codes (see the notes, "Codes that fit this product").
const CATEGORY = code('49755003', 'SCT', 'Morphologically Abnormal Structure');
const PROPERTY_TYPE = code('4147007', 'SCT', 'Mass');
const BREAST = code('76752008', 'SCT', 'Breast');
const LEFT = code('7771000', 'SCT', 'Left');
const RIGHT = code('24028007', 'SCT', 'Right');
const ALGORITHM_FAMILY = code('123109', 'DCM', 'Artificial Intelligence');
const DERIVATION = code('113076', 'DCM', 'Segmentation');
const SOURCE_PURPOSE = code('121322', 'DCM', 'Source image for image processing operation');

/** DICOM-scaled CIELab (0..65535) of sRGB (220, 50, 47), (60, 180, 75) and (240, 190, 40). */
const LAB_MALIGNANT = [32739, 49572, 44480];
const LAB_BENIGN = [42652, 19838, 43803];
const LAB_UNKNOWN = [52335, 35261, 52029];

/** A label map's background value (Pixel Padding Value) and its segment's codes, as DCMTK and dcmqi write them. */
const BACKGROUND = 0;
const BACKGROUND_CATEGORY = code('309825002', 'SCT', 'Spatial and relational concept');
const BACKGROUND_TYPE = code('125040', 'DCM', 'Background');
const LAB_BLACK = [0, 32896, 32896];

// Attribute tags for the dimension index (AT values).
const TAG_REFERENCED_SEGMENT_NUMBER = 0x0062000b;
const TAG_SEGMENT_IDENTIFICATION_SEQUENCE = 0x0062000a;
const TAG_IMAGE_POSITION_PATIENT = 0x00200032;
const TAG_PLANE_POSITION_SEQUENCE = 0x00209113;

/** The SEG of `segments` in the chosen flavour; segment n (from 1) is segments[n - 1] in both. */
export function buildSeg(series: SourceSeries, segments: SegmentInput[], options: SegOptions, flavour: SegFlavour = 'binary'): SegFile {
  return flavour === 'labelmap' ? buildLabelMapSeg(series, segments, options) : buildBinarySeg(series, segments, options);
}

export function buildBinarySeg(series: SourceSeries, segments: SegmentInput[], options: SegOptions): BinarySegFile {
  checkSource(series, segments);
  const size = series.rows * series.columns;

  // Frames: per segment, every slice k with foreground, cut from the box into a full frame.
  const frames: { segment: number; k: number }[] = [];
  const framePixels: Uint8Array[] = [];
  segments.forEach((seg, s) => {
    const slices = new Map<number, Uint8Array>();
    forEachVoxel(series, seg, s, (k, p) => {
      let frame = slices.get(k);
      if (!frame) slices.set(k, (frame = new Uint8Array(size)));
      frame[p] = 1;
    });
    for (const k of [...slices.keys()].sort((x, y) => x - y)) {
      frames.push({ segment: s + 1, k });
      framePixels.push(slices.get(k)!);
    }
  });
  if (frames.length === 0) throw new Error('SEG: every segment is empty; there is nothing to write');

  const { dataset, sopInstanceUID, seriesInstanceUID } = segmentationDataset(series, options, 'binary', frames);
  Object.assign(dataset, {
    BitsAllocated: 1,
    BitsStored: 1,
    HighBit: 0,
    SegmentationType: 'BINARY',
    SegmentSequence: segments.map((seg, s) => segmentItem(seg, s + 1, options, series.laterality)),
    PixelData: [toArrayBuffer(packBits(framePixels, size))],
    _vrMap: { PixelData: 'OB' },
  });
  return { bytes: writePart10(dataset), sopClassUID: SEGMENTATION_STORAGE, sopInstanceUID, seriesInstanceUID, frames };
}

/**
 * Label Map Segmentation (Sup 243; PS3.3 C.8.20.2.3.3, C.8.20.2.4). A label map holds one segment
 * per pixel, so overlapping segments are refused rather than one silently cut from the other: use
 * the binary flavour for them. Value 0 is written, so it is described, as a "Background" segment
 * (every value in Pixel Data must have a Segment Sequence item), and Pixel Padding Value 0 marks
 * it as the background for readers.
 */
export function buildLabelMapSeg(series: SourceSeries, segments: SegmentInput[], options: SegOptions): LabelMapSegFile {
  checkSource(series, segments);
  if (segments.length > 65535) throw new Error(`SEG: ${segments.length} segments do not fit a 16-bit label map`);
  const size = series.rows * series.columns;
  const bits = segments.length > 255 ? 16 : 8;

  const labels = new Map<number, Uint8Array | Uint16Array>();
  segments.forEach((seg, s) => {
    forEachVoxel(series, seg, s, (k, p) => {
      let frame = labels.get(k);
      if (!frame) labels.set(k, (frame = bits === 16 ? new Uint16Array(size) : new Uint8Array(size)));
      if (frame[p] !== 0 && frame[p] !== s + 1) {
        const [i, j] = [p % series.columns, Math.floor(p / series.columns)];
        throw new Error(`SEG: segments ${frame[p]} and ${s + 1} overlap at voxel (${i}, ${j}, ${k}); a label map holds one segment per voxel, use the binary flavour`);
      }
      frame[p] = s + 1;
    });
  });
  // Slices with no segment are left out, as the binary flavour leaves out empty frames: nothing in
  // the IOD asks for a frame per source image, and readers fill absent ones with the background.
  const slices = [...labels.keys()].sort((x, y) => x - y);
  if (slices.length === 0) throw new Error('SEG: every segment is empty; there is nothing to write');

  const { dataset, sopInstanceUID, seriesInstanceUID } = segmentationDataset(series, options, 'labelmap', slices.map((k) => ({ k })));
  Object.assign(dataset, {
    BitsAllocated: bits,
    BitsStored: bits,
    HighBit: bits - 1,
    PixelPaddingValue: BACKGROUND,
    SegmentationType: 'LABELMAP',
    SegmentsOverlap: 'NO',
    SegmentSequence: [backgroundItem(options), ...segments.map((seg, s) => segmentItem(seg, s + 1, options, series.laterality))],
    PixelData: [toArrayBuffer(labelMapPixels(slices.map((k) => labels.get(k)!), bits))],
    _vrMap: { PixelData: bits === 16 ? 'OW' : 'OB', PixelPaddingValue: 'US' },
  });
  return { bytes: writePart10(dataset), sopClassUID: LABEL_MAP_SEGMENTATION_STORAGE, sopInstanceUID, seriesInstanceUID, slices };
}

/** 0/1 frames as 1-bit pixels back to back (the first pixel in bit 0), padded to an even length. */
export function packBits(frames: Uint8Array[], frameSize: number): Uint8Array {
  const bits = frames.length * frameSize;
  const out = new Uint8Array(Math.ceil(bits / 16) * 2);
  frames.forEach((frame, f) => {
    for (let p = 0, bit = f * frameSize; p < frameSize; p++, bit++) if (frame[p]) out[bit >> 3] |= 1 << (bit & 7);
  });
  return out;
}

/** Refuses an empty source or an empty list of segments (each box is checked in forEachVoxel). */
function checkSource(series: SourceSeries, segments: SegmentInput[]): void {
  const { rows, columns, images } = series;
  if (!(rows > 0 && columns > 0 && images.length > 0)) throw new Error(`SEG: empty source (${columns} x ${rows} x ${images.length})`);
  if (segments.length === 0) throw new Error('SEG: no segments');
}

/** Calls `fn(k, j * columns + i)` for every foreground voxel of segment `s`, after checking its box against the source. */
function forEachVoxel(series: SourceSeries, seg: SegmentInput, s: number, fn: (k: number, pixel: number) => void): void {
  const { rows, columns } = series;
  const depth = series.images.length;
  const [i0, j0, k0] = seg.min;
  const [i1, j1, k1] = seg.max;
  const [nx, ny, nz] = [i1 - i0 + 1, j1 - j0 + 1, k1 - k0 + 1];
  if (!(nx > 0 && ny > 0 && nz > 0)) throw new Error(`SEG: segment ${s + 1} has an empty box [${seg.min}]..[${seg.max}]`);
  if (i0 < 0 || j0 < 0 || k0 < 0 || i1 >= columns || j1 >= rows || k1 >= depth) {
    throw new Error(`SEG: segment ${s + 1} box [${seg.min}]..[${seg.max}] is outside the source (${columns} x ${rows} x ${depth})`);
  }
  if (seg.mask.length !== nx * ny * nz) throw new Error(`SEG: segment ${s + 1} mask has ${seg.mask.length} voxels, its box ${nx * ny * nz}`);
  for (let dk = 0; dk < nz; dk++) {
    for (let dj = 0; dj < ny; dj++) {
      const from = (dk * ny + dj) * nx;
      for (let di = 0; di < nx; di++) if (seg.mask[from + di]) fn(k0 + dk, (j0 + dj) * columns + i0 + di);
    }
  }
}

/**
 * Everything but the pixel encoding and the Segment Sequence: the modules both flavours share, and
 * per frame its source, position and dimension index. Binary frames also name their segment
 * (Segmentation functional group, and a Segment dimension); in a label map the pixel values do,
 * and PS3.3 A.51 (Sup 243) requires that group only where Segmentation Type is not LABELMAP.
 */
function segmentationDataset(
  series: SourceSeries,
  options: SegOptions,
  flavour: SegFlavour,
  frames: { k: number; segment?: number }[],
): { dataset: NaturalDataset; sopInstanceUID: string; seriesInstanceUID: string } {
  const { rows, columns, images } = series;
  const binary = flavour === 'binary';
  // Other roles for a label map, so the two flavours of one result never share a UID.
  const role = `${binary ? 'seg' : 'seg-labelmap'}/${series.seriesInstanceUID}`;
  const seed = options.uidSeed;
  const seriesInstanceUID = uidFor(seed, `${role}/series`);
  const sopInstanceUID = uidFor(seed, `${role}/instance`);
  const dimensionOrganizationUID = uidFor(seed, `${role}/dimension-organization`);
  const when = options.contentDate ?? new Date();
  const positions = slicePositions(series);

  const dimension = (pointer: number, group: number, label: string) => ({
    DimensionOrganizationUID: dimensionOrganizationUID,
    DimensionIndexPointer: pointer,
    FunctionalGroupPointer: group,
    DimensionDescriptionLabel: label,
  });
  const dataset: NaturalDataset = {
    SpecificCharacterSet: 'ISO_IR 192', // dcmjs writes strings as UTF-8
    // SOP Common
    SOPClassUID: binary ? SEGMENTATION_STORAGE : LABEL_MAP_SEGMENTATION_STORAGE,
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
    // Image Pixel (the flavour adds bits, pixel data)
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: rows,
    Columns: columns,
    PixelRepresentation: 0,
    LossyImageCompression: '00',
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
      const item: NaturalDataset = {
        DerivationImageSequence: [{ SourceImageSequence: [source], DerivationCodeSequence: [DERIVATION] }],
        FrameContentSequence: [{ DimensionIndexValues: binary ? [segment, k + 1] : [k + 1] }],
        PlanePositionSequence: [{ ImagePositionPatient: positions[k].map(ds) }],
      };
      if (binary) item.SegmentIdentificationSequence = [{ ReferencedSegmentNumber: segment }];
      return item;
    }),
    // Multi-frame Dimension: (binary: segment, then) position along the slice normal (k order).
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimensionOrganizationUID }],
    DimensionOrganizationType: '3D',
    DimensionIndexSequence: [
      ...(binary ? [dimension(TAG_REFERENCED_SEGMENT_NUMBER, TAG_SEGMENT_IDENTIFICATION_SEQUENCE, 'Segment')] : []),
      dimension(TAG_IMAGE_POSITION_PATIENT, TAG_PLANE_POSITION_SEQUENCE, 'Position'),
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
  };
  if (series.frameOfReferenceUID) {
    dataset.FrameOfReferenceUID = series.frameOfReferenceUID;
    dataset.PositionReferenceIndicator = '';
  }
  return { dataset, sopInstanceUID, seriesInstanceUID };
}

/** Label map frames back to back, 8 bits a pixel or 16 (little endian), padded to an even length. */
function labelMapPixels(frames: (Uint8Array | Uint16Array)[], bits: 8 | 16): Uint8Array {
  const size = frames.length ? frames[0].length : 0;
  const out = new Uint8Array(Math.ceil((frames.length * size * bits) / 16) * 2);
  if (bits === 8) frames.forEach((frame, f) => out.set(frame, f * size));
  else {
    const view = new DataView(out.buffer);
    frames.forEach((frame, f) => frame.forEach((v, p) => view.setUint16(2 * (f * size + p), v, true)));
  }
  return out;
}

/** The Segment Sequence item of value 0, drawn black where a viewer shows it at all. */
function backgroundItem(options: SegOptions): NaturalDataset {
  return {
    SegmentNumber: BACKGROUND,
    SegmentLabel: 'Background',
    SegmentedPropertyCategoryCodeSequence: [BACKGROUND_CATEGORY],
    SegmentedPropertyTypeCodeSequence: [BACKGROUND_TYPE],
    SegmentAlgorithmType: 'AUTOMATIC',
    SegmentAlgorithmName: options.algorithmName,
    RecommendedDisplayCIELabValue: LAB_BLACK,
  };
}

function segmentItem(seg: SegmentInput, number: number, options: SegOptions, laterality?: Laterality): NaturalDataset {
  const side = laterality?.side;
  return {
    SegmentNumber: number,
    SegmentLabel: seg.label.slice(0, 64),
    // An unknown side is said so, not guessed (the region then has no laterality modifier).
    ...(side ? {} : { SegmentDescription: 'Breast, laterality unknown' }),
    SegmentedPropertyCategoryCodeSequence: [CATEGORY],
    SegmentedPropertyTypeCodeSequence: [PROPERTY_TYPE],
    AnatomicRegionSequence: [side ? { ...BREAST, AnatomicRegionModifierSequence: [side === 'L' ? LEFT : RIGHT] } : BREAST],
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
