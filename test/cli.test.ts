/** The abus-ai command line, run as a user runs it (the built bin script, a real process). */
import { execFileSync, spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { nodeGzipCodec, parseNrrd, writeNrrd } from '@abus-tumor-ai/engine/node';
import { IDENTITY_DIRECTION, readPart10, Vec3, Volume, writeDicomSeries } from '@abus-tumor-ai/engine';
import { dciodvfy, withDciodvfy } from './dciodvfy';
import { readBinarySeg, readMeasurementReport } from './dicom-readers';
import { writeUntrainedModel } from './fixtures/untrained-model';

const BIN = join(__dirname, '..', 'models', 'tools', 'bin', 'abus-ai.js');
const dir = mkdtempSync(join(tmpdir(), 'abus-cli-'));

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function blobVolume(): Volume {
  const dims: Vec3 = [96, 64, 48];
  const data = new Uint8Array(dims[0] * dims[1] * dims[2]);
  for (let k = 0; k < dims[2]; k++)
    for (let j = 0; j < dims[1]; j++)
      for (let i = 0; i < dims[0]; i++) {
        const r = Math.hypot((i - 48) * 0.5, (j - 32) * 0.3, (k - 24) * 0.8);
        data[i + dims[0] * (j + dims[1] * k)] = r < 6 ? 40 : 120 + ((i * 7 + j * 13 + k * 17) % 40);
      }
  return { dims, spacing: [0.5, 0.3, 0.8], origin: [5, -3, 2], direction: IDENTITY_DIRECTION, data };
}

beforeAll(() => {
  // An untrained tiny model: these tests check the command line, not accuracy.
  execFileSync(process.execPath, [BIN, 'init-weights', '--out', join(dir, 'w'), '--width', '4', '--grid', '64,32,64', '--voxel', '1']);
  writeFileSync(join(dir, 'vol.nrrd'), writeNrrd(blobVolume()));
});

test('infer prints one JSON object with the documented fields and writes the mask', () => {
  const r = run(['infer', '--input', join(dir, 'vol.nrrd'), '--center', '48,32,24', '--weights', join(dir, 'w'), '--json', '--out', join(dir, 'mask.nrrd')]);
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout);
  expect(Object.keys(out)).toEqual(expect.arrayContaining(['found', 'probability', 'verdict', 'volume_ml', 'diameters_mm', 'bbox', 'backend', 'timings_ms']));
  expect(out.probability).toBeGreaterThanOrEqual(0);
  expect(out.notice).toMatch(/not for clinical diagnosis/);
  expect(r.stderr).toMatch(/abus-ai: backend (wasm|webgpu|cpu)/);
  if (out.found) {
    const mask = parseNrrd(readFileSync(join(dir, 'mask.nrrd')), { codec: nodeGzipCodec() });
    expect(mask.dims).toEqual([out.bbox.max[0] - out.bbox.min[0] + 1, out.bbox.max[1] - out.bbox.min[1] + 1, out.bbox.max[2] - out.bbox.min[2] + 1]);
    expect(Array.from(mask.data).reduce((a, b) => a + b, 0)).toBe(out.voxel_count);
  }
});

test('infer reads a DICOM series folder and patient coordinates the same way', () => {
  const volume = blobVolume();
  const files = writeDicomSeries(volume, { uidSeed: 'cli' }, 'single-frame');
  const series = join(dir, 'series');
  require('fs').mkdirSync(series);
  files.forEach((f, n) => writeFileSync(join(series, `im${n}.dcm`), f));
  const fromNrrd = JSON.parse(run(['infer', '--input', join(dir, 'vol.nrrd'), '--center', '48,32,24', '--weights', join(dir, 'w'), '--json', '--backend', 'wasm']).stdout);
  // voxel (48, 32, 24) in patient mm: origin + spacing * index
  const patient = [5 + 48 * 0.5, -3 + 32 * 0.3, 2 + 24 * 0.8].join(',');
  const fromDicom = JSON.parse(run(['infer', '--input', series, '--center', patient, '--center-space', 'patient', '--weights', join(dir, 'w'), '--json', '--backend', 'wasm']).stdout);
  expect(fromDicom.probability).toBeCloseTo(fromNrrd.probability, 5);
  // DICOM stores positions as decimal strings, so the geometry agrees to ~1e-4 mm, not bit for bit.
  expect(Math.abs(fromDicom.voxel_count - fromNrrd.voxel_count) / fromNrrd.voxel_count).toBeLessThan(0.005);
});

