/**
 * DICOM ultrasound <-> Volume, on top of dcmjs (Part 10 parsing/writing, data dictionary).
 *
 * Reads (a) a series of single-frame images stacked by ImagePositionPatient along the slice
 * normal, or (b) one multi-frame image without per-frame positions (e.g. an ABUS sweep), whose
 * missing geometry is assumed and listed in `assumedGeometry`. Rows -> j (depth),
 * Columns -> i (lateral), frames/slices -> k (sweep). Uncompressed little-endian files only.
 */
import { checkVolumeSize, IDENTITY_DIRECTION, indexToPatient, Mat3, spacingProblem, Vec3, Volume, VoxelArray } from '../volume';
import { nodeBuiltin } from '../io/node-builtin';
import { concat, decimalString, NaturalDataset, num, nums, patientAndStudy, readPart10, str, toArrayBuffer, uidFor, writePart10 } from './common';
import type { SourceSlice } from './report';

export const US_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.6.1';
export const US_MULTIFRAME_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.3.1';
const SEGMENTATION_STORAGE = '1.2.840.10008.5.1.4.1.1.66.4';
/** The sweep spacing assumed when a sweep says nothing about it (ABUS sweeps are about 0.5 mm). */
export const DEFAULT_SWEEP_SPACING_MM = 0.5;

export interface DicomVolume extends Volume {
  /** Each slice k's instance attributes (pixel data left out) and frame: what a SEG or SR refers to. */
  slices: SourceSlice[];
  seriesInstanceUID?: string;
  frameOfReferenceUID?: string;
  /** One human-readable note per piece of geometry that was not in the files. */
  assumedGeometry: string[];
}

export interface DicomReadOptions {
  /** Frame spacing (mm) when a multi-frame image gives none. Default 0.5. */
  sweepSpacingMm?: number;
  /** The voxel spacing in mm given by the user: it replaces the files' in-plane and slice spacing, which are then not checked. */
  spacing?: Vec3;
}

interface Image {
  ds: NaturalDataset;
  /** "file 3" or the file name, for messages. */
  label: string;
  /** Position in the input. */
  index: number;
}

export function readDicomSeries(files: Uint8Array[], opts: DicomReadOptions = {}): DicomVolume {
  return readImages(files.map((bytes, i) => parseImage(bytes, `file ${i + 1}`, i, false)!), opts);
}

/** Node only: reads every DICOM Part 10 file in `dir` (not recursive), skipping other files. */
export function readDicomFolder(dir: string, opts: DicomReadOptions = {}): DicomVolume {
  const fs = nodeBuiltin<typeof import('fs')>('fs');
  const path = nodeBuiltin<typeof import('path')>('path');
  if (!fs || !path) throw new Error('readDicomFolder needs Node; in a browser use readDicomSeries');
  const images: Image[] = [];
  const segmentations: string[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    if (!fs.statSync(file).isFile()) continue;
    const bytes = fs.readFileSync(file);
    if (!isPart10(bytes)) continue;
    const image = parseImage(bytes, name, images.length, true); // null for DICOMDIR, reports, ...
    if (image) images.push(image);
    else if (str(readPart10(bytes, name), 'SOPClassUID') === SEGMENTATION_STORAGE) segmentations.push(name);
  }
  if (images.length === 0 && segmentations.length) throw new Error(`no image files: ${dir} holds only ${segmentations[0]}, a Segmentation object, not an image series`);
  if (images.length === 0) throw new Error(`no image files: ${dir} holds no DICOM images`);
  return readImages(images, opts);
}

function readImages(images: Image[], opts: DicomReadOptions): DicomVolume {
  if (images.length === 0) throw new Error('no image files');
  const multi = images.filter((im) => frameCount(im.ds) > 1);
  if (multi.length > 0 && images.length > 1) {
    throw new Error(`give one multi-frame image or a series of single-frame images, not ${images.length} files of which ${multi.length} multi-frame`);
  }
  if (multi.length === 0 && images.length === 1) {
    throw new Error('2-D image: one frame only; a 3-D volume needs a multi-frame image or a series of slices');
  }
  return multi.length ? readMultiframe(images[0], opts) : readSlices(images, opts);
}

