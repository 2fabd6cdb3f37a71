/**
 * The real prebuilt OHIF viewer, 3.13.2, from the npm registry (`npm pack`: installing the
 * package fails because one of its dependencies is not published). Cached under
 * test/fixtures/generated/, which git ignores.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const OHIF_VERSION = '3.13.2';
const CACHE = path.join(__dirname, '..', 'fixtures', 'generated', `ohif-app-${OHIF_VERSION}`);

/** The pristine dist folder (never modified: tests copy it before installing anything). */
export function ohifDist(): string {
  const dist = path.join(CACHE, 'package', 'dist');
  if (fs.existsSync(path.join(dist, 'index.html'))) return dist;
  fs.mkdirSync(CACHE, { recursive: true });
  const tgz = execFileSync('npm', ['pack', `@ohif/app@${OHIF_VERSION}`, '--silent', '--pack-destination', CACHE], { encoding: 'utf8' }).trim().split('\n').pop() as string;
  execFileSync('tar', ['xzf', path.join(CACHE, tgz), '-C', CACHE]);
  fs.rmSync(path.join(CACHE, tgz));
  return dist;
}

/** A writable copy of the dist (hard links would let a patch leak into the cache). */
export function copyOfOhifDist(target: string): string {
  fs.cpSync(ohifDist(), target, { recursive: true });
  return target;
}
