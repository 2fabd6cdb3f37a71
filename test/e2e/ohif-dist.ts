/** The real prebuilt OHIF viewer for tests, cached under test/fixtures/generated/ (git ignores it). */
import * as fs from 'fs';
import * as path from 'path';
import { ohifDistIn } from '@abus-tumor-ai/extension/install';

export { OHIF_VERSION } from '@abus-tumor-ai/extension/install';

/** The pristine dist folder (never modified: tests copy it before installing anything). */
export function ohifDist(): string {
  return ohifDistIn(path.join(__dirname, '..', 'fixtures', 'generated'));
}

/** A writable copy of the dist (hard links would let a patch leak into the cache). */
export function copyOfOhifDist(target: string): string {
  fs.cpSync(ohifDist(), target, { recursive: true });
  return target;
}
