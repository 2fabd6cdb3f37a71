/**
 * Export of the study's results: one DICOM SEG (binary by default, or a label map; one segment
 * per lesion) and one TID 1500 SR with each lesion's P(malignant), stored by STOW-RS to the
 * viewer's DICOMweb source, or downloaded. A failed store loses nothing: the results stay in the panel and can be sent again.
 */
import { buildMeasurementReport, buildSeg, SegFlavour, SourceSeries } from '@abus-tumor-ai/engine';
import type { LesionRecord } from './analysis';
import { label as lesionLabel } from './analysis';
import type { Cornerstone } from './viewer-volume';
import type { VolumeGeometry } from '@abus-tumor-ai/engine';

export interface ExportedFiles {
  seg: { bytes: Uint8Array; sopInstanceUID: string; seriesInstanceUID: string };
  sr: { bytes: Uint8Array; sopInstanceUID: string; seriesInstanceUID: string };
}

/* eslint-disable @typescript-eslint/no-explicit-any */
const text = (v: any): string | undefined => {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return text(v[0]);
  if (typeof v === 'object') return v.Alphabetic ?? undefined;
  return String(v);
};

/**
 * The source series as the SEG writer needs it, in the engine's k order (imageIds as sorted for
 * analysis), with the geometry the analysis used (which a multi-frame sweep may have had to assume).
 */
export function sourceSeries(cs: Cornerstone, imageIds: string[], geometry: VolumeGeometry): SourceSeries {
  const instances = imageIds.map((id) => cs.cornerstone.metaData.get('instance', id));
  const first = instances[0];
  if (!first) throw new Error('The series metadata is not loaded');
  const num = (v: any, n: number) => (Array.isArray(v) ? v.slice(0, n).map(Number) : String(v).split('\\').slice(0, n).map(Number));
  const frame = (id: string) => {
    const m = /[?&]frame=(\d+)/.exec(id) ?? /\/frames\/(\d+)/.exec(id);
    return m ? Number(m[1]) : undefined;
  };
  return {
    studyInstanceUID: first.StudyInstanceUID,
    seriesInstanceUID: first.SeriesInstanceUID,
    frameOfReferenceUID: first.FrameOfReferenceUID,
    patientName: text(first.PatientName),
    patientId: text(first.PatientID),
    patientBirthDate: text(first.PatientBirthDate),
    patientSex: text(first.PatientSex),
    studyDate: text(first.StudyDate),
    studyTime: text(first.StudyTime),
    studyId: text(first.StudyID),
    accessionNumber: text(first.AccessionNumber),
    referringPhysicianName: text(first.ReferringPhysicianName),
    rows: Number(first.Rows),
    columns: Number(first.Columns),
    // DICOM order: row spacing (along j), column spacing (along i); orientation = directions of i and j.
    pixelSpacing: [geometry.spacing[1], geometry.spacing[0]],
    imageOrientationPatient: [0, 3, 6, 1, 4, 7].map((n) => geometry.direction[n]) as SourceSeries['imageOrientationPatient'],
    sliceSpacing: geometry.spacing[2],
    images: instances.map((inst, k) => ({
      sopClassUID: inst.SOPClassUID,
      sopInstanceUID: inst.SOPInstanceUID,
      frameNumber: Number(inst.NumberOfFrames) > 1 ? frame(imageIds[k]) : undefined,
      imagePositionPatient: inst.ImagePositionPatient ? (num(inst.ImagePositionPatient, 3) as [number, number, number]) : undefined,
    })),
  };
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** `segFlavour` picks the SEG's SOP class: classic binary (the default) or Label Map (Sup 243). */
export function buildExport(
  series: SourceSeries,
  lesions: LesionRecord[],
  algorithm: { name: string; version: string; threshold: number; segFlavour?: SegFlavour },
): ExportedFiles {
  if (!lesions.length) throw new Error('There is no result to export yet');
  const seg = buildSeg(
    series,
    lesions.map((l) => ({ label: `Lesion ${l.number}: ${lesionLabel(l.result)}`, malignant: l.result.label === null ? null : l.result.label === 'malignant', mask: l.result.lesion.mask, min: l.result.lesion.min, max: l.result.lesion.max })),
    { algorithmName: algorithm.name, algorithmVersion: algorithm.version, seriesDescription: 'ABUS Tumor AI lesions (research use, not for clinical diagnosis)' },
    algorithm.segFlavour ?? 'binary',
  );
  const sr = buildMeasurementReport(
    { ...series, images: series.images.filter((img, i, all) => all.findIndex((o) => o.sopInstanceUID === img.sopInstanceUID) === i) },
    lesions.map((l, n) => ({
      number: l.number,
      probability: l.result.probability,
      label: l.result.label,
      volumeMl: l.result.size.volumeMl,
      longestDiameterMm: l.result.size.longestMm,
      segment: { sopInstanceUID: seg.sopInstanceUID, seriesInstanceUID: seg.seriesInstanceUID, segmentNumber: n + 1, sopClassUID: seg.sopClassUID },
    })),
    { algorithmName: algorithm.name, algorithmVersion: algorithm.version, decisionThreshold: algorithm.threshold },
  );
  return { seg, sr };
}

/**
 * Stores Part 10 files through OHIF's own data source (its store.dicom: STOW-RS with the viewer's
 * authentication), one file at a time. A failure says whether the server was down or refused.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function storeToDataSource(dataSource: any, files: Uint8Array[]): Promise<void> {
  if (!dataSource?.store?.dicom) throw new Error('The active data source cannot store DICOM; set exportTarget to download');
  for (const file of files) {
    try {
      await dataSource.store.dicom(file.slice().buffer);
    } catch (err) {
      const status = Number((err as { status?: number }).status ?? 0);
      // 502-504 come from a gateway or proxy in front of a server that is down, not from the server.
      if (!status) throw new Error(`The DICOMweb server could not be reached (${(err as Error).message ?? err}); the results are kept, try again`);
      if ([502, 503, 504].includes(status)) throw new Error(`The DICOMweb server is unavailable (HTTP ${status}); the results are kept, try again`);
      throw new Error(`The DICOMweb server refused the SEG and SR (HTTP ${status}); the results are kept, try again`);
    }
  }
}

export function download(name: string, bytes: Uint8Array): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/dicom' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
