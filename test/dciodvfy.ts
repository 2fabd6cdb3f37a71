/**
 * dciodvfy (dicom3tools), the DICOM IOD validator, for the tests of every DICOM file this project
 * writes. Where it is not installed the tests that need it are skipped with the reason; under
 * CI=true (which installs dicom3tools) that is a failure.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const dciodvfyMissing: string | undefined = spawnSync('which', ['dciodvfy']).status === 0 ? undefined : 'dciodvfy (dicom3tools) is not installed';
if (dciodvfyMissing && process.env.CI === 'true') throw new Error(`CI needs ${dciodvfyMissing}`);

/** test(), or test.skip() with the reason in its title when dciodvfy is missing. */
export const withDciodvfy = Object.assign(
  (title: string, fn: jest.ProvidesCallback, timeout?: number) => (dciodvfyMissing ? test.skip(`${title} (skipped: ${dciodvfyMissing})`, fn) : test(title, fn, timeout)),
  { each: <T extends unknown[]>(cases: readonly T[]) => (dciodvfyMissing ? test.skip.each(cases) : test.each(cases)) },
);

/** dciodvfy's report on a file or on bytes: its error and warning lines, and the whole text. */
export function dciodvfy(file: string | Uint8Array, name = 'object'): { errors: string[]; warnings: string[]; text: string } {
  let target = file as string;
  let dir: string | undefined;
  if (typeof file !== 'string') {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dciodvfy-'));
    target = path.join(dir, `${name.replace(/[^\w.-]+/g, "_")}.dcm`);
    fs.writeFileSync(target, file);
  }
  const run = spawnSync('dciodvfy', [target], { encoding: 'utf8' });
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  const text = `${run.stdout}\n${run.stderr}`;
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const warnings = lines.filter((l) => l.startsWith('Warning'));
  if (warnings.length) console.log(`dciodvfy warnings (${name}):\n${warnings.join('\n')}`);
  return { errors: lines.filter((l) => l.startsWith('Error')), warnings, text };
}
