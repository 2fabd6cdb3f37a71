import { spawnSync } from 'child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { IDENTITY_DIRECTION, Mat3, Volume, VoxelArray } from '../volume';
import { makeUid } from './common';
import { dciodvfy, withDciodvfy } from '../../../../test/dciodvfy';
import { DicomVolume, readDicomFolder, readDicomSeries, writeDicomSeries } from './volume';
import * as dcmjs from 'dcmjs';

function ramp<T extends VoxelArray>(make: (n: number) => T, n: number, scale = 1): T {
  const a = make(n);
  for (let i = 0; i < n; i++) a[i] = ((i * 7 + 3) % 251) * scale;
  return a;
}

/** Proper rotation: 30 degrees about z, then 20 degrees about x. */
function rotation(): Mat3 {
  const [cz, sz, cx, sx] = [Math.cos(Math.PI / 6), Math.sin(Math.PI / 6), Math.cos(Math.PI / 9), Math.sin(Math.PI / 9)];
  const rz = [cz, -sz, 0, sz, cz, 0, 0, 0, 1];
  const rx = [1, 0, 0, 0, cx, -sx, 0, sx, cx];
  const m = new Array(9).fill(0);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) m[3 * r + c] += rx[3 * r + k] * rz[3 * k + c];
  return m as Mat3;
}

const sliceVolume: Volume = {
  dims: [5, 3, 4], // 15 bytes a slice: odd, so the writer must pad
  spacing: [0.2, 0.35, 0.7],
  origin: [10, -20.25, 30.5],
  direction: [...IDENTITY_DIRECTION],
  data: ramp((n) => new Uint8Array(n), 60),
};
const sweepVolume: Volume = {
  dims: [6, 4, 5],
  spacing: [0.2, 0.073, 0.5],
  origin: [0, 0, 0],
  direction: [...IDENTITY_DIRECTION],
  data: ramp((n) => new Uint16Array(n), 120, 260),
};
const meta = { patientName: 'Phantom^ABUS', patientId: 'PH001', seriesDescription: 'io test', uidSeed: 'io-test' };

function expectSameVolume(actual: Volume, expected: Volume): void {
  expect(actual.dims).toEqual(expected.dims);
  const close = (a: number[], b: number[]) => a.forEach((x, i) => expect(Math.abs(x - b[i])).toBeLessThan(1e-4));
  close(actual.spacing, expected.spacing);
  close(actual.origin, expected.origin);
  close(actual.direction, expected.direction);
  expect(actual.data.constructor).toBe(expected.data.constructor);
  expect(Array.from(actual.data)).toEqual(Array.from(expected.data));
}

/** Re-writes one file with some attributes changed, through dcmjs. */
function edit(file: Uint8Array, fields: dcmjs.NaturalDataset, transferSyntax?: string): Uint8Array {
  const dict = dcmjs.data.DicomMessage.readFile(new Uint8Array(file).buffer);
  const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict);
  dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({ ...ds, ...fields });
  if (transferSyntax) dict.meta['00020010'].Value = [transferSyntax];
  return new Uint8Array(dict.write());
}

