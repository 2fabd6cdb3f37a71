/**
 * The real prebuilt OHIF viewer, 3.13.2, from the npm registry (`npm pack`: installing the
 * package fails because one of its dependencies is not published), unpacked once into a cache.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const OHIF_VERSION = '3.13.2';

/** The pristine dist folder under `cacheDir` (downloaded on first use; never modified). */
export function ohifDistIn(cacheDir: string): string {
  const folder = path.join(cacheDir, `ohif-app-${OHIF_VERSION}`);
  const dist = path.join(folder, 'package', 'dist');
  if (fs.existsSync(path.join(dist, 'index.html'))) return dist;
  fs.mkdirSync(folder, { recursive: true });
  let tgz: string;
  try {
    tgz = execFileSync('npm', ['pack', `@ohif/app@${OHIF_VERSION}`, '--silent', '--pack-destination', folder], { encoding: 'utf8' }).trim().split('\n').pop() as string;
  } catch (err) {
    throw new Error(`Could not download the OHIF ${OHIF_VERSION} viewer with npm pack (is the npm registry reachable?): ${(err as Error).message.split('\n')[0]}`);
  }
  execFileSync('tar', ['xzf', path.join(folder, tgz), '-C', folder]);
  fs.rmSync(path.join(folder, tgz));
  return dist;
}
