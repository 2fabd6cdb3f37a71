/**
 * Where a command may write: never over one of its inputs, never over an existing file that this
 * tool did not write (unless --force), and only whole files: a failed or interrupted run leaves
 * the old file as it was.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ALGORITHM_NAME } from '@abus-tumor-ai/engine';
import { CliError } from './errors';

/** The files this tool writes carry ALGORITHM_NAME early on: the NRRD content field, the SEG's and SR's algorithm fields. */
export const MASK_CONTENT = `${ALGORITHM_NAME} lesion mask, written by abus-ai`;

function writtenByUs(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(65536);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return head.subarray(0, n).includes(ALGORITHM_NAME, 0, 'latin1');
  } finally {
    fs.closeSync(fd);
  }
}

/** Every file an input names: the file itself, or the files of a folder. */
function inputFiles(input: string): string[] {
  if (!fs.existsSync(input)) return [];
  if (!fs.statSync(input).isDirectory()) return [input];
  return fs.readdirSync(input).map((n) => path.join(input, n)).filter((f) => fs.statSync(f).isFile());
}

/** Same file, also through a link or another spelling of its path. */
function sameFile(a: fs.Stats, b: fs.Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** Throws, naming the option and the path, when `file` must not be written. */
export function checkOutput(option: string, file: string, inputs: string[], force: boolean): void {
  if (!fs.existsSync(file)) {
    // Checked now, not when writing after minutes of work: the folder it goes in must be creatable.
    let above = path.dirname(path.resolve(file));
    while (!fs.existsSync(above)) above = path.dirname(above);
    if (!fs.statSync(above).isDirectory()) throw new CliError(`${option} ${file}: ${above} is a file, not a folder`, 'filesystem');
    return;
  }
  const stat = fs.statSync(file);
  if (stat.isDirectory()) throw new CliError(`${option} ${file} is a folder; give a file name`, 'output');
  for (const input of inputs.flatMap(inputFiles)) {
    if (sameFile(stat, fs.statSync(input))) throw new CliError(`${option} ${file} is an input file; it would be overwritten (give another file name)`, 'output');
  }
  if (!force && !writtenByUs(file)) throw new CliError(`${option} ${file} exists and was not written by abus-ai; pass --force to overwrite it`, 'output');
}

/** Writes through a temporary file in the same folder and a rename, so the target is never half-written. */
export function writeAtomic(file: string, bytes: Uint8Array): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const temp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(temp, bytes);
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
}
