/**
 * abus-ai detect, run in this process through main() with the shipped model on small
 * coarse-spacing phantoms: the ranked list, "no lesion", --out and its refusals, --json errors.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeDicomSeries } from '@abus-tumor-ai/engine';
import { writeNrrd } from '@abus-tumor-ai/engine/node';
import { prerequisites } from '../../../../test/prerequisites';
import { dciodvfy } from '../../../../test/dciodvfy';
import { readBinarySeg, readMeasurementReport } from '../../../../test/dicom-readers';
import { SHIPPED_WEIGHTS } from './layout';
import { generatePhantom } from '@abus-tumor-ai/research';
import { main } from './main';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-detect-'));
const { it: maybe } = prerequisites(['wasm', 'shipped model'], 'abus-ai detect');

/** Runs the command line; resolves with its status and what it printed. */
async function run(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = jest.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  const write = jest.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  try {
    const status = await main(['node', 'abus-ai', ...args]);
    return { status: process.exitCode === 130 ? 130 : status, stdout: out.join('\n'), stderr: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
    write.mockRestore();
  }
}

// 60 x 40 x 60 mm at 1 x 0.5 x 1 mm: one window along each axis but depth, a few seconds on wasm.
const SMALL = { sizeMm: [60, 40, 60] as [number, number, number], spacing: [1, 0.5, 1] as [number, number, number] };
const lesion = generatePhantom({ seed: 4242, lesionCount: 1, malignant: true, volumeRangeMl: [2, 4], ...SMALL });
// A lesion-free phantom the shipped model answers "no lesion" on (seed chosen for that: this
// checks the command's output; how often a scan marks normal tissue is eval --detect's job).
const empty = generatePhantom({ seed: 4244, lesionCount: 0, ...SMALL });
fs.writeFileSync(path.join(dir, 'lesion.nrrd'), writeNrrd(lesion.volume));
fs.writeFileSync(path.join(dir, 'empty.nrrd'), writeNrrd(empty.volume));

// Two lesions the shipped model finds (seed chosen for that): this checks the export of two findings.
const two = generatePhantom({ seed: 4254, lesionCount: 2, lesionsAnywhere: true, volumeRangeMl: [1, 3], sizeMm: [80, 40, 80], spacing: [1, 0.5, 1] });
fs.mkdirSync(path.join(dir, 'two'));
writeDicomSeries(two.volume, { uidSeed: 'detect-two' }, 'single-frame').forEach((f, n) => fs.writeFileSync(path.join(dir, 'two', `im${n}.dcm`), f));

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

maybe('--json: the lesion ranked first, near its true centre, with verdict, size and box; --out writes its mask', async () => {
  const r = await run(['detect', '--input', path.join(dir, 'lesion.nrrd'), '--backend', 'wasm', '--json', '--out', path.join(dir, 'out')]);
  expect(r.status).toBe(0);
  const json = JSON.parse(r.stdout);
  expect(json.lesions_found).toBeGreaterThanOrEqual(1);
  const first = json.candidates[0];
  expect(Object.keys(first)).toEqual(expect.arrayContaining(['rank', 'score', 'found', 'probability', 'verdict', 'volume_ml', 'diameters_mm', 'center_mm', 'bbox', 'bbox_mm']));
  expect(first.rank).toBe(1);
  expect(first.found).toBe(true);
  const truth = lesion.lesions[0];
  expect(Math.hypot(...first.center_mm.map((v: number, a: number) => v - truth.centerMm[a]))).toBeLessThan(6);
  expect(first.probability).toBeGreaterThanOrEqual(0);
  expect(first.volume_ml).toBeGreaterThan(0.5 * truth.volume_ml);
  expect(json.notice).toMatch(/not for clinical diagnosis/);
  expect(r.stderr).toMatch(/scanning window 1 of \d+/);
  expect(json.files).toEqual([path.join(dir, 'out', 'lesion-1.nrrd')].concat(json.lesions_found > 1 ? json.files.slice(1) : []));
  expect(fs.existsSync(path.join(dir, 'out', 'lesion-1.nrrd'))).toBe(true);
});

maybe('a lesion-free volume: "No lesion found" and the research-use notice', async () => {
  const r = await run(['detect', '--input', path.join(dir, 'empty.nrrd'), '--backend', 'wasm']);
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^No lesion found/);
  expect(r.stdout).toMatch(/Research use only, not for clinical diagnosis/);
});

