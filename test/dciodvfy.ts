/**
 * dciodvfy (dicom3tools), the DICOM IOD validator, for the tests of every DICOM file this project
 * writes. Where it is missing, test/prerequisites.ts skips the tests that need it with the reason,
 * or fails the run under CI=true.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PREREQUISITES, prerequisites } from './prerequisites';

const gate = prerequisites(['dciodvfy'], 'tests that validate DICOM with dciodvfy');

/** test(), or test.skip() with the reason in its title when dciodvfy is missing. */
export const withDciodvfy = Object.assign(
  (title: string, fn: jest.ProvidesCallback, timeout?: number) => gate.it(gate.title(title), fn, timeout),
  { each: <T extends unknown[]>(cases: readonly T[]) => gate.it.each(cases) },
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
  const run = spawnSync(PREREQUISITES.dciodvfy.file, [target], { encoding: 'utf8' });
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  const text = `${run.stdout}\n${run.stderr}`;
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const warnings = lines.filter((l) => l.startsWith('Warning'));
  if (warnings.length) console.log(`dciodvfy warnings (${name}):\n${warnings.join('\n')}`);
  return { errors: lines.filter((l) => l.startsWith('Error')), warnings, text };
}