function parseImage(bytes: Uint8Array, label: string, index: number, skipNonImages: boolean): Image | null {
  const ds = readPart10(bytes, label);
  // A SEG has pixel data too (its segment frames), but it is not an image to analyse.
  if (str(ds, 'SOPClassUID') === SEGMENTATION_STORAGE) {
    if (skipNonImages) return null;
    throw new Error(`${label} is a Segmentation object, not an image series`);
  }
  if (ds.PixelData == null) {
    if (skipNonImages) return null;
    throw new Error(`${label} has no pixel data (SOP class ${str(ds, 'SOPClassUID')}); it is not an image`);
  }
  return { ds, label, index };
}

function readSlices(images: Image[], opts: DicomReadOptions): DicomVolume {
  const first = images[0].ds;
  const seriesUids = Array.from(new Set(images.map((im) => str(im.ds, 'SeriesInstanceUID') ?? '(none)')));
  if (seriesUids.length > 1) throw new Error(`mixed series: the files belong to ${seriesUids.length} series (${seriesUids.join(', ')}); give one series`);
  for (const im of images) {
    for (const key of ['Rows', 'Columns', 'BitsAllocated', 'PixelRepresentation', 'SamplesPerPixel']) {
      if (num(im.ds, key) !== num(first, key)) {
        throw new Error(`${im.label} differs from ${images[0].label} in ${key} (${num(im.ds, key)} vs ${num(first, key)}); slices of one volume must match`);
      }
    }
  }
  const notes: string[] = [];
  const located = images.every((im) => nums(im.ds, 'ImagePositionPatient')?.length === 3 && nums(im.ds, 'ImageOrientationPatient')?.length === 6);
  if (!located) {
    // No positions to sort by: stack in InstanceNumber order and assume the geometry.
    notes.push('slices have no ImagePositionPatient/ImageOrientationPatient; stacked in InstanceNumber order');
    const sorted = [...images].sort((a, b) => (num(a.ds, 'InstanceNumber') ?? a.index) - (num(b.ds, 'InstanceNumber') ?? b.index));
    const { assumed, ...geometry } = sweepGeometry(first, opts);
    return volumeOf(sorted, 1, geometry, [...notes, ...assumed]);
  }
  const iop = nums(first, 'ImageOrientationPatient')!;
  for (const im of images) {
    const other = nums(im.ds, 'ImageOrientationPatient')!;
    if (other.some((x, i) => Math.abs(x - iop[i]) > 1e-4)) throw new Error(`${im.label} has a different ImageOrientationPatient from ${images[0].label}; slices must be parallel`);
  }
  const stack = stackSlices(images.map((im) => nums(im.ds, 'ImagePositionPatient')!), iop, (n) => images[n].label);
  const sorted = stack.order.map((n) => images[n]);
  const [row, col, normal] = stack.axes;
  const sliceSpacing = stack.sliceSpacing;
  notes.push(...stack.notes);
  const [si, sj] = opts.spacing ? [opts.spacing[0], opts.spacing[1]] : inPlaneSpacing(first, notes);
  const geometry = {
    spacing: opts.spacing ?? checkedSpacing([si, sj, sliceSpacing], 'PixelSpacing (0028,0030) and the slice positions'),
    origin: nums(sorted[0].ds, 'ImagePositionPatient') as Vec3,
    direction: directionOf(row, col, normal),
  };
  return volumeOf(sorted, 1, geometry, notes);
}

function readMultiframe(image: Image, opts: DicomReadOptions): DicomVolume {
  const { assumed, ...geometry } = sweepGeometry(image.ds, opts);
  return volumeOf([image], frameCount(image.ds), geometry, assumed);
}

export interface SweepGeometry {
  spacing: Vec3;
  origin: Vec3;
  direction: Mat3;
  /** One human-readable note per piece of geometry that was not in the file. */
  assumed: string[];
}

/**
 * The geometry of an ultrasound sweep whose frames carry no positions (a GE Invenia-style
 * Ultrasound Multi-frame Image): in-plane spacing from Pixel Spacing, else the US Region
 * Calibration (cm); frame spacing from Spacing Between Slices, else Slice Thickness, else the
 * configured sweep spacing, said so; position and orientation from the file, else assumed, said
 * so. Both the file reader and the viewer's volume use it, so they place a sweep the same way.
 * An image with no in-plane spacing at all is refused: its size would be invented.
 */