withDciodvfy('infer on DICOM input writes a SEG and an SR that refer to its images and pass dciodvfy', async () => {
  // An untrained net with a positive segmentation bias marks the blob, so there is a lesion to export.
  await writeUntrainedModel(join(dir, 'marking'), { architecture: { encoderConvs: [1, 1, 1, 1, 1], decoderConvs: [1, 1, 1, 1], clsHidden: 8 }, segBias: 2 });
  const series = join(dir, 'series-export');
  require('fs').mkdirSync(series);
  const files = writeDicomSeries(blobVolume(), { uidSeed: 'cli-export' }, 'single-frame');
  files.forEach((f, n) => writeFileSync(join(series, `im${n}.dcm`), f));
  const r = run(['infer', '--input', series, '--center', '48,32,24', '--weights', join(dir, 'marking'), '--json', '--backend', 'wasm', '--seg', join(dir, 'out', 'seg.dcm'), '--sr', join(dir, 'out', 'sr.dcm')]);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout).found).toBe(true);
  const seg = readBinarySeg(readFileSync(join(dir, 'out', 'seg.dcm')));
  const sources = new Set(files.map((f) => String(readPart10(f).SOPInstanceUID)));
  expect(seg.frames.length).toBeGreaterThan(0);
  expect(seg.frames.every((f) => sources.has(f.sopInstanceUID))).toBe(true);
  expect(readMeasurementReport(readFileSync(join(dir, 'out', 'sr.dcm'))).lesions).toHaveLength(1);
  for (const name of ['seg', 'sr']) expect(dciodvfy(join(dir, 'out', `${name}.dcm`), name).errors).toEqual([]);
});

test('--seg needs DICOM input', () => {
  const r = run(['infer', '--input', join(dir, 'vol.nrrd'), '--center', '48,32,24', '--weights', join(dir, 'w'), '--seg', join(dir, 'x.dcm')]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/--seg and --sr need DICOM input/);
});

describe('bad input exits non-zero with one clear line', () => {
  const cases: [string, () => string[], RegExp][] = [
    ['missing file', () => ['infer', '--input', join(dir, 'nope.nrrd'), '--center', '1,2,3', '--weights', join(dir, 'w')], /Input not found/],
    ['2-D image', () => {
      const flat: Volume = { dims: [64, 64, 1], spacing: [1, 1, 1], origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data: new Uint8Array(64 * 64) };
      writeFileSync(join(dir, 'flat.nrrd'), writeNrrd(flat));
      return ['infer', '--input', join(dir, 'flat.nrrd'), '--center', '1,2,0', '--weights', join(dir, 'w')];
    }, /2-D image/],
    ['centre outside the volume', () => ['infer', '--input', join(dir, 'vol.nrrd'), '--center', '500,2,3', '--weights', join(dir, 'w')], /outside the volume/],
    ['weights for another architecture', () => {
      const card = JSON.parse(readFileSync(join(dir, 'w', 'model-card.json'), 'utf8'));
      card.architecture.baseWidth = 8;
      require('fs').cpSync(join(dir, 'w'), join(dir, 'w8'), { recursive: true });
      writeFileSync(join(dir, 'w8', 'model-card.json'), JSON.stringify(card));
      return ['infer', '--input', join(dir, 'vol.nrrd'), '--center', '1,2,3', '--weights', join(dir, 'w8')];
    }, /do not match the cmsvnetiter architecture/],
    ['corrupt shard', () => {
      require('fs').cpSync(join(dir, 'w'), join(dir, 'wc'), { recursive: true });
      const shard = join(dir, 'wc', 'group1-shard1of1.bin');
      const bytes = readFileSync(shard);
      bytes[10] ^= 1;
      writeFileSync(shard, bytes);
      return ['infer', '--input', join(dir, 'vol.nrrd'), '--center', '1,2,3', '--weights', join(dir, 'wc')];
    }, /corrupt: SHA-256/],
    ['bad centre', () => ['infer', '--input', join(dir, 'vol.nrrd'), '--center', '1,2', '--weights', join(dir, 'w')], /--center must be three/],
  ];
  test.each(cases)('%s', (_name, args, message) => {
    const r = run(args());
    expect(r.code).not.toBe(0);
    const errorLines = r.stderr.split('\n').filter((l) => l.startsWith('abus-ai: error:'));
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toMatch(message);
    expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace
  });
});
