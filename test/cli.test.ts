/** The abus-ai command line, run as a user runs it (the built bin script, a real process). */
import { execFileSync, spawnSync } from 'child_process';
import { createHash } from 'crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { nodeGzipCodec, parseNrrd, writeNrrd } from '@abus-tumor-ai/engine/node';
import { IDENTITY_DIRECTION, readPart10, Vec3, Volume, writeDicomSeries } from '@abus-tumor-ai/engine';
import { dciodvfy, withDciodvfy } from './dciodvfy';
import { readBinarySeg, readMeasurementReport } from './dicom-readers';
import { writeUntrainedModel } from './fixtures/untrained-model';

const BIN = join(__dirname, '..', 'models', 'tools', 'cli', 'bin', 'abus-ai.js');
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
  expect(Object.keys(out)).toEqual(expect.arrayContaining(['found', 'probability', 'probability_range', 'views', 'verdict', 'volume_ml', 'diameters_mm', 'bbox', 'center_index', 'click_index', 'analyses', 'backend', 'timings_ms']));
  expect(out.probability).toBeGreaterThanOrEqual(0);
  if (out.probability !== null) {
    expect(out.probability_range[0]).toBeLessThanOrEqual(out.probability);
    expect(out.probability_range[1]).toBeGreaterThanOrEqual(out.probability);
  }
  expect(out.click_index).toEqual([48, 32, 24]);
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

/** Every file under `root` with its SHA-256, to show that a refused command changed nothing. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[p] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(root);
  return out;
}

/** A raw uint8 NRRD with a hand-written header line, as other tools write them. */
function nrrdWithHeader(file: string, headerLine: string): string {
  const dims = [32, 24, 16];
  const data = Buffer.alloc(dims[0] * dims[1] * dims[2]);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 200;
  writeFileSync(file, Buffer.concat([Buffer.from(`NRRD0004\ntype: uint8\ndimension: 3\nsizes: ${dims.join(' ')}\n${headerLine}\nencoding: raw\n\n`), data]));
  return file;
}

