/**
 * Where a command may write, in one place for every command: never over one of its inputs, never
 * inside an input folder, never into a special file (a device, FIFO or socket: opening a FIFO for
 * writing blocks until someone reads it), never over an existing file that this tool did not write
 * (unless --force), and only whole files: a failed or interrupted run leaves the old file as it was.
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

/** lstat, then stat through a link (neither opens the file, so a FIFO cannot block); undefined if nothing is there. */
function statOf(file: string): fs.Stats | undefined {
  try {
    const link = fs.lstatSync(file, { throwIfNoEntry: false });
    if (!link?.isSymbolicLink()) return link;
    return fs.statSync(file, { throwIfNoEntry: false }) ?? link;
  } catch (err) {
    // A path through a file (a/file.txt/x): nothing is there; refuseUncreatable says why.
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** 'a device', 'a FIFO' or 'a socket' for what is neither a regular file, a folder nor a link. */
function specialKind(stat: fs.Stats): string | undefined {
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isSocket()) return 'a socket';
  return undefined;
}

/** Refuses a special file as an input or output: it is never opened. */
export function refuseSpecial(option: string, file: string): void {
  const stat = statOf(file);
  const kind = stat && specialKind(stat);
  if (kind) throw new CliError(`${option} ${file} is ${kind}, not a regular file; give a file name`, option === '--input' ? 'input' : 'output');
}

/** The real path of `file`, also when it (or the folders above it) do not exist yet. */
function realPath(file: string): string {
  const absolute = path.resolve(file);
  let above = absolute;
  while (!fs.existsSync(above)) above = path.dirname(above);
  return path.join(fs.realpathSync(above), path.relative(above, absolute));
}

/** Every file an input names: the file itself, or the regular files of a folder. */
function inputFiles(input: string): string[] {
  const stat = statOf(input);
  if (!stat) return [];
  if (!stat.isDirectory()) return [input];
  return fs.readdirSync(input).map((n) => path.join(input, n)).filter((f) => statOf(f)?.isFile());
}

/** Same file, also through a link or another spelling of its path. */
function sameFile(a: fs.Stats, b: fs.Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** Refuses `target` (a file or folder to write) when it is an input folder or lies inside one. */
function refuseInsideInput(option: string, target: string, inputs: string[]): void {
  const real = realPath(target);
  for (const input of inputs) {
    if (!statOf(input)?.isDirectory()) continue;
    const folder = fs.realpathSync(input);
    if (real === folder || real.startsWith(folder + path.sep)) {
      throw new CliError(`${option} ${target} is inside the input folder ${input}; write the results somewhere else`, 'output');
    }
  }
}

/** The folder a new file or folder would go in must be creatable: checked now, not after minutes of work. */
function refuseUncreatable(option: string, target: string): void {
  let above = path.dirname(path.resolve(target));
  while (!fs.existsSync(above)) above = path.dirname(above);
  if (!fs.statSync(above).isDirectory()) throw new CliError(`${option} ${target}: ${above} is a file, not a folder`, 'filesystem');
}

/** Throws, naming the option and the path, when `file` must not be written. */
export function checkOutput(option: string, file: string, inputs: string[], force: boolean): void {
  refuseSpecial(option, file);
  const stat = statOf(file);
  for (const input of stat ? inputs.flatMap(inputFiles) : []) {
    if (sameFile(stat!, fs.statSync(input))) throw new CliError(`${option} ${file} is an input file; it would be overwritten (give another file name)`, 'output');
  }
  refuseInsideInput(option, file, inputs);
  if (!stat) return refuseUncreatable(option, file);
  if (stat.isDirectory()) throw new CliError(`${option} ${file} is a folder; give a file name`, 'output');
  if (!force && !writtenByUs(file)) throw new CliError(`${option} ${file} exists and was not written by abus-ai; pass --force to overwrite it`, 'output');
}

/**
 * Throws when `folder` must not be written into: a file or special file, an input folder or one
 * inside it, or an input inside it would be overwritten. The files it will hold are checked
 * with checkOutput when they are known.
 */
export function checkOutputFolder(option: string, folder: string, inputs: string[]): void {
  refuseSpecial(option, folder);
  const stat = statOf(folder);
  if (stat && !stat.isDirectory()) throw new CliError(`${option} ${folder} is a file; give a folder`, 'output');
  refuseInsideInput(option, folder, inputs);
  if (!stat) refuseUncreatable(option, folder);
}

export { tempBeside, writeAtomic, writeFolder } from '@abus-tumor-ai/research';
