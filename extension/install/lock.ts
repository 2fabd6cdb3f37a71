/**
 * One install-ohif at a time per viewer folder: a lock file created exclusively (O_EXCL) holds
 * the pid of the run that owns it. A second run refuses in one line; a lock whose process is
 * gone (a run killed with SIGKILL) is taken over.
 */
import * as fs from 'fs';
import * as path from 'path';

export const LOCK_FILE = '.abus-tumor-ai.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // there, but someone else's
  }
}

/** Takes the viewer's lock; returns the function that releases it. */
export function lockViewer(viewer: string): () => void {
  const file = path.join(viewer, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(fs.readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new Error(`another abus-ai install-ohif (pid ${pid}) is changing ${viewer}; wait for it to finish (lock file ${file})`);
      }
      fs.rmSync(file, { force: true }); // left by a run that no longer exists
    }
  }
  throw new Error(`could not take the lock ${file}`);
}