describe('single-frame series', () => {
  test('round trip is voxel-exact with full geometry and no assumptions', () => {
    const files = writeDicomSeries(sliceVolume, meta, 'single-frame');
    expect(files).toHaveLength(4);
    const vol = readDicomSeries(files);
    expectSameVolume(vol, sliceVolume);
    expect(vol.assumedGeometry).toEqual([]);
    expect(vol.seriesInstanceUID).toMatch(/^2\.25\.\d+$/);
    expect(vol.frameOfReferenceUID).toMatch(/^2\.25\.\d+$/);
  });

  test('non-identity orientation, 16-bit, shuffled file order', () => {
    const rotated: Volume = { ...sliceVolume, direction: rotation(), data: ramp((n) => new Uint16Array(n), 60, 250) };
    const files = writeDicomSeries(rotated, meta, 'single-frame');
    const shuffled = [files[2], files[0], files[3], files[1]];
    const vol = readDicomSeries(shuffled);
    expectSameVolume(vol, rotated);
    expect(vol.assumedGeometry).toEqual([]);
  });

  test('implicit VR little endian files read the same', () => {
    const implicit = (v: Volume) => writeDicomSeries(v, meta, 'single-frame').map((f) => edit(f, {}, '1.2.840.10008.1.2'));
    expectSameVolume(readDicomSeries(implicit(sliceVolume)), sliceVolume);
    const vol16 = { ...sliceVolume, data: ramp((n) => new Uint16Array(n), 60, 250) };
    expectSameVolume(readDicomSeries(implicit(vol16)), vol16);
  });

  test('signed pixels and rescale slope/intercept give float values', () => {
    const data = Uint16Array.from({ length: 60 }, (_, i) => (i === 7 ? 65535 : i * 100));
    const files = writeDicomSeries({ ...sliceVolume, data }, meta, 'single-frame').map((f) =>
      edit(f, { PixelRepresentation: 1, RescaleSlope: '2', RescaleIntercept: '-10' }),
    );
    const vol = readDicomSeries(files);
    expect(vol.data).toBeInstanceOf(Float32Array);
    expect(Array.from(vol.data)).toEqual(Array.from(data, (v) => (v === 65535 ? -1 : v) * 2 - 10));
  });

  test('same seed gives identical files; another seed gives other UIDs', () => {
    const a = writeDicomSeries(sliceVolume, meta, 'single-frame');
    expect(writeDicomSeries(sliceVolume, meta, 'single-frame')).toEqual(a);
    const other = readDicomSeries(writeDicomSeries(sliceVolume, { ...meta, uidSeed: 'other' }, 'single-frame'));
    expect(other.seriesInstanceUID).not.toEqual(readDicomSeries(a).seriesInstanceUID);
    expect(makeUid('x')).toEqual(makeUid('x'));
    expect(makeUid()).not.toEqual(makeUid());
    expect(makeUid().length).toBeLessThanOrEqual(64);
  });
});

