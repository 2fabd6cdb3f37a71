import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { makeUid, readPart10 } from './common';
import { buildBinarySeg, packBits, readBinarySeg, SegmentInput, SourceSeries } from './seg';

const US_IMAGE = '1.2.840.10008.5.1.4.1.1.6.1';
const US_MULTIFRAME = '1.2.840.10008.5.1.4.1.1.3.1';
const OPTIONS = { algorithmName: 'CMSVNetIter', algorithmVersion: '0.1.0', uidSeed: 'seg-test', contentDate: new Date(2024, 0, 2, 3, 4, 5) };

const DCIODVFY = '/usr/bin/dciodvfy';
const haveDciodvfy = fs.existsSync(DCIODVFY) || spawnSync('which', ['dciodvfy']).status === 0;
if (!haveDciodvfy) console.log('dciodvfy (dicom3tools) is not installed: the SEG validation tests are skipped');
const withDciodvfy = haveDciodvfy ? it : it.skip;

/** dciodvfy's report on `bytes`: its error and warning lines. */
function dciodvfy(bytes: Uint8Array, name: string): { errors: string[]; warnings: string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'seg-test-'));
  const file = path.join(dir, `${name}.dcm`);
  fs.writeFileSync(file, bytes);
  const run = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  const lines = `${run.stdout}\n${run.stderr}`.split('\n').map((l) => l.trim()).filter(Boolean);
  const warnings = lines.filter((l) => l.startsWith('Warning'));
  if (warnings.length) console.log(`dciodvfy warnings (${name}):\n${warnings.join('\n')}`);
  return { errors: lines.filter((l) => l.startsWith('Error')), warnings };
}

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

/** Checks that the frames read back rebuild every segment voxel for voxel; `kOf` finds a frame's slice. */
function expectRoundTrip(series: SourceSeries, segments: SegmentInput[], kOf: (f: { sopInstanceUID: string; frameNumber?: number }) => number) {
  const built = buildBinarySeg(series, segments, OPTIONS);
  const read = readBinarySeg(built.bytes);
  expect(read.rows).toBe(series.rows);
  expect(read.columns).toBe(series.columns);
  expect(read.segments).toEqual(segments.map((s, n) => ({ number: n + 1, label: s.label })));
  expect(read.frames.length).toBe(built.frames.length);
  const dims = [series.columns, series.rows, series.images.length];
  const size = dims[0] * dims[1];
  segments.forEach((seg, s) => {
    const expected = fullMask(seg, dims);
    const got = new Uint8Array(expected.length);
    for (const f of read.frames.filter((fr) => fr.segment === s + 1)) {
      const k = kOf(f);
      expect(f.pixels.some((v) => v === 1)).toBe(true); // no empty frames
      got.set(f.pixels, k * size);
    }
    expect(Buffer.from(got).equals(Buffer.from(expected))).toBe(true);
  });
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
