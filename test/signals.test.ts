/**
 * SIGINT and SIGTERM at each stage of infer and detect (the built command line, a real process):
 * exit 130 (143 for SIGTERM), one line saying so ({"error":"cancelled"} with --json), and no
 * output file or folder, not even a temporary one.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeNrrd } from '@abus-tumor-ai/engine/node';
import { generatePhantom } from '@abus-tumor-ai/research';
import { prerequisites } from './prerequisites';

const BIN = path.join(__dirname, '..', 'models', 'tools', 'cli', 'bin', 'abus-ai.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-signals-'));
const gate = prerequisites(['wasm', 'shipped model'], 'cancelling infer and detect');

/** Runs the CLI, sends `signal` when stderr first matches `when`; resolves with what happened. */
function interrupt(args: string[], when: RegExp, signal: NodeJS.Signals): Promise<{ status: number | null; stdout: string; stderr: string; sent: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    const limit = setTimeout(() => child.kill('SIGKILL'), 100_000);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!sent && when.test(stderr)) {
        sent = true;
        child.kill(signal);
      }
    });
    child.on('error', reject);
    child.on('exit', (status) => {
      clearTimeout(limit);
      resolve({ status, stdout, stderr, sent });
    });
  });
}

// A small phantom with one lesion: the scan has windows and candidates to interrupt.
const phantom = generatePhantom({ seed: 4242, lesionCount: 1, malignant: true, volumeRangeMl: [2, 4], sizeMm: [60, 40, 60], spacing: [1, 0.5, 1] });
fs.writeFileSync(path.join(dir, 'lesion.nrrd'), writeNrrd(phantom.volume));
const center = phantom.clickCenter.map(Math.round).join(',');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const cases: [string, string[], RegExp, NodeJS.Signals, number][] = [
  ['infer, SIGINT once the model is loaded', ['infer', '--input', 'lesion.nrrd', '--center', center, '--backend', 'wasm', '--out', 'mask.nrrd'], /abus-ai: backend/, 'SIGINT', 130],
  ['infer --json, SIGTERM once the model is loaded', ['infer', '--input', 'lesion.nrrd', '--center', center, '--backend', 'wasm', '--out', 'mask.nrrd', '--json'], /abus-ai: backend/, 'SIGTERM', 143],
  ['detect, SIGINT while scanning', ['detect', '--input', 'lesion.nrrd', '--backend', 'wasm', '--out', 'found'], /scanning window 1 of/, 'SIGINT', 130],
  ['detect --json, SIGINT while analysing a candidate', ['detect', '--input', 'lesion.nrrd', '--backend', 'wasm', '--out', 'found', '--json'], /analysing candidate 1 of/, 'SIGINT', 130],
  ['detect, SIGTERM while analysing a candidate', ['detect', '--input', 'lesion.nrrd', '--backend', 'wasm', '--out', 'found'], /analysing candidate 1 of/, 'SIGTERM', 143],
];

gate.describe('a signal at any stage: exit 130/143 and nothing written', () => {
  test.each(cases)('%s', async (_name, args, when, signal, status) => {
    const before = fs.readdirSync(dir).sort();
    const r = await interrupt(args.map((a) => (/\.(nrrd)$|^found$/.test(a) ? path.join(dir, a) : a)), when, signal);
    expect(r.sent).toBe(true);
    expect(r.status).toBe(status);
    expect(r.stderr).toContain(`abus-ai: cancelled (${signal}); nothing written`);
    expect(r.stderr).not.toMatch(/^\s+at .*:\d+/m);
    if (args.includes('--json')) expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ error: 'cancelled', code: 'cancelled' });
    // No mask, no folder, no temporary file.
    expect(fs.readdirSync(dir).sort()).toEqual(before);
  }, 120_000);
});
