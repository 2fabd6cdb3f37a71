import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'child_process';
import { makeUid, readPart10, writePart10 } from './common';
import { buildBinarySeg, buildLabelMapSeg, buildSeg, LABEL_MAP_SEGMENTATION_STORAGE, packBits, SegFlavour, SEGMENTATION_STORAGE, SegmentInput, SourceSeries } from './seg';
import { readBinarySeg, readSeg, ReadSeg } from '../../../../test/dicom-readers';
import { dciodvfy, withDciodvfy } from '../../../../test/dciodvfy';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const US_IMAGE = '1.2.840.10008.5.1.4.1.1.6.1';
const US_MULTIFRAME = '1.2.840.10008.5.1.4.1.1.3.1';
const OPTIONS = { algorithmName: 'CMSVNetIter', algorithmVersion: '0.1.0', uidSeed: 'seg-test', contentDate: new Date(2024, 0, 2, 3, 4, 5) };

/** A ball of radius r around c, in the box [min, max] (the box may be larger than the ball). */
function ball(label: string, malignant: boolean | null, c: number[], r: number, min: [number, number, number], max: [number, number, number]): SegmentInput {
  const [nx, ny, nz] = [0, 1, 2].map((a) => max[a] - min[a] + 1);
  const mask = new Uint8Array(nx * ny * nz);
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        const d = Math.hypot(min[0] + i - c[0], min[1] + j - c[1], (min[2] + k - c[2]) * 1.3);
        mask[(k * ny + j) * nx + i] = d <= r ? 1 : 0;
      }
  return { label, malignant, mask, min, max };
}

/** The segment's mask in a full columns x rows x depth volume. */
function fullMask(seg: SegmentInput, dims: number[]): Uint8Array {
  const out = new Uint8Array(dims[0] * dims[1] * dims[2]);
  const [nx, ny] = [seg.max[0] - seg.min[0] + 1, seg.max[1] - seg.min[1] + 1];
  seg.mask.forEach((v, n) => {
    const [i, j, k] = [n % nx, Math.floor(n / nx) % ny, Math.floor(n / (nx * ny))];
    out[((seg.min[2] + k) * dims[1] + seg.min[1] + j) * dims[0] + seg.min[0] + i] = v;
  });
  return out;
}

function singleFrameSource(): SourceSeries {
  // Transverse-like orientation: rows along +x, columns (depth) along -z, so the normal is +y.
  return {
    studyInstanceUID: makeUid('test/study'),
    seriesInstanceUID: makeUid('test/series'),
    frameOfReferenceUID: makeUid('test/for'),
    patientName: 'Müller^Jörg', // non-ASCII: written as UTF-8 (ISO_IR 192)
    patientId: 'P1',
    studyDate: '20240102',
    studyTime: '030405',
    studyId: '1',
    rows: 24,
    columns: 32,
    pixelSpacing: [0.2, 0.25],
    imageOrientationPatient: [1, 0, 0, 0, 0, -1],
    sliceSpacing: 0.8,
    images: Array.from({ length: 20 }, (_, k) => ({
      sopClassUID: US_IMAGE,
      sopInstanceUID: makeUid(`test/image/${k}`),
      imagePositionPatient: [-10, 5 + 0.8 * k, 20] as [number, number, number],
    })),
  };
}

function multiFrameSource(rows: number, columns: number, frames: number): SourceSeries {
  const sopInstanceUID = makeUid('test/multiframe');
  return {
    studyInstanceUID: makeUid('test/study2'),
    seriesInstanceUID: makeUid('test/series2'),
    rows,
    columns,
    pixelSpacing: [0.1, 0.2],
    imageOrientationPatient: [1, 0, 0, 0, 1, 0],
    sliceSpacing: 0.5,
    images: Array.from({ length: frames }, (_, k) => ({ sopClassUID: US_MULTIFRAME, sopInstanceUID, frameNumber: k + 1 })),
  };
}

type SliceOf = (f: { sopInstanceUID: string; frameNumber?: number }) => number;

