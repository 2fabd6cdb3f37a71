/** Reads the CLI's --input: an NRRD file, a DICOM file (one multi-frame sweep) or a folder of DICOM files. */
import * as fs from 'fs';
import { Vec3, Volume } from '@abus-tumor-ai/engine';
import { MAX_SPACING_MM, spacingProblem } from '@abus-tumor-ai/engine/lab';
import { isDicomFile, readVolumeFile } from '@abus-tumor-ai/research';
import { CliError } from './errors';
import { refuseSpecial } from './output';

export interface LoadedVolume {
  volume: Volume;
  notes: string[];
}

export function parseTriple(text: string, what: string): Vec3 {
  const parts = text.split(',').map((s) => Number(s.trim()));
  if (parts.length !== 3 || parts.some((v) => !Number.isFinite(v))) throw new CliError(`${what} must be three comma-separated numbers, got '${text}'`, 'usage');
  return parts as Vec3;
}

/** A --spacing option: three spacings in mm, each finite, above 0 and at most MAX_SPACING_MM. */
export function parseSpacing(text: string, what = '--spacing'): Vec3 {
  const spacing = parseTriple(text, what);
  const problem = spacingProblem(spacing);
  if (problem) throw new CliError(`${what} ${text}: ${problem}; give three spacings in mm, each above 0 and at most ${MAX_SPACING_MM}`, 'usage');
  return spacing;
}

/**
 * Voxel values the network cannot use are errors, not results: NaN or infinite voxels spread
 * through every convolution, and a constant volume has nothing to find (both once gave a
 * confident-looking 'benign').
 */
function checkVoxels(input: string, data: ArrayLike<number>): void {
  let bad = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) {
      bad++;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (bad === data.length) throw new CliError(`${input}: every voxel is NaN or infinite; there is no image to analyse`, 'input');
  if (bad) throw new CliError(`${input}: ${bad} of ${data.length} voxels are NaN or infinite; the network needs finite values`, 'input');
  if (!(max > min)) throw new CliError(`${input}: every voxel has the value ${min}; a constant volume has nothing to segment`, 'input');
}

export function loadVolume(input: string, spacing?: Vec3): LoadedVolume {
  if (!fs.existsSync(input)) throw new CliError(`Input not found: ${input}`, 'input');
  // Reading a FIFO would wait for a writer for ever.
  refuseSpecial('--input', input);
  if (!fs.statSync(input).isDirectory() && !isDicomFile(input) && !/\.n(rrd|hdr)$/i.test(input)) {
    throw new CliError(`Unsupported input ${input}: give an .nrrd file, a DICOM file or a folder of DICOM files`, 'input');
  }
  let volume: ReturnType<typeof readVolumeFile>;
  try {
    volume = readVolumeFile(input, spacing);
  } catch (err) {
    const e = err as Error & { syscall?: string };
    if (e.syscall) throw err;
    // A spacing problem can be solved by the user, who may know the spacing.
    throw new CliError(/NRRD field '(spacings|space directions)'|gives no spacing|PixelSpacing|give the spacing/.test(e.message) ? `${e.message}; pass --spacing sx,sy,sz if you know it` : e.message, 'input');
  }
  if (volume.dims.filter((d) => d > 1).length < 3) throw new CliError(`${input} is a 2-D image (${volume.dims.join(' x ')}); a 3-D volume is needed`, 'input');
  const notes = (volume.assumedGeometry ?? []).map((n) => `assumed geometry: ${n}`);
  checkVoxels(input, volume.data);
  return { volume, notes };
}