export function sweepGeometry(ds: NaturalDataset, opts: DicomReadOptions = {}): SweepGeometry {
  const assumed: string[] = [];
  const spacing = opts.spacing ?? sweepSpacing(ds, opts, assumed);
  let origin = nums(ds, 'ImagePositionPatient') as Vec3 | undefined;
  if (origin?.length !== 3) {
    origin = [0, 0, 0];
    assumed.push('patient position is not in the file; the first voxel is assumed at (0, 0, 0) mm');
  }
  const iop = nums(ds, 'ImageOrientationPatient');
  let direction: Mat3 = [...IDENTITY_DIRECTION];
  if (iop?.length === 6) direction = directionOf(...axesFromOrientation(iop));
  else assumed.push('patient orientation is not in the file; assumed columns -> L, rows (depth) -> P, frames (sweep) -> S');
  return { spacing, origin, direction, assumed };
}

function sweepSpacing(ds: NaturalDataset, opts: DicomReadOptions, assumed: string[]): Vec3 {
  const [si, sj] = inPlaneSpacing(ds, assumed);
  let sk = num(ds, 'SpacingBetweenSlices');
  if (!(sk! > 0)) {
    sk = num(ds, 'SliceThickness');
    if (sk! > 0) assumed.push(`frame spacing taken from SliceThickness (${sk} mm), assuming contiguous frames`);
    else {
      sk = opts.sweepSpacingMm ?? DEFAULT_SWEEP_SPACING_MM;
      assumed.push(`sweep spacing ${sk} mm (the file gives no frame spacing; setting sweepSpacingMm)`);
    }
  }
  return checkedSpacing([si, sj, sk!], 'PixelSpacing (0028,0030) or the ultrasound region calibration, and the frame spacing');
}

function checkedSpacing(spacing: Vec3, fields: string): Vec3 {
  const problem = spacingProblem(spacing);
  if (problem) throw new Error(`${fields} give the spacing ${spacing.join(' x ')} mm: ${problem}`);
  return spacing;
}

/** [i, j] spacing in mm from PixelSpacing, else the ultrasound region calibration (cm). */
function inPlaneSpacing(ds: NaturalDataset, notes: string[]): [number, number] {
  const ps = nums(ds, 'PixelSpacing');
  const regions = ((ds.SequenceOfUltrasoundRegions as NaturalDataset[] | undefined) ?? []).filter(
    (r) => num(r, 'PhysicalUnitsXDirection') === 3 && num(r, 'PhysicalUnitsYDirection') === 3 && num(r, 'PhysicalDeltaX') && num(r, 'PhysicalDeltaY'),
  );
  if (ps?.length === 2 && ps[0] > 0 && ps[1] > 0) {
    // Two calibrations that disagree: one of them is wrong, and sizes would be off by their ratio.
    const region = regions[0] && [Math.abs(num(regions[0], 'PhysicalDeltaX')!) * 10, Math.abs(num(regions[0], 'PhysicalDeltaY')!) * 10];
    if (region && (Math.abs(region[0] - ps[1]) > 0.01 * ps[1] || Math.abs(region[1] - ps[0]) > 0.01 * ps[0])) {
      throw new Error(`PixelSpacing (0028,0030) is ${ps.join('\\')} (row\\column, mm) but the ultrasound region calibration (0018,602C/602E) gives ${region[1]} x ${region[0]} mm (row x column); the image's size is ambiguous: pass --spacing`);
    }
    return [ps[1], ps[0]];
  }
  if (regions.length) {
    const [dx, dy] = [num(regions[0], 'PhysicalDeltaX')!, num(regions[0], 'PhysicalDeltaY')!];
    if (regions.some((r) => num(r, 'PhysicalDeltaX') !== dx || num(r, 'PhysicalDeltaY') !== dy)) {
      notes.push(`ultrasound regions have different calibrations; the first (${dx} x ${dy} cm per pixel) is used`);
    }
    return [Math.abs(dx) * 10, Math.abs(dy) * 10];
  }
  throw new Error('The image has neither Pixel Spacing nor an ultrasound region calibration in cm; its size is unknown, so it cannot be analysed');
}