/** Checks that what was read back rebuilds every segment voxel for voxel; `kOf` finds a frame's slice. */
function expectMasks(read: ReadSeg, series: SourceSeries, segments: SegmentInput[], kOf: SliceOf): void {
  expect(read.rows).toBe(series.rows);
  expect(read.columns).toBe(series.columns);
  expect(read.segments).toEqual(segments.map((s, n) => ({ number: n + 1, label: s.label })));
  const dims = [series.columns, series.rows, series.images.length];
  const size = dims[0] * dims[1];
  segments.forEach((seg, s) => {
    const expected = fullMask(seg, dims);
    const got = new Uint8Array(expected.length);
    for (const f of read.frames.filter((fr) => fr.segment === s + 1)) {
      expect(f.pixels.some((v) => v === 1)).toBe(true); // no empty frames
      got.set(f.pixels, kOf(f) * size);
    }
    expect(Buffer.from(got).equals(Buffer.from(expected))).toBe(true);
  });
}

/** The binary SEG through its own reader: one frame read back per frame written. */
function expectRoundTrip(series: SourceSeries, segments: SegmentInput[], kOf: SliceOf) {
  const built = buildBinarySeg(series, segments, OPTIONS);
  const read = readBinarySeg(built.bytes);
  expect(read.frames.length).toBe(built.frames.length);
  expectMasks(read, series, segments, kOf);
  return { built, read };
}

