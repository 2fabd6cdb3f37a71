/**
 * The results of a study's analyses as DICOM: one SEG (a segment per lesion) and one TID 1500
 * SR (each lesion's finding, size and P(malignant)), built the same way by the viewer plugin and
 * the command line from the source series' own attributes.
 */
import type { AnalysisResult } from '../pipeline/analyze';
import type { VolumeGeometry } from '../volume';
import { NaturalDataset, nums, str } from './common';
import { buildSeg, SegFlavour, SourceSeries } from './seg';
import { buildMeasurementReport } from './sr';

/** The algorithm that made the SEG's segments and the SR's findings (Segment Algorithm Name, TID 4019). */
export const ALGORITHM_NAME = 'ABUS Tumor AI CMSVNetIter';

export interface ExportedFiles {
  seg: { bytes: Uint8Array; sopInstanceUID: string; seriesInstanceUID: string };
  sr: { bytes: Uint8Array; sopInstanceUID: string; seriesInstanceUID: string };
}

/** One slice of the source series: its instance's attributes and, in a multi-frame image, its frame (1-based). */
export interface SourceSlice {
  dataset: NaturalDataset;
  frameNumber?: number;
}

/** How a lesion is named on screen and in the exports, e.g. "Malignant 87% (AI)". */
export function lesionLabel(result: AnalysisResult): string {
  if (result.probability === null) return 'Lesion (AI)';
  const cls = result.label === 'malignant' ? 'Malignant' : 'Benign';
  return `${cls} ${Math.round(result.probability * 100)}% (AI)`;
}

/** A person name as text, however it was read (a PN object with Alphabetic, or a string). */
function personName(v: unknown): string | undefined {
  const first = Array.isArray(v) ? v[0] : v;
  if (first === undefined || first === null) return undefined;
  return typeof first === 'object' ? (first as { Alphabetic?: string }).Alphabetic : String(first);
}

/**
 * The source series as the SEG and SR writers need it: slices in the engine's k order, with the
 * geometry the analysis used (which a multi-frame sweep may have had to assume).
 */
export function sourceSeries(slices: SourceSlice[], geometry: VolumeGeometry): SourceSeries {
  const first = slices[0]?.dataset;
  if (!first) throw new Error('The series metadata is not loaded');
  return {
    studyInstanceUID: str(first, 'StudyInstanceUID') as string,
    seriesInstanceUID: str(first, 'SeriesInstanceUID') as string,
    frameOfReferenceUID: str(first, 'FrameOfReferenceUID'),
    patientName: personName(first.PatientName),
    patientId: str(first, 'PatientID'),
    patientBirthDate: str(first, 'PatientBirthDate'),
    patientSex: str(first, 'PatientSex'),
    studyDate: str(first, 'StudyDate'),
    studyTime: str(first, 'StudyTime'),
    studyId: str(first, 'StudyID'),
    accessionNumber: str(first, 'AccessionNumber'),
    referringPhysicianName: personName(first.ReferringPhysicianName),
    rows: Number(first.Rows),
    columns: Number(first.Columns),
    // DICOM order: row spacing (along j), column spacing (along i); orientation = directions of i and j.
    pixelSpacing: [geometry.spacing[1], geometry.spacing[0]],
    imageOrientationPatient: [0, 3, 6, 1, 4, 7].map((n) => geometry.direction[n]) as SourceSeries['imageOrientationPatient'],
    sliceSpacing: geometry.spacing[2],
    images: slices.map(({ dataset, frameNumber }) => ({
      sopClassUID: str(dataset, 'SOPClassUID') as string,
      sopInstanceUID: str(dataset, 'SOPInstanceUID') as string,
      frameNumber: Number(dataset.NumberOfFrames) > 1 ? frameNumber : undefined,
      imagePositionPatient: nums(dataset, 'ImagePositionPatient')?.slice(0, 3) as [number, number, number] | undefined,
    })),
  };
}

/** `segFlavour` picks the SEG's SOP class: classic binary (the default) or Label Map (Sup 243). */
export function buildLesionExport(
  series: SourceSeries,
  lesions: { number: number; result: AnalysisResult }[],
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