test('refusals: --out over a file, a bad --max-candidates, a missing input (JSON error)', async () => {
  fs.writeFileSync(path.join(dir, 'a-file'), 'x');
  const overFile = await run(['detect', '--input', path.join(dir, 'lesion.nrrd'), '--out', path.join(dir, 'a-file')]);
  expect(overFile.status).toBe(1);
  expect(overFile.stderr).toMatch(/--out .*a-file is a file; give a folder/);
  const bad = await run(['detect', '--input', path.join(dir, 'lesion.nrrd'), '--max-candidates', '0']);
  expect(bad.status).toBe(2);
  expect(bad.stderr).toMatch(/--max-candidates must be a whole number >= 1/);
  const missing = await run(['detect', '--input', path.join(dir, 'nothing.nrrd'), '--json']);
  expect(missing.status).toBe(1);
  expect(JSON.parse(missing.stdout)).toEqual({ error: expect.stringMatching(/Input not found/), code: 'input' });
});

const withTools = prerequisites(['wasm', 'shipped model', 'dciodvfy'], 'abus-ai detect on DICOM');
withTools.it(withTools.title('DICOM input with two lesions: --out holds both masks, and one SEG and one SR with both, valid for dciodvfy'), async () => {
  const out = path.join(dir, 'two-out');
  const r = await run(['detect', '--input', path.join(dir, 'two'), '--backend', 'wasm', '--json', '--out', out]);
  expect(r.status).toBe(0);
  const json = JSON.parse(r.stdout);
  expect(json.lesions_found).toBe(2);
  expect(json.files).toEqual(['lesion-1.nrrd', 'lesion-2.nrrd', 'seg.dcm', 'sr.dcm'].map((f) => path.join(out, f)));
  for (const l of two.lesions) expect(json.candidates.some((c: { found: boolean; center_mm: number[] }) => c.found && Math.hypot(...c.center_mm.map((v, a) => v - l.centerMm[a])) < 6)).toBe(true);
  const seg = readBinarySeg(fs.readFileSync(path.join(out, 'seg.dcm')));
  expect(new Set(seg.frames.map((f) => f.segment))).toEqual(new Set([1, 2]));
  expect(readMeasurementReport(fs.readFileSync(path.join(out, 'sr.dcm'))).lesions.map((l) => l.number)).toEqual([1, 2]);
  for (const name of ['seg', 'sr']) expect(dciodvfy(path.join(out, `${name}.dcm`), name).errors).toEqual([]);
});

maybe('eval --detect --calibrate-score writes a new model whose card ships the scan and a calibration fit on those volumes; the input model is unchanged', async () => {
  const data = path.join(dir, 'detect-set');
  expect((await run(['phantom', '--detect-set', '--count', '3', '--seed', '4260', '--size-mm', '60,40,60', '--spacing', '1,0.5,1', '--out', data])).status).toBe(0);
  const cardBefore = fs.readFileSync(path.join(SHIPPED_WEIGHTS, 'model-card.json'), 'utf8');
  const out = path.join(dir, 'calibrated');
  // minScore 1 proposes nothing: the fit is on what the click analysis found, not on what the
  // input card's minScore let through (with its own, older calibration).
  const r = await run(['eval', '--detect', '--data', data, '--backend', 'wasm', '--scan', '{"minScore":1}', '--calibrate-score', out]);
  expect(r.status).toBe(0);
  expect(r.stderr).toMatch(/calibrated model written to .*calibrated \(\d+ score steps/);
  expect(fs.readFileSync(path.join(SHIPPED_WEIGHTS, 'model-card.json'), 'utf8')).toBe(cardBefore);
  const card = JSON.parse(fs.readFileSync(path.join(out, 'model-card.json'), 'utf8'));
  expect(card.scan.minScore).toBe(1);
  const { raw, share } = card.scan.calibration;
  expect(raw.length).toBe(share.length);
  expect(share.every((y: number, i: number) => y >= 0 && y <= 1 && (i === 0 || y > share[i - 1]))).toBe(true);
  expect(card.metrics.detectionValidation.data).toMatch(/3 whole volumes/);
  // The shards are the input model's, byte for byte, so its checksums still hold.
  for (const s of card.shards) expect(fs.readFileSync(path.join(out, s.path)).equals(fs.readFileSync(path.join(SHIPPED_WEIGHTS, s.path)))).toBe(true);
  // Fit on proposals only: with none (no candidate analysed) there is nothing to calibrate, and no folder.
  const none = await run(['eval', '--detect', '--data', data, '--backend', 'wasm', '--scan', '{"maxCandidates":0}', '--calibrate-score', path.join(dir, 'none')]);
  expect(none.status).not.toBe(0);
  expect(none.stderr).toMatch(/proposed no lesion on these volumes, so there is no score to calibrate/);
  expect(fs.existsSync(path.join(dir, 'none'))).toBe(false);
  // Never over an input, and not with --update-card.
  expect((await run(['eval', '--detect', '--data', data, '--calibrate-score', SHIPPED_WEIGHTS])).status).not.toBe(0);
  const both = await run(['eval', '--detect', '--data', data, '--update-card', '--calibrate-score', path.join(dir, 'other')]);
  expect(both.status).toBe(2);
  expect(both.stderr).toMatch(/--calibrate-score writes a new model folder; --update-card records held-out metrics/);
}, 600_000);