describe('binary DICOM SEG', () => {
  const series = singleFrameSource();
  const segments = [
    ball('Lesion 1: Malignant 87% (AI)', true, [10, 10, 8], 4, [5, 5, 4], [15, 15, 12]), // box wider than the ball: empty slices
    ball('Lesion 2: Benign 20% (AI)', false, [22, 15, 14], 3, [19, 12, 12], [25, 18, 16]),
  ];

  withDciodvfy('single-frame source: dciodvfy reports no errors', () => {
    const { bytes } = buildBinarySeg(series, segments, OPTIONS);
    expect(dciodvfy(bytes, 'single-frame').errors).toEqual([]);
  });

  it('round-trips the masks, placed at their slices by referenced instance and position', () => {
    const byUid = new Map(series.images.map((im, k) => [im.sopInstanceUID, k]));
    const { built, read } = expectRoundTrip(series, segments, (f) => byUid.get(f.sopInstanceUID)!);
    // Frames ordered by segment then k, only slices with foreground.
    const sorted = [...built.frames].sort((a, b) => a.segment - b.segment || a.k - b.k);
    expect(built.frames).toEqual(sorted);
    expect(built.frames.filter((f) => f.segment === 1).map((f) => f.k)).toEqual([5, 6, 7, 8, 9, 10, 11]);
    read.frames.forEach((f, n) => {
      const k = built.frames[n].k;
      expect(byUid.get(f.sopInstanceUID)).toBe(k);
      expect(f.frameNumber).toBeUndefined();
      f.imagePositionPatient.forEach((x, a) => expect(x).toBeCloseTo(series.images[k].imagePositionPatient![a], 6));
    });
  });

  it('writes the attributes viewers rely on', () => {
    const built = buildBinarySeg(series, segments, { ...OPTIONS, seriesNumber: 42 });
    const ds = readPart10(built.bytes);
    expect(ds.SOPClassUID).toBe('1.2.840.10008.5.1.4.1.1.66.4');
    expect(ds.SOPInstanceUID).toBe(built.sopInstanceUID);
    expect(ds.SeriesInstanceUID).toBe(built.seriesInstanceUID);
    expect(ds.StudyInstanceUID).toBe(series.studyInstanceUID);
    expect(JSON.stringify(ds.PatientName)).toContain('Müller^Jörg');
    expect(ds.FrameOfReferenceUID).toBe(series.frameOfReferenceUID);
    expect(ds.SeriesNumber).toBe(42);
    expect(ds.NumberOfFrames).toBe(built.frames.length);
    expect(ds.ContentDate).toBe('20240102');
    expect(ds.ContentTime).toBe('030405');
    const items = ds.SegmentSequence as Record<string, unknown>[];
    expect(items.map((s) => s.RecommendedDisplayCIELabValue)).toEqual([
      [32739, 49572, 44480],
      [42652, 19838, 43803],
    ]);
    const refs = (ds.ReferencedSeriesSequence as Record<string, unknown>[])[0];
    expect(refs.SeriesInstanceUID).toBe(series.seriesInstanceUID);
    const uids = new Set(built.frames.map((f) => series.images[f.k].sopInstanceUID));
    expect((refs.ReferencedInstanceSequence as Record<string, unknown>[]).map((r) => r.ReferencedSOPInstanceUID).sort()).toEqual([...uids].sort());
    // Same seed, same file; UIDs differ from the source's.
    expect(Buffer.from(buildBinarySeg(series, segments, { ...OPTIONS, seriesNumber: 42 }).bytes).equals(Buffer.from(built.bytes))).toBe(true);
    expect(built.seriesInstanceUID).not.toBe(series.seriesInstanceUID);
    expect(built.seriesInstanceUID).toMatch(/^2\.25\.\d+$/);
  });

  describe('multi-frame source without positions (GE Invenia-style sweep)', () => {
    // 9 x 7 = 63 pixels a frame: frames start inside bytes.
    const mf = multiFrameSource(7, 9, 12);
    const mfSegments = [
      ball('Lesion 1: Malignant 60% (AI)', true, [4, 3, 4], 2.5, [1, 0, 1], [7, 6, 7]),
      ball('Lesion 2', null, [6, 4, 9], 2, [4, 2, 8], [8, 6, 11]),
    ];

    withDciodvfy('dciodvfy reports no errors', () => {
      const { bytes } = buildBinarySeg(mf, mfSegments, OPTIONS);
      expect(dciodvfy(bytes, 'multi-frame').errors).toEqual([]);
    });

    withDciodvfy('with a frame of reference, dciodvfy reports no errors either', () => {
      const { bytes } = buildBinarySeg({ ...mf, frameOfReferenceUID: makeUid('test/for2') }, mfSegments, OPTIONS);
      expect(dciodvfy(bytes, 'multi-frame-for').errors).toEqual([]);
    });

    it('references the right frame numbers and computes positions along the normal', () => {
      const { built, read } = expectRoundTrip(mf, mfSegments, (f) => f.frameNumber! - 1);
      read.frames.forEach((f, n) => {
        const k = built.frames[n].k;
        expect(f.sopInstanceUID).toBe(mf.images[0].sopInstanceUID);
        expect(f.frameNumber).toBe(k + 1);
        [0, 0, 0.5 * k].forEach((x, a) => expect(f.imagePositionPatient[a]).toBeCloseTo(x, 6));
      });
      const ds = readPart10(built.bytes);
      expect(ds.FrameOfReferenceUID).toBeUndefined();
      const refs = (ds.ReferencedSeriesSequence as Record<string, unknown>[])[0].ReferencedInstanceSequence as Record<string, unknown>[];
      expect(refs.map((r) => r.ReferencedSOPInstanceUID)).toEqual([mf.images[0].sopInstanceUID]);
    });

    it('packs the frames as one bit stream, least significant bit first', () => {
      const built = buildBinarySeg(mf, mfSegments, OPTIONS);
      const ds = readPart10(built.bytes);
      const data = new Uint8Array((ds.PixelData as ArrayBuffer[])[0]);
      const bits = built.frames.length * 63;
      expect(data.length).toBe(Math.ceil(bits / 16) * 2); // no padding between frames, even length
      // The expected stream, pixel by pixel.
      const dims = [9, 7, 12];
      const full = mfSegments.map((s) => fullMask(s, dims));
      built.frames.forEach(({ segment, k }, f) => {
        for (let p = 0; p < 63; p++) {
          const bit = f * 63 + p;
          expect((data[bit >> 3] >> (bit & 7)) & 1).toBe(full[segment - 1][k * 63 + p]);
        }
      });
      for (let bit = bits; bit < data.length * 8; bit++) expect((data[bit >> 3] >> (bit & 7)) & 1).toBe(0);
    });
  });

  it('packBits: frames back to back at the bit level', () => {
    // Two 3 x 5 = 15-pixel frames: the second starts at bit 7 of byte 1.
    const a = new Uint8Array(15);
    const b = new Uint8Array(15);
    a[0] = 1;
    a[14] = 1;
    b[0] = 1;
    b[1] = 1;
    expect(Array.from(packBits([a, b], 15))).toEqual([0b00000001, 0b11000000, 0b00000001, 0b00000000]);
    // 8-pixel frames stay byte aligned.
    expect(Array.from(packBits([new Uint8Array([1, 0, 0, 0, 0, 0, 0, 1]), new Uint8Array([0, 1, 0, 0, 0, 0, 0, 0])], 8))).toEqual([0x81, 0x02]);
  });

  it('refuses inconsistent input', () => {
    const seg = segments[0];
    expect(() => buildBinarySeg(series, [{ ...seg, mask: seg.mask.subarray(1) }], OPTIONS)).toThrow(/mask has/);
    expect(() => buildBinarySeg(series, [{ ...seg, max: [40, 15, 12] }], OPTIONS)).toThrow(/outside the source/);
    expect(() => buildBinarySeg(series, [{ ...seg, mask: new Uint8Array(seg.mask.length) }], OPTIONS)).toThrow(/nothing to write/);
  });
});