function volumeOf(
  images: Image[],
  framesEach: number,
  geometry: { spacing: Vec3; origin: Vec3; direction: Mat3 },
  notes: string[],
): DicomVolume {
  const first = images[0].ds;
  const dims: Vec3 = [num(first, 'Columns')!, num(first, 'Rows')!, images.length * framesEach];
  const rescaled = images.some((im) => (num(im.ds, 'RescaleSlope') ?? 1) !== 1 || (num(im.ds, 'RescaleIntercept') ?? 0) !== 0);
  checkVolumeSize(dims, rescaled ? 4 : (num(first, 'BitsAllocated') ?? 8) > 8 ? 2 : 1, 'The DICOM volume');
  const data = pixelsOf(images, dims[0] * dims[1] * framesEach);
  const slices = images.flatMap((im) => {
    const { PixelData: _pixels, ...dataset } = im.ds;
    return Array.from({ length: framesEach }, (_, f) => ({ dataset, frameNumber: framesEach > 1 ? f + 1 : undefined }));
  });
  return {
    dims,
    ...geometry,
    data,
    slices,
    seriesInstanceUID: str(first, 'SeriesInstanceUID'),
    frameOfReferenceUID: str(first, 'FrameOfReferenceUID'),
    assumedGeometry: notes,
  };
}

/** Stored values of all images, in order; rescaled (Float32Array) when any image has a non-identity rescale. */
function pixelsOf(images: Image[], samplesEach: number): VoxelArray {
  const parts = images.map((im) => storedValues(im, samplesEach));
  const rescale = images.map((im) => [num(im.ds, 'RescaleSlope') ?? 1, num(im.ds, 'RescaleIntercept') ?? 0]);
  const identity = rescale.every(([slope, intercept]) => slope === 1 && intercept === 0);
  const Out = identity ? (parts[0].constructor as new (n: number) => VoxelArray) : Float32Array;
  const out = new Out(samplesEach * images.length);
  parts.forEach((part, k) => {
    const [slope, intercept] = rescale[k];
    if (identity) out.set(part, k * samplesEach);
    else for (let i = 0; i < samplesEach; i++) out[k * samplesEach + i] = part[i] * slope + intercept;
  });
  return out;
}