describe('bad input never changes a file and always answers', () => {
  const bad = join(dir, 'bad');
  const vol = () => join(dir, 'vol.nrrd');
  const infer = (...args: string[]) => ['infer', '--center', '16,12,8', '--weights', join(dir, 'w'), ...args];
  beforeAll(() => {
    mkdirSync(join(bad, 'a-folder'), { recursive: true });
    nrrdWithHeader(join(bad, 'nan-spacing.nrrd'), 'spacings: nan nan nan');
    nrrdWithHeader(join(bad, 'negative-spacing.nrrd'), 'spacings: 0.5 -0.3 0.8');
    nrrdWithHeader(join(bad, 'zero-spacing.nrrd'), 'spacings: 0 0.3 0.8');
    nrrdWithHeader(join(bad, 'nan-direction.nrrd'), 'space: LPS\nspace directions: (nan,0,0) (0,1,0) (0,0,1)');
    const geometry = { spacing: [0.5, 0.3, 0.8] as Vec3, origin: [0, 0, 0] as Vec3, direction: IDENTITY_DIRECTION };
    writeFileSync(join(bad, 'all-nan.nrrd'), writeNrrd({ ...geometry, dims: [32, 24, 16], data: new Float32Array(32 * 24 * 16).fill(NaN) }));
    const someNan = new Float32Array(32 * 24 * 16).map((_, i) => i % 50);
    someNan[100] = Infinity;
    writeFileSync(join(bad, 'some-nan.nrrd'), writeNrrd({ ...geometry, dims: [32, 24, 16], data: someNan }));
    writeFileSync(join(bad, 'constant.nrrd'), writeNrrd({ ...geometry, dims: [32, 24, 16], data: new Uint8Array(32 * 24 * 16).fill(7) }));
    writeFileSync(join(bad, 'notes.nrrd'), 'a file of the user: not to be overwritten\n');
  });

  // [name, arguments, exit status, code in the --json answer, message]
  const cases: [string, () => string[], number, string, RegExp][] = [
    ['--out equal to --input', () => infer('--input', vol(), '--out', vol()), 1, 'output', /--out .*vol\.nrrd is an input file/],
    ['--out the input by another spelling', () => infer('--input', vol(), '--out', join(dir, '.', 'bad', '..', 'vol.nrrd')), 1, 'output', /is an input file/],
    ['--out an input even with --force', () => infer('--input', vol(), '--out', vol(), '--force'), 1, 'output', /is an input file/],
    ['--seg onto a file of the DICOM input folder', () => infer('--input', join(dir, 'series'), '--seg', join(dir, 'series', 'im0.dcm')), 1, 'output', /--seg .*im0\.dcm is an input file/],
    ['--out an existing file abus-ai did not write', () => infer('--input', vol(), '--out', join(bad, 'notes.nrrd')), 1, 'output', /notes\.nrrd exists and was not written by abus-ai; pass --force/],
    ['--out a folder', () => infer('--input', vol(), '--out', join(bad, 'a-folder')), 1, 'output', /--out .*a-folder is a folder; give a file name/],
    ['--out below a file', () => infer('--input', vol(), '--out', join(bad, 'notes.nrrd', 'mask.nrrd')), 1, 'filesystem', /notes\.nrrd is a file, not a folder/],
    ['spacings: nan nan nan', () => infer('--input', join(bad, 'nan-spacing.nrrd')), 1, 'input', /NRRD field 'spacings' is 'NaN NaN NaN'.*pass --spacing/],
    ['a negative spacing', () => infer('--input', join(bad, 'negative-spacing.nrrd')), 1, 'input', /NRRD field 'spacings' is '0.5 -0.3 0.8'/],
    ['a zero spacing', () => infer('--input', join(bad, 'zero-spacing.nrrd')), 1, 'input', /NRRD field 'spacings' is '0 0.3 0.8'/],
    ['a NaN space direction', () => infer('--input', join(bad, 'nan-direction.nrrd')), 1, 'input', /NRRD field 'space directions' of axis 0/],
    ['an all-NaN volume', () => infer('--input', join(bad, 'all-nan.nrrd')), 1, 'input', /every voxel is NaN or infinite/],
    ['a volume with an infinite voxel', () => infer('--input', join(bad, 'some-nan.nrrd')), 1, 'input', /1 of 12288 voxels are NaN or infinite/],
    ['a constant volume', () => infer('--input', join(bad, 'constant.nrrd')), 1, 'input', /every voxel has the value 7; a constant volume/],
    ['a negative --spacing', () => infer('--input', vol(), '--spacing', '0.5,-1,1'), 2, 'usage', /--spacing 0.5,-1,1: -1 is not a finite number of mm above 0; .*see abus-ai infer --help/],
    ['--weights a file, not a folder', () => ['infer', '--input', vol(), '--center', '16,12,8', '--weights', vol()], 1, 'error', /Could not read .*vol\.nrrd\/model-card\.json: ENOTDIR/],
    ['a missing option', () => ['infer', '--input', vol(), '--weights', join(dir, 'w')], 2, 'usage', /required option '--center <x,y,z>' not specified; see abus-ai infer --help$/],
    ['an unknown option', () => infer('--input', vol(), '--bogus'), 2, 'usage', /unknown option '--bogus'; see abus-ai infer --help$/],
    ['an unknown command', () => ['inferr'], 2, 'usage', /unknown command 'inferr' \(Did you mean infer\?\); see abus-ai --help$/],
  ];
  test.each(cases)('%s', (_name, args, status, code, message) => {
    const before = snapshot(dir);
    for (const json of [false, true]) {
      const r = run(json ? [...args(), '--json'] : args());
      expect(r.code).toBe(status);
      // One line on stderr, no usage text and no stack trace.
      const lines = r.stderr.split('\n').filter((l) => l && !l.startsWith('abus-ai: backend') && !l.startsWith('abus-ai: note'));
      expect(lines).toEqual([expect.stringMatching(/^abus-ai: error: /)]);
      expect(lines[0]).toMatch(message);
      if (json) {
        const answer = JSON.parse(r.stdout);
        expect(answer).toEqual({ error: expect.stringMatching(message.source.includes('see abus-ai') ? /./ : message), code });
        expect(lines[0]).toContain(answer.error);
      } else {
        expect(r.stdout).toBe('');
      }
    }
    expect(snapshot(dir)).toEqual(before);
  });

  test('an explicit --spacing overrides a header spacing that is not usable', () => {
    const r = run(infer('--input', join(bad, 'nan-spacing.nrrd'), '--spacing', '0.5,0.3,0.8', '--json'));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).probability).toBeGreaterThanOrEqual(0);
  });

  test('--out may replace a mask abus-ai wrote, and any file with --force; the write is atomic', async () => {
    await writeUntrainedModel(join(dir, 'marking-out'), { architecture: { encoderConvs: [1, 1, 1, 1, 1], decoderConvs: [1, 1, 1, 1], clsHidden: 8 }, segBias: 2 });
    const mask = join(bad, 'out', 'mask.nrrd');
    const args = ['infer', '--input', vol(), '--center', '48,32,24', '--weights', join(dir, 'marking-out'), '--backend', 'wasm', '--json'];
    expect(run([...args, '--out', mask]).code).toBe(0);
    expect(readFileSync(mask).toString('latin1')).toMatch(/content: ABUS Tumor AI CMSVNetIter lesion mask, written by abus-ai/);
    const second = run([...args, '--out', mask]);
    expect(second.code).toBe(0);
    expect(run([...args, '--out', join(bad, 'notes.nrrd'), '--force']).code).toBe(0);
    expect(parseNrrd(readFileSync(join(bad, 'notes.nrrd')), { codec: nodeGzipCodec() }).dims).toEqual(parseNrrd(readFileSync(mask), { codec: nodeGzipCodec() }).dims);
    expect(readdirSync(join(bad, 'out'))).toEqual(['mask.nrrd']); // no temporary file left behind
  });

  test('one multi-frame DICOM file is accepted as --input', () => {
    const [file] = writeDicomSeries(blobVolume(), { uidSeed: 'cli-multiframe' }, 'multiframe');
    writeFileSync(join(bad, 'sweep.dcm'), file);
    const r = run(['infer', '--input', join(bad, 'sweep.dcm'), '--center', '48,32,24', '--weights', join(dir, 'w'), '--json', '--backend', 'wasm']);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).probability).toBeGreaterThanOrEqual(0);
  });
});

test('eval on a tiny set warns that the classification figures are not reliable and shows no ± for n = 1', () => {
  const data = join(dir, 'tiny-set');
  execFileSync(process.execPath, [BIN, 'phantom', '--out', data, '--count', '1', '--seed', '1']);
  const r = run(['eval', '--data', data, '--weights', join(dir, 'w'), '--backend', 'wasm']);
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/abus-ai: warning: only \d+ benign and \d+ malignant lesions: AUC and the other classification figures/);
  const row = r.stdout.split('\n').find((l) => l.startsWith('| cmsvnetiter | 1 |'));
  expect(row).toBeDefined();
  expect(row).not.toContain('±');
  expect(row).not.toMatch(/AUC|0\.000 \|.*0\.000 \|/);
});