/**
 * The errors a dciodvfy from before DICOM Sup 243 (dicom3tools 2022, as Debian 12 ships it) reports on
 * a correct Label Map SEG, each explained. That release knows neither SOP class ...66.7 nor
 * Segmentation Type LABELMAP; dicom3tools added both in 2024 (its CHANGES: 240914, 241114).
 */
const PRE_SUP243 = {
  /** On the file as written: the SOP class picks no IOD, so no module is checked. */
  asWritten: [
    /^Error - Information Object Not found$/,
    // A check run without an IOD: Segment Numbers must run 1, 2, ...; Sup 243 lets a label map describe 0.
    /^Error - SegmentNumber not monotonically increasing from one by one - have SegmentSequence item number 1 \(from one\) with SegmentNumber of 0$/,
  ],
  /** On the same dataset relabelled as SOP class ...66.4, so that every module of the Segmentation IOD is checked. */
  asSegmentationIod: [
    /^Error - Unrecognized enumerated value <LABELMAP> for value 1 of attribute <Segmentation Type>$/,
    /^Error - Value is zero for value 1 of attribute <Segment Number>$/,
    /^Error - SegmentNumber not monotonically increasing from one by one - have SegmentSequence item number 1 \(from one\) with SegmentNumber of 0$/,
    // Sup 243 requires the Segmentation functional group only where Segmentation Type is not LABELMAP.
    /^Error - Missing attribute Type 1 Required Element=<SegmentIdentificationSequence> Module=<SegmentationMacro>$/,
  ],
  /** Before Sup 243 a non-binary SEG had 8 bits only. */
  sixteenBits: [
    /^Error - Unrecognized enumerated value <0x10> for value 1 of attribute <Bits Allocated>$/,
    /^Error - Unrecognized enumerated value <0x10> for value 1 of attribute <Bits Stored>$/,
    /^Error - Unrecognized enumerated value <0xf> for value 1 of attribute <High Bit>$/,
  ],
};

/** A parsed item, read loosely. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

/**
 * dicom3tools 2024-12-20 (the first with Sup 243) still asks a label map for General Image Patient
 * Orientation: its condition waives it, given Plane Orientation, for SOP class ...66.4 only, while
 * PS3.3 C.7.6.1 and A.51 (one IOD for both SOP classes) waive it for both. The same dataset
 * relabelled ...66.4 gets no such error from it.
 */
