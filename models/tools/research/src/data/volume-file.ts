/**
 * One reader for every command's volume files (infer, detect, eval, train): an NRRD file, one
 * DICOM file (a multi-frame sweep) or a folder of DICOM files. Every error names the file; an
 * NRRD's header is checked (type, size against MAX_VOLUME_BYTES) before its data is read.
 */
import * as fs from 'fs';
import { DicomVolume, readDicomFolder, readDicomSeries, Vec3, Volume } from '@abus-tumor-ai/engine';
import { checkNrrdHeader, nodeGzipCodec, parseNrrd } from '@abus-tumor-ai/engine/node';

/** A DICOM Part 10 file: 'DICM' after the 128-byte preamble. */
export function isDicomFile(file: string): boolean {
  return head(file, 132).toString('latin1', 128, 132) === 'DICM';
}

function head(file: string, bytes: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    return buffer.subarray(0, fs.readSync(fd, buffer, 0, bytes, 0));
  } finally {
    fs.closeSync(fd);
  }
}

/** The error, its message prefixed with the file it is about (unless it names it already). */
function about(file: string, err: unknown): Error {
  const e = err as Error & { code?: string; syscall?: string };
  if (e.syscall || !(e instanceof Error)) return e; // Node's own file errors name their path
  // readDicomSeries calls its one file 'file 1'.
  const message = e.message.replace(/^file 1\b/, file);
  return new Error(message.includes(file) ? message : `${file}: ${message}`);
}

/** `spacing`: the user's, replacing the file's (which is then not checked). */
export function readVolumeFile(file: string, spacing?: Vec3): Volume & Partial<Pick<DicomVolume, 'slices' | 'assumedGeometry'>> {
  try {
    if (fs.statSync(file).isDirectory()) return readDicomFolder(file, { spacing });
    if (isDicomFile(file)) return readDicomSeries([new Uint8Array(fs.readFileSync(file))], { spacing });
    // The header first: a huge or unsupported volume is refused before its data is read.
    checkNrrdHeader(head(file, 1 << 20));
    const volume = parseNrrd(new Uint8Array(fs.readFileSync(file)), { codec: nodeGzipCodec(), spacing });
    return spacing ? { ...volume, spacing } : volume;
  } catch (err) {
    throw about(file, err);
  }
}
