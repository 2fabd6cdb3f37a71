/**
 * Whole files and whole new folders: everything the tools write goes to a temporary name beside
 * its target and is renamed into place, so a failed or interrupted run never leaves half a file.
 */
import * as fs from 'fs';
import * as path from 'path';

/** A temporary name beside `target`, hidden, that no other run uses. */
export function tempBeside(target: string): string {
  const absolute = path.resolve(target);
  return path.join(path.dirname(absolute), `.${path.basename(absolute)}.${process.pid}.tmp`);
}

/** Writes through a temporary file in the same folder and a rename, so the target is never half-written. */
export function writeAtomic(file: string, bytes: Uint8Array | string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const temp = tempBeside(file);
  try {
    // Removed first and then created new ('wx'): whatever a crashed run left there, even a FIFO, is never opened.
    fs.rmSync(temp, { force: true });
    fs.writeFileSync(temp, bytes, { flag: 'wx' });
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
}

/**
 * Fills a new folder whole: `fill` writes into a temporary folder beside it, which is renamed into
 * place when it returns, and removed if it throws. An existing folder is written into as it is,
 * each file atomically (writeAtomic), so what was there is never lost half-way.
 */
export async function writeFolder<T>(folder: string, fill: (into: string) => T | Promise<T>): Promise<T> {
  if (fs.existsSync(folder)) return fill(folder);
  fs.mkdirSync(path.dirname(path.resolve(folder)), { recursive: true });
  const temp = tempBeside(folder);
  fs.rmSync(temp, { recursive: true, force: true });
  fs.mkdirSync(temp);
  try {
    const result = await fill(temp);
    fs.renameSync(temp, folder);
    return result;
  } catch (err) {
    fs.rmSync(temp, { recursive: true, force: true });
    throw err;
  }
}