const SUP243_VALIDATOR_GAPS = [/^Error - Missing attribute Type 2C Conditional Element=<PatientOrientation> Module=<GeneralImage>$/];

const unexplained = (lines: string[], known: RegExp[]) => lines.filter((l) => !known.some((re) => re.test(l)));

/**
 * dciodvfy on a Label Map SEG. One that knows Sup 243 must report no errors but its known gap. An
 * older one cannot validate the IOD, so the strongest check it allows is made instead: its errors
 * on the file must all be the explained ones, and so must its errors on the dataset relabelled as
 * a classic Segmentation (which checks every module), with the Segment Identification missing
 * exactly where a label map leaves it out. Warnings, as for the binary SEG, may only be DICOMDIR hints.
 */
function expectValidLabelMap(bytes: Uint8Array, name: string): void {
  const asWritten = dciodvfy(bytes, name);
  expect(unexplained(asWritten.warnings, [/needed to build DICOMDIR/])).toEqual([]);
  if (!asWritten.errors.some((l) => PRE_SUP243.asWritten[0].test(l))) {
    expect(unexplained(asWritten.errors, SUP243_VALIDATOR_GAPS)).toEqual([]);
    return;
  }
  expect(unexplained(asWritten.errors, PRE_SUP243.asWritten)).toEqual([]);

  const ds = readPart10(bytes);
  expect(ds.SOPClassUID).toBe(LABEL_MAP_SEGMENTATION_STORAGE);
  const bits = Number(ds.BitsAllocated);
  const relabelled = writePart10({ ...ds, SOPClassUID: SEGMENTATION_STORAGE, _vrMap: { PixelData: bits === 16 ? 'OW' : 'OB', PixelPaddingValue: 'US' } });
  const asSegmentation = dciodvfy(relabelled, `${name}-as-segmentation-iod`);
  expect(unexplained(asSegmentation.warnings, [/needed to build DICOMDIR/])).toEqual([]);
  expect(unexplained(asSegmentation.errors, [...PRE_SUP243.asSegmentationIod, ...(bits === 16 ? PRE_SUP243.sixteenBits : [])])).toEqual([]);
  // It looks for the group in the shared functional groups and in each frame's: one miss each.
  expect(asSegmentation.errors.filter((l) => l.includes('<SegmentIdentificationSequence>')).length).toBe(Number(ds.NumberOfFrames) + 1);
}

/** Both flavours through readSeg. */
function expectMasksRoundTrip(series: SourceSeries, segments: SegmentInput[], flavour: SegFlavour, kOf: SliceOf) {
  const built = buildSeg(series, segments, OPTIONS, flavour);
  const read = readSeg(built.bytes);
  expect(read.flavour).toBe(flavour);
  expectMasks(read, series, segments, kOf);
  return { built, read };
}

describe.each<SegFlavour>(['binary', 'labelmap'])('%s SEG read back with readSeg', (flavour) => {
  it('single-frame source, two segments', () => {
    const series = singleFrameSource();
    const byUid = new Map(series.images.map((im, k) => [im.sopInstanceUID, k]));
    const segments = [
      ball('Lesion 1', true, [10, 10, 8], 4, [5, 5, 4], [15, 15, 12]),
      ball('Lesion 2', false, [22, 12, 9], 3.5, [18, 8, 5], [26, 16, 13]), // shares slices with lesion 1
    ];
    const { read } = expectMasksRoundTrip(series, segments, flavour, (f) => byUid.get(f.sopInstanceUID)!);
    for (const f of read.frames) {
      const k = byUid.get(f.sopInstanceUID)!;
      f.imagePositionPatient.forEach((x, a) => expect(x).toBeCloseTo(series.images[k].imagePositionPatient![a], 6));
    }
  });

  it('multi-frame source, two segments, frames starting inside bytes', () => {
    const mf = multiFrameSource(7, 9, 12);
    const segments = [
      ball('Lesion 1', true, [2, 2, 4], 2, [0, 0, 2], [4, 4, 6]),
      ball('Lesion 2', null, [7, 5, 5], 2, [5, 3, 3], [8, 6, 7]), // shares slices with lesion 1, not voxels
    ];
    const { read } = expectMasksRoundTrip(mf, segments, flavour, (f) => f.frameNumber! - 1);
    for (const f of read.frames) {
      expect(f.sopInstanceUID).toBe(mf.images[0].sopInstanceUID);
      [0, 0, 0.5 * (f.frameNumber! - 1)].forEach((x, a) => expect(f.imagePositionPatient[a]).toBeCloseTo(x, 6));
    }
  });
});