describe('multi-frame ultrasound', () => {
  test('round trip: spacing from the region calibration, sweep spacing assumed', () => {
    const files = writeDicomSeries(sweepVolume, meta, 'multiframe');
    expect(files).toHaveLength(1);
    const vol: DicomVolume = readDicomSeries(files);
    expectSameVolume(vol, sweepVolume);
    expect(vol.assumedGeometry.length).toBeGreaterThan(0);
    expect(vol.assumedGeometry.join('\n')).toMatch(/sweep spacing 0.5 mm \(the file gives no frame spacing/);
  });

  test('sweepSpacingMm option and a written SpacingBetweenSlices', () => {
    const files = writeDicomSeries(sweepVolume, meta, 'multiframe');
    expect(readDicomSeries(files, { sweepSpacingMm: 0.8 }).spacing[2]).toBe(0.8);
    const withSpacing = readDicomSeries(writeDicomSeries(sweepVolume, { ...meta, omitSweepSpacing: false }, 'multiframe'), { sweepSpacingMm: 0.8 });
    expect(withSpacing.spacing[2]).toBeCloseTo(0.5, 9);
    expect(withSpacing.assumedGeometry.join('\n')).not.toMatch(/sweep spacing/);
  });

  test('8-bit multi-frame keeps Uint8Array', () => {
    const vol8 = { ...sweepVolume, data: ramp((n) => new Uint8Array(n), 120) };
    expectSameVolume(readDicomSeries(writeDicomSeries(vol8, meta, 'multiframe')), vol8);
  });
});

describe('clear errors', () => {
  const slices = writeDicomSeries(sliceVolume, meta, 'single-frame');
  const sweep = writeDicomSeries(sweepVolume, meta, 'multiframe');

  test.each<[string, () => unknown, string]>([
    ['no files', () => readDicomSeries([]), 'no image files'],
    ['one single-frame image', () => readDicomSeries([slices[0]]), '2-D image: one frame only'],
    ['two series', () => readDicomSeries([...slices, ...writeDicomSeries(sliceVolume, { ...meta, uidSeed: 'b' }, 'single-frame')]), 'mixed series: the files belong to 2 series'],
    ['multi-frame with slices', () => readDicomSeries([...sweep, ...slices]), 'give one multi-frame image or a series of single-frame images'],
    ['duplicate slice', () => readDicomSeries([...slices, slices[1]]), 'two slices at the same position'],
    ['not DICOM', () => readDicomSeries([new TextEncoder().encode('hello'), ...slices]), 'file 1 is not a readable DICOM file'],
    ['compressed', () => readDicomSeries([edit(sweep[0], {}, '1.2.840.10008.1.2.4.50')]), 'transfer syntax 1.2.840.10008.1.2.4.50 (JPEG baseline) is not supported'],
    ['different sizes', () => readDicomSeries([...slices.slice(1), edit(slices[0], { Rows: 1 })]), 'differs from file 1 in Rows'],
    ['colour', () => readDicomSeries([edit(sweep[0], { SamplesPerPixel: 3 })]), 'is a colour image'],
    ['a missing slice', () => readDicomSeries([slices[0], slices[1], slices[3]]), 'a slice is missing: file 2 (at 31.200 mm along the slice normal) and file 3 (at 32.600 mm) are 1.400 mm apart, the other slices 0.700 mm'],
    ['uneven slices', () => readDicomSeries([slices[0], slices[1], edit(slices[2], { ImagePositionPatient: [10, -20.25, 31.7] }), slices[3]]), 'the slices are unevenly spaced'],
    ['PixelSpacing against the region calibration', () => readDicomSeries([edit(sweep[0], { PixelSpacing: ['1', '1'] })]), "PixelSpacing (0028,0030) is 1\\1 (row\\column, mm) but the ultrasound region calibration (0018,602C/602E) gives 0.073 x 0.2 mm (row x column)"],
    ['a spacing over 10 mm', () => readDicomSeries([edit(sweep[0], { SpacingBetweenSlices: 25 })]), 'give the spacing 0.2 x 0.073 x 25 mm: 25 mm is over 10 mm per voxel'],
    ['a Segmentation given as the image', () => readDicomSeries([edit(sweep[0], { SOPClassUID: '1.2.840.10008.5.1.4.1.1.66.4' })]), 'file 1 is a Segmentation object, not an image series'],
    ['16-bit values out of range', () => writeDicomSeries({ ...sweepVolume, data: new Float32Array(120).fill(0.5) }, meta, 'multiframe'), 'voxel value 0.5 does not fit'],
  ])('%s', (_name, run, message) => {
    expect(run).toThrow(message);
  });
});

test('readDicomFolder skips non-DICOM files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dicom-folder-'));
  writeDicomSeries(sliceVolume, meta, 'single-frame').forEach((f, k) => writeFileSync(join(dir, `slice${k}.dcm`), f));
  writeFileSync(join(dir, 'README.txt'), 'not an image');
  expectSameVolume(readDicomFolder(dir), sliceVolume);
  expect(() => readDicomFolder(mkdtempSync(join(tmpdir(), 'dicom-empty-')))).toThrow('no image files');
});

withDciodvfy.each<[string, Volume]>([
  ['single-frame', { ...sliceVolume, direction: rotation() }],
  ['multiframe', { ...sweepVolume, data: ramp((n) => new Uint8Array(n), 120) }],
])('dciodvfy finds no errors in a %s file', (form, volume) => {
  const full = { ...meta, laterality: 'L' as const, studyDate: '20240102', studyTime: '030405' };
  expect(dciodvfy(writeDicomSeries(volume, full, form as 'single-frame' | 'multiframe')[0], `${form} image`).errors).toEqual([]);
});