function storedValues(im: Image, count: number): VoxelArray {
  const { ds, label } = im;
  const samples = num(ds, 'SamplesPerPixel') ?? 1;
  if (samples !== 1) throw new Error(`${label} is a colour image (SamplesPerPixel ${samples}); a greyscale image is needed`);
  const bits = num(ds, 'BitsAllocated');
  if (bits !== 8 && bits !== 16) throw new Error(`${label}: BitsAllocated ${bits} is not supported (8 or 16)`);
  const stored = num(ds, 'BitsStored') ?? bits;
  const signed = num(ds, 'PixelRepresentation') === 1;
  const bytes = concat(ds.PixelData as ArrayBuffer[]);
  if (bytes.length < (count * bits) / 8) throw new Error(`${label}: pixel data is too short (${bytes.length} of ${(count * bits) / 8} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const Out = bits === 8 ? (signed ? Int8Array : Uint8Array) : signed ? Int16Array : Uint16Array;
  const out = new Out(count);
  // Bits above BitsStored may hold other data: mask them, or sign-extend from the top stored bit.
  const shift = 32 - stored;
  for (let i = 0; i < count; i++) {
    const raw = bits === 8 ? view.getUint8(i) : view.getUint16(2 * i, true);
    out[i] = signed ? (raw << shift) >> shift : (raw << shift) >>> shift;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writer

export interface DicomWriteMeta {
  patientName?: string;
  patientId?: string;
  studyInstanceUID?: string;
  seriesInstanceUID?: string;
  frameOfReferenceUID?: string;
  seriesDescription?: string;
  /** Breast side; without it Laterality is written empty (dciodvfy warns: breasts are paired). */
  laterality?: 'L' | 'R';
  /** YYYYMMDD and HHMMSS; empty by default so that files stay reproducible. */
  studyDate?: string;
  studyTime?: string;
  /** Derive every UID not given from this seed, so files are reproducible; random UIDs otherwise. */
  uidSeed?: string;
  /** Multi-frame only: leave out SpacingBetweenSlices so readers must assume it. Default true. */
  omitSweepSpacing?: boolean;
}

export type DicomForm = 'single-frame' | 'multiframe';

/**
 * Writes `volume` as ultrasound DICOM (explicit VR little endian). 'single-frame': one US Image
 * per k slice with ImagePositionPatient/ImageOrientationPatient/PixelSpacing (enough for OHIF to
 * build a volume). 'multiframe': one US Multi-frame Image with the in-plane spacing only in the
 * region calibration and no patient position/orientation, like scanner sweep exports; the reader
 * then assumes origin 0 and identity orientation. Voxels must be integers in 0..65535 (US images
 * are unsigned): Uint8Array is stored as 8-bit, anything else as 16-bit. Only 8-bit is standard
 * for MONOCHROME2 ultrasound (dciodvfy flags BitsAllocated 16 as an error); this reader and
 * OHIF read 16-bit files all the same, but prefer uint8 data for files meant for other tools.
 */
export function writeDicomSeries(volume: Volume, meta: DicomWriteMeta, form: DicomForm): Uint8Array[] {
  const { dims, spacing, direction: d } = volume;
  const [nx, ny, nz] = dims;
  const uid = (role: string) => uidFor(meta.uidSeed, role);
  const study = meta.studyInstanceUID ?? uid('study');
  const series = meta.seriesInstanceUID ?? uid(`${study}/series/${form}`);
  const frameOfReference = meta.frameOfReferenceUID ?? uid(`${series}/frame-of-reference`);
  const { bits, bytes } = unsignedSamples(volume.data);
  const sliceBytes = nx * ny * (bits / 8);
  const common: NaturalDataset = {
    ...patientAndStudy({ patientName: meta.patientName, patientId: meta.patientId, studyInstanceUID: study, seriesInstanceUID: series, studyDate: meta.studyDate, studyTime: meta.studyTime, studyId: '1' }),
    Modality: 'US',
    SeriesInstanceUID: series,
    SeriesNumber: 1,
    SeriesDescription: meta.seriesDescription ?? '',
    Laterality: meta.laterality ?? '',
    FrameOfReferenceUID: frameOfReference,
    PositionReferenceIndicator: '',
    Manufacturer: '',
    PatientOrientation: '',
    ImageType: ['DERIVED', 'PRIMARY'],
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: ny,
    Columns: nx,
    BitsAllocated: bits,
    BitsStored: bits,
    HighBit: bits - 1,
    PixelRepresentation: 0,
    SequenceOfUltrasoundRegions: [usRegion(nx, ny, spacing)],
  };
  const write = (sopClass: string, instance: number, fields: NaturalDataset, pixels: Uint8Array) =>
    writePart10({
      ...common,
      SOPClassUID: sopClass,
      SOPInstanceUID: uid(`${series}/instance/${instance}`),
      InstanceNumber: instance,
      ...fields,
      PixelData: [toArrayBuffer(pixels)],
      _vrMap: { PixelData: bits === 8 ? 'OB' : 'OW' },
    });
  if (form === 'multiframe') {
    const fields: NaturalDataset = { NumberOfFrames: nz, FrameIncrementPointer: 0x00181063 /* FrameTime */, FrameTime: 100 };
    if (meta.omitSweepSpacing === false) fields.SpacingBetweenSlices = decimalString(spacing[2]);
    return [write(US_MULTIFRAME_IMAGE_STORAGE, 1, fields, bytes)];
  }
  const orientation = [d[0], d[3], d[6], d[1], d[4], d[7]].map(decimalString);
  return Array.from({ length: nz }, (_, k) =>
    write(US_IMAGE_STORAGE, k + 1, {
      ImagePositionPatient: indexToPatient(volume, [0, 0, k]).map(decimalString),
      ImageOrientationPatient: orientation,
      PixelSpacing: [decimalString(spacing[1]), decimalString(spacing[0])],
      SliceThickness: decimalString(spacing[2]),
    }, bytes.subarray(k * sliceBytes, (k + 1) * sliceBytes)),
  );
}

/** One 2-D region covering the whole image, calibrated in cm per pixel. */
function usRegion(nx: number, ny: number, spacing: Vec3): NaturalDataset {
  return {
    RegionSpatialFormat: 1,
    RegionDataType: 1,
    RegionFlags: 0,
    RegionLocationMinX0: 0,
    RegionLocationMinY0: 0,
    RegionLocationMaxX1: nx - 1,
    RegionLocationMaxY1: ny - 1,
    PhysicalUnitsXDirection: 3,
    PhysicalUnitsYDirection: 3,
    PhysicalDeltaX: spacing[0] / 10,
    PhysicalDeltaY: spacing[1] / 10,
  };
}

function unsignedSamples(data: VoxelArray): { bits: 8 | 16; bytes: Uint8Array } {
  if (data instanceof Uint8Array) return { bits: 8, bytes: data };
  const bytes = new Uint8Array(data.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!(Number.isInteger(v) && v >= 0 && v <= 65535)) {
      throw new Error(`voxel value ${v} does not fit an unsigned 16-bit ultrasound image; rescale to 0..65535 integers first`);
    }
    view.setUint16(2 * i, v, true);
  }
  return { bits: 16, bytes };
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/**
 * Slices of one series stacked along their normal, from each one's ImagePositionPatient and the
 * series' ImageOrientationPatient: their order, the axes (row, column, normal) and the slice
 * spacing. Refuses two slices at one position, a missing slice and uneven spacing: a spacing
 * averaged over a gap would place and size every lesion behind it wrong. `label(n)` names slice
 * n in a message. The DICOM reader and the viewer's volume both stack slices with it.
 */
export function stackSlices(positions: number[][], orientation: number[], label: (n: number) => string): { order: number[]; axes: [Vec3, Vec3, Vec3]; sliceSpacing: number; notes: string[] } {
  const axes = axesFromOrientation(orientation);
  const along = positions.map((p) => dot(p, axes[2]));
  const order = positions.map((_, n) => n).sort((a, b) => along[a] - along[b]);
  const gaps = order.slice(1).map((n, k) => along[n] - along[order[k]]);
  const duplicate = gaps.findIndex((g) => g < 1e-3);
  if (duplicate >= 0) {
    throw new Error(`two slices at the same position (${along[order[duplicate]].toFixed(3)} mm along the normal): duplicate files or several acquisitions in one series`);
  }
  const sliceSpacing = (along[order[order.length - 1]] - along[order[0]]) / gaps.length;
  // Small rounding of positions is allowed.
  const typical = [...gaps].sort((a, b) => a - b)[(gaps.length - 1) >> 1]; // the lower median: with two gaps, the smaller
  const uneven = gaps.findIndex((g) => Math.abs(g - typical) > Math.max(1e-3, 0.1 * typical));
  if (uneven >= 0) {
    const [a, b] = [order[uneven], order[uneven + 1]];
    const what = gaps[uneven] > 1.5 * typical ? 'a slice is missing' : 'the slices are unevenly spaced';
    throw new Error(`${what}: ${label(a)} (at ${along[a].toFixed(3)} mm along the slice normal) and ${label(b)} (at ${along[b].toFixed(3)} mm) are ${gaps[uneven].toFixed(3)} mm apart, the other slices ${typical.toFixed(3)} mm`);
  }
  const notes: string[] = [];
  const [minGap, maxGap] = [Math.min(...gaps), Math.max(...gaps)];
  if (maxGap - minGap > Math.max(1e-3, 0.01 * sliceSpacing)) {
    notes.push(`slice spacing varies from ${minGap.toFixed(4)} to ${maxGap.toFixed(4)} mm (position rounding); the mean ${sliceSpacing.toFixed(4)} mm is used`);
  }
  return { order, axes, sliceSpacing, notes };
}

function axesFromOrientation(iop: number[]): [Vec3, Vec3, Vec3] {
  const row = unit([iop[0], iop[1], iop[2]]);
  const col = unit([iop[3], iop[4], iop[5]]);
  const normal = unit([row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2], row[0] * col[1] - row[1] * col[0]]);
  return [row, col, normal];
}

function directionOf(i: Vec3, j: Vec3, k: Vec3): Mat3 {
  return [i[0], j[0], k[0], i[1], j[1], k[1], i[2], j[2], k[2]];
}

function unit(v: Vec3): Vec3 {
  const len = Math.hypot(v[0], v[1], v[2]);
  if (!(len > 0)) throw new Error('ImageOrientationPatient has a zero-length axis');
  return [v[0] / len, v[1] / len, v[2] / len];
}

function dot(a: number[], b: number[]): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

function frameCount(ds: NaturalDataset): number {
  return num(ds, 'NumberOfFrames') ?? 1;
}

function isPart10(bytes: Uint8Array): boolean {
  return bytes.length > 132 && String.fromCharCode(bytes[128], bytes[129], bytes[130], bytes[131]) === 'DICM';
}