describe('label map DICOM SEG (Sup 243)', () => {
  const series = singleFrameSource();
  // Lesions 1 and 3 share slices 6..10; lesion 2 lies apart.
  const segments = [
    ball('Lesion 1: Malignant 87% (AI)', true, [10, 10, 8], 4, [5, 5, 4], [15, 15, 12]),
    ball('Lesion 2: Benign 20% (AI)', false, [22, 15, 14], 3, [19, 12, 12], [25, 18, 16]),
    ball('Lesion 3', null, [24, 6, 8], 3, [20, 2, 5], [28, 10, 11]),
  ];
  const mf = multiFrameSource(7, 9, 12);
  const mfSegments = [
    ball('Lesion 1: Malignant 60% (AI)', true, [4, 3, 4], 2.5, [1, 0, 1], [7, 6, 7]),
    ball('Lesion 2', null, [6, 4, 9], 2, [4, 2, 8], [8, 6, 11]),
  ];

  withDciodvfy('single-frame source: dciodvfy reports no error but its own known limits', () => {
    expectValidLabelMap(buildLabelMapSeg(series, segments, OPTIONS).bytes, 'labelmap-single-frame');
  });

  withDciodvfy('multi-frame source, with and without a frame of reference: the same', () => {
    expectValidLabelMap(buildLabelMapSeg(mf, mfSegments, OPTIONS).bytes, 'labelmap-multi-frame');
    expectValidLabelMap(buildLabelMapSeg({ ...mf, frameOfReferenceUID: makeUid('test/for2') }, mfSegments, OPTIONS).bytes, 'labelmap-multi-frame-for');
  });

  it('writes one 8-bit frame per slice holding a segment, each pixel its segment number', () => {
    const built = buildLabelMapSeg(series, segments, OPTIONS);
    const ds = readPart10(built.bytes);
    expect(built.sopClassUID).toBe('1.2.840.10008.5.1.4.1.1.66.7');
    expect(ds.SOPClassUID).toBe('1.2.840.10008.5.1.4.1.1.66.7');
    expect(ds.SegmentationType).toBe('LABELMAP');
    expect([ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation, ds.SamplesPerPixel]).toEqual([8, 8, 7, 0, 1]);
    expect(ds.PhotometricInterpretation).toBe('MONOCHROME2');
    expect(ds.PixelPaddingValue).toBe(0);
    expect(ds.SegmentsOverlap).toBe('NO');

    const dims = [series.columns, series.rows, series.images.length];
    const size = dims[0] * dims[1];
    const full = segments.map((s) => fullMask(s, dims));
    const slices = Array.from({ length: dims[2] }, (_, k) => k).filter((k) => full.some((m) => m.subarray(k * size, (k + 1) * size).includes(1)));
    expect(built.slices).toEqual(slices); // k order, empty slices left out
    expect(ds.NumberOfFrames).toBe(slices.length);
    const data = new Uint8Array((ds.PixelData as ArrayBuffer[])[0]);
    expect(data.length).toBe(slices.length * size + ((slices.length * size) % 2));
    slices.forEach((k, f) => {
      for (let p = 0; p < size; p++) {
        const owner = full.findIndex((m) => m[k * size + p] === 1);
        expect(data[f * size + p]).toBe(owner + 1); // 0 where no segment
      }
    });
    // Lesions 1 and 3 do share frames.
    expect(slices.filter((k, f) => data.subarray(f * size, (f + 1) * size).includes(1) && data.subarray(f * size, (f + 1) * size).includes(3)).length).toBeGreaterThan(0);
  });

  it('describes the background as segment 0 and the lesions with the binary SEG codes', () => {
    const ds = readPart10(buildLabelMapSeg(series, segments, OPTIONS).bytes);
    const items = ds.SegmentSequence as Json[];
    expect(items.map((s) => [s.SegmentNumber, s.SegmentLabel])).toEqual([[0, 'Background'], ...segments.map((s, n) => [n + 1, s.label])]);
    expect(items[0].SegmentedPropertyTypeCodeSequence[0]).toMatchObject({ CodeValue: '125040', CodingSchemeDesignator: 'DCM' });
    for (const item of items.slice(1)) {
      expect(item.SegmentedPropertyCategoryCodeSequence[0]).toMatchObject({ CodeValue: '49755003', CodingSchemeDesignator: 'SCT' });
      expect(item.SegmentedPropertyTypeCodeSequence[0]).toMatchObject({ CodeValue: '4147007', CodingSchemeDesignator: 'SCT' });
      expect(item.AnatomicRegionSequence[0]).toMatchObject({ CodeValue: '76752008', CodingSchemeDesignator: 'SCT' });
      expect(item.SegmentAlgorithmType).toBe('AUTOMATIC');
      expect(item.SegmentationAlgorithmIdentificationSequence[0]).toMatchObject({ AlgorithmName: 'CMSVNetIter', AlgorithmVersion: '0.1.0' });
    }
    // The binary SEG of the same lesions describes them identically.
    const binaryItems = readPart10(buildBinarySeg(series, segments, OPTIONS).bytes).SegmentSequence as unknown[];
    expect(items.slice(1)).toEqual(binaryItems);
  });

  it('names no segment per frame, only the source frame and its position', () => {
    const built = buildLabelMapSeg(mf, mfSegments, OPTIONS);
    const ds = readPart10(built.bytes);
    const frames = ds.PerFrameFunctionalGroupsSequence as Json[];
    expect(frames.length).toBe(built.slices.length);
    frames.forEach((item, f) => {
      const k = built.slices[f];
      expect(item.SegmentIdentificationSequence).toBeUndefined();
      expect(item.FrameContentSequence[0].DimensionIndexValues).toBe(k + 1);
      const source = item.DerivationImageSequence[0].SourceImageSequence[0];
      expect(source).toMatchObject({ ReferencedSOPClassUID: US_MULTIFRAME, ReferencedSOPInstanceUID: mf.images[0].sopInstanceUID, ReferencedFrameNumber: k + 1 });
      expect(source.PurposeOfReferenceCodeSequence[0].CodeValue).toBe('121322');
      expect(item.DerivationImageSequence[0].DerivationCodeSequence[0].CodeValue).toBe('113076');
    });
    expect((ds.SharedFunctionalGroupsSequence as Record<string, unknown>[])[0].SegmentIdentificationSequence).toBeUndefined();
    const dimensions = ds.DimensionIndexSequence as Record<string, unknown>[];
    expect(dimensions.map((d) => d.DimensionDescriptionLabel)).toEqual(['Position']);
    const refs = (ds.ReferencedSeriesSequence as Json[])[0].ReferencedInstanceSequence;
    expect(refs.map((r: Json) => r.ReferencedSOPInstanceUID)).toEqual([mf.images[0].sopInstanceUID]);
  });

  it('uses 16 bits beyond 255 segments', () => {
    // 300 one-voxel segments over slices 0..2 of the 32 x 24 source.
    const many: SegmentInput[] = Array.from({ length: 300 }, (_, n) => {
      const [i, j, k] = [n % 32, Math.floor(n / 32) % 24, Math.floor(n / (32 * 24)) + (n % 3)];
      return { label: `Lesion ${n + 1}`, malignant: null, mask: new Uint8Array([1]), min: [i, j, k], max: [i, j, k] };
    });
    const built = buildLabelMapSeg(series, many, OPTIONS);
    const ds = readPart10(built.bytes);
    expect([ds.BitsAllocated, ds.BitsStored, ds.HighBit]).toEqual([16, 16, 15]);
    expect(built.slices).toEqual([0, 1, 2]);
    const byUid = new Map(series.images.map((im, k) => [im.sopInstanceUID, k]));
    const read = readSeg(built.bytes);
    expect(read.segments.length).toBe(300);
    expect(read.frames.length).toBe(300);
    for (const f of read.frames) {
      const seg = many[f.segment - 1];
      expect(byUid.get(f.sopInstanceUID)).toBe(seg.min[2]);
      expect(f.pixels.reduce((a, b) => a + b, 0)).toBe(1);
      expect(f.pixels[seg.min[1] * 32 + seg.min[0]]).toBe(1);
    }
  });

  withDciodvfy('16 bits: dciodvfy reports no error but its own known limits', () => {
    const many: SegmentInput[] = Array.from({ length: 256 }, (_, n) => ({ label: `L${n + 1}`, malignant: null, mask: new Uint8Array([1]), min: [n % 32, n >> 5, 3], max: [n % 32, n >> 5, 3] }));
    expectValidLabelMap(buildLabelMapSeg(series, many, OPTIONS).bytes, 'labelmap-16-bit');
  });

  it('is selected by buildSeg, binary by default', () => {
    expect(Buffer.from(buildSeg(series, segments, OPTIONS).bytes).equals(Buffer.from(buildBinarySeg(series, segments, OPTIONS).bytes))).toBe(true);
    expect(Buffer.from(buildSeg(series, segments, OPTIONS, 'labelmap').bytes).equals(Buffer.from(buildLabelMapSeg(series, segments, OPTIONS).bytes))).toBe(true);
    // Same seed: reproducible, and never the binary SEG's UIDs.
    const lm = buildLabelMapSeg(series, segments, OPTIONS);
    const bin = buildBinarySeg(series, segments, OPTIONS);
    expect(Buffer.from(buildLabelMapSeg(series, segments, OPTIONS).bytes).equals(Buffer.from(lm.bytes))).toBe(true);
    expect(lm.sopInstanceUID).not.toBe(bin.sopInstanceUID);
    expect(lm.seriesInstanceUID).not.toBe(bin.seriesInstanceUID);
    expect(readPart10(lm.bytes).DimensionOrganizationSequence).not.toEqual(readPart10(bin.bytes).DimensionOrganizationSequence);
  });

  it('refuses overlapping segments, which the binary flavour keeps', () => {
    const overlapping = [segments[0], ball('Lesion 2', null, [12, 10, 8], 3, [9, 7, 6], [15, 13, 10])];
    expect(() => buildLabelMapSeg(series, overlapping, OPTIONS)).toThrow(/segments 1 and 2 overlap at voxel .*use the binary flavour/);
    expect(readBinarySeg(buildBinarySeg(series, overlapping, OPTIONS).bytes).segments.length).toBe(2);
    expect(() => buildLabelMapSeg(series, [{ ...segments[0], mask: new Uint8Array(segments[0].mask.length) }], OPTIONS)).toThrow(/nothing to write/);
    expect(() => buildLabelMapSeg(series, [{ ...segments[0], max: [40, 15, 12] }], OPTIONS)).toThrow(/outside the source/);
  });

  it('readBinarySeg refuses a label map; readSeg refuses pixel values no segment describes', () => {
    const built = buildLabelMapSeg(series, segments, OPTIONS);
    expect(() => readBinarySeg(built.bytes)).toThrow(/only binary/);
    const ds = readPart10(built.bytes);
    const fewer = writePart10({ ...ds, SegmentSequence: (ds.SegmentSequence as unknown[]).slice(0, 3), _vrMap: { PixelData: 'OB', PixelPaddingValue: 'US' } });
    expect(() => readSeg(fewer)).toThrow(/pixel value 3, which no Segment Sequence item describes/);
  });
});
