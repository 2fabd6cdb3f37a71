/**
 * The real prebuilt OHIF viewer, 3.13.2, from the npm registry (`npm pack`: installing the
 * package fails because one of its dependencies is not published), unpacked once into a cache.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const OHIF_VERSION = '3.13.2';

/**
 * The pristine dist folder under `cacheDir` (downloaded on first use; never modified). On a clean
 * machine several test workers ask at once: each unpacks into a folder of its own, and the first
 * to rename it into place wins.
 */
export function ohifDistIn(cacheDir: string): string {
  const folder = path.join(cacheDir, `ohif-app-${OHIF_VERSION}`);
  const dist = path.join(folder, 'package', 'dist');
  const ready = () => fs.existsSync(path.join(dist, 'index.html'));
  if (ready()) return dist;
  fs.mkdirSync(cacheDir, { recursive: true });
  const staging = fs.mkdtempSync(path.join(cacheDir, `.ohif-app-${OHIF_VERSION}-`));
  // mkdtemp makes it private; a web server's user reads the viewer through it.
  fs.chmodSync(staging, 0o755);
  try {
    let tgz: string;
    try {
      tgz = execFileSync('npm', ['pack', `@ohif/app@${OHIF_VERSION}`, '--silent', '--pack-destination', staging], { encoding: 'utf8' }).trim().split('\n').pop() as string;
    } catch (err) {
      throw new Error(`Could not download the OHIF ${OHIF_VERSION} viewer with npm pack (is the npm registry reachable?): ${(err as Error).message.split('\n')[0]}`);
    }
    execFileSync('tar', ['xzf', path.join(staging, tgz), '-C', staging]);
    fs.rmSync(path.join(staging, tgz));
    try {
      fs.renameSync(staging, folder);
    } catch (err) {
      if (ready()) return dist;
      // Not another worker's: a folder left half-unpacked by an interrupted download.
      if (!fs.existsSync(folder)) throw err;
      fs.rmSync(folder, { recursive: true, force: true });
      fs.renameSync(staging, folder);
    }
    return dist;
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}
