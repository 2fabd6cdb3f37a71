/** Reads the CLI's --input: an NRRD file or a folder of DICOM files. */
import * as fs from 'fs';
import { readDicomFolder, Vec3, Volume } from '@abus-tumor-ai/engine';
import { nodeGzipCodec, parseNrrd } from '@abus-tumor-ai/engine/node';

export interface LoadedVolume {
  volume: Volume;
  notes: string[];
}

export function parseTriple(text: string, what: string): Vec3 {
  const parts = text.split(',').map((s) => Number(s.trim()));
  if (parts.length !== 3 || parts.some((v) => !Number.isFinite(v))) throw new Error(`${what} must be three comma-separated numbers, got '${text}'`);
  return parts as Vec3;
}

export function loadVolume(input: string, spacing?: Vec3): LoadedVolume {
  if (!fs.existsSync(input)) throw new Error(`Input not found: ${input}`);
  const notes: string[] = [];
  let volume: Volume;
  if (fs.statSync(input).isDirectory()) {
    const dicom = readDicomFolder(input);
    notes.push(...dicom.assumedGeometry.map((n) => `assumed geometry: ${n}`));
    volume = dicom;
  } else if (/\.n(rrd|hdr)$/i.test(input)) {
    volume = parseNrrd(new Uint8Array(fs.readFileSync(input)), { codec: nodeGzipCodec() });
  } else {
    throw new Error(`Unsupported input ${input}: give an .nrrd file or a folder of DICOM files`);
  }
  if (volume.dims.filter((d) => d > 1).length < 3) throw new Error(`${input} is a 2-D image (${volume.dims.join(' x ')}); a 3-D volume is needed`);
  if (spacing) {
    if (spacing.some((s) => !(s > 0))) throw new Error('--spacing values must be positive');
    volume = { ...volume, spacing };
  } else if (volume.spacing.every((s) => Math.abs(s - 1) < 1e-9)) {
    notes.push('spacing is 1 x 1 x 1 mm, as in headers that carry no spacing (the public TDSC-ABUS NRRDs); pass --spacing, e.g. 0.2,0.073,0.476');
  }
  return { volume, notes };
}
