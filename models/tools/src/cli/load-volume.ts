/** Reads the CLI's --input: an NRRD file, a DICOM file (one multi-frame sweep) or a folder of DICOM files. */
import * as fs from 'fs';
import { readDicomFolder, readDicomSeries, Vec3, Volume } from '@abus-tumor-ai/engine';
import { nodeGzipCodec, parseNrrd } from '@abus-tumor-ai/engine/node';
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

/** A DICOM Part 10 file: 'DICM' after the 128-byte preamble. */
function isDicomFile(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(132);
    return fs.readSync(fd, head, 0, 132, 0) === 132 && head.toString('latin1', 128, 132) === 'DICM';
  } finally {
    fs.closeSync(fd);
  }
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
  if (spacing?.some((s) => !(s > 0))) throw new CliError('--spacing values must be positive', 'usage');
  const notes: string[] = [];
  let volume: Volume;
  let spacingField: string;
  if (fs.statSync(input).isDirectory() || isDicomFile(input)) {
    const dicom = fs.statSync(input).isDirectory() ? readDicomFolder(input) : readDicomSeries([new Uint8Array(fs.readFileSync(input))]);
    notes.push(...dicom.assumedGeometry.map((n) => `assumed geometry: ${n}`));
    volume = dicom;
    spacingField = 'DICOM Pixel Spacing (0028,0030) and the slice positions or spacing';
  } else if (/\.n(rrd|hdr)$/i.test(input)) {
    try {
      volume = parseNrrd(new Uint8Array(fs.readFileSync(input)), { codec: nodeGzipCodec(), spacing });
    } catch (err) {
      const message = (err as Error).message;
      if (/^NRRD field '(spacings|space directions)'/.test(message)) throw new CliError(`${input}: ${message}; pass --spacing sx,sy,sz if you know it`, 'input');
      throw err;
    }
    spacingField = 'the NRRD header fields';
  } else {
    throw new CliError(`Unsupported input ${input}: give an .nrrd file, a DICOM file or a folder of DICOM files`, 'input');
  }
  if (volume.dims.filter((d) => d > 1).length < 3) throw new CliError(`${input} is a 2-D image (${volume.dims.join(' x ')}); a 3-D volume is needed`, 'input');
  if (spacing) {
    volume = { ...volume, spacing };
  } else if (volume.spacing.some((s) => !(Number.isFinite(s) && s > 0))) {
    // parseNrrd names its own field; DICOM spacing comes from several.
    throw new CliError(`${input}: ${spacingField} give the spacing ${volume.spacing.join(' x ')} mm, which is not finite and positive; pass --spacing sx,sy,sz`, 'input');
  } else if (volume.spacing.every((s) => Math.abs(s - 1) < 1e-9)) {
    notes.push('spacing is 1 x 1 x 1 mm, as in headers that carry no spacing (the public TDSC-ABUS NRRDs); pass --spacing, e.g. 0.2,0.073,0.476');
  }
  checkVoxels(input, volume.data);
  return { volume, notes };
}
