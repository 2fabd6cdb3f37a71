/**
 * The results of a study's analyses as DICOM: one SEG (a segment per lesion) and one TID 1500
 * SR (each lesion's finding, size and P(malignant)), built the same way by the viewer plugin and
 * the command line from the source series' own attributes.
 */
import type { AnalysisResult } from '../pipeline/analyze';
import { indexToPatient, VolumeGeometry } from '../volume';
import { Laterality, NaturalDataset, nums, seq, str } from './common';
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

/**
 * How a lesion is named on screen and in the exports: the verdict words where the card's
 * operating points give them, and the probability always, e.g. "Suspicious for malignancy, 87% (AI)"
 * or, from a card without operating points, "P(malignant) 87% (AI)".
 */
export function lesionLabel(result: Pick<AnalysisResult, 'probability' | 'verdict'>): string {
  if (result.probability === null) return 'Lesion (AI)';
  const percent = `${Math.round(result.probability * 100)}%`;
  return result.verdict ? `${result.verdict}, ${percent} (AI)` : `P(malignant) ${percent} (AI)`;
}

const sideOf = (v: unknown): Laterality['side'] => {
  const s = String(Array.isArray(v) ? v[0] : v ?? '').trim().toUpperCase();
  return s === 'L' || s === 'R' ? s : undefined;
};

/**
 * Laterality from the source's own attributes: Laterality (series), Image Laterality, Frame
 * Laterality (Frame Anatomy, in the shared or first per-frame functional group), and only as a
 * last resort a series description that says left or right, reported as such. Never guessed.
 */
export function lateralityOf(dataset: NaturalDataset): Laterality {
  const frameLaterality = (groups: unknown) => seq(seq(groups)[0]?.FrameAnatomySequence)[0]?.FrameLaterality;
  const candidates: [unknown, string][] = [
    [dataset.Laterality, 'Laterality (0020,0060)'],
    [dataset.ImageLaterality, 'Image Laterality (0020,0062)'],
    [frameLaterality(dataset.SharedFunctionalGroupsSequence), 'Frame Laterality (0020,9072)'],
    [frameLaterality(dataset.PerFrameFunctionalGroupsSequence), 'Frame Laterality (0020,9072)'],
  ];
  for (const [value, from] of candidates) {
    const side = sideOf(value);
    if (side) return { side, from };
  }
  const description = String(dataset.SeriesDescription ?? '');
  const left = /\b(left|lt)\b/i.test(description);
  const right = /\b(right|rt)\b/i.test(description);
  if (left !== right) return { side: left ? 'L' : 'R', from: `the series description "${description}" (no laterality attribute)` };
  return { from: 'nothing in the source: laterality unknown' };
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
    laterality: lateralityOf(first),
    rows: Number(first.Rows),
    columns: Number(first.Columns),
    // DICOM order: row spacing (along j), column spacing (along i); orientation = directions of i and j.
    pixelSpacing: [geometry.spacing[1], geometry.spacing[0]],
    imageOrientationPatient: [0, 3, 6, 1, 4, 7].map((n) => geometry.direction[n]) as SourceSeries['imageOrientationPatient'],
    sliceSpacing: geometry.spacing[2],
    images: slices.map(({ dataset, frameNumber }, k) => {
      const multiframe = Number(dataset.NumberOfFrames) > 1;
      return {
        sopClassUID: str(dataset, 'SOPClassUID') as string,
        sopInstanceUID: str(dataset, 'SOPInstanceUID') as string,
        frameNumber: multiframe ? frameNumber : undefined,
        // A frame's position is where the analysis placed it (a sweep's frames carry none), so the
        // SEG's positions step by the spacing it states; a slice keeps its own.
        imagePositionPatient: (multiframe ? indexToPatient(geometry, [0, 0, k]) : nums(dataset, 'ImagePositionPatient')?.slice(0, 3)) as [number, number, number] | undefined,
      };
    }),
  };
}

/** `segFlavour` picks the SEG's SOP class: classic binary (the default) or Label Map (Sup 243). */
export function buildLesionExport(
  series: SourceSeries,
  lesions: { number: number; result: AnalysisResult }[],
  algorithm: { name: string; version: string; operatingPoints?: { ruleOut: number; ruleIn: number }; segFlavour?: SegFlavour },
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
      verdict: l.result.verdict,
      volumeMl: l.result.size.volumeMl,
      longestDiameterMm: l.result.size.longestMm,
      segment: { sopInstanceUID: seg.sopInstanceUID, seriesInstanceUID: seg.seriesInstanceUID, segmentNumber: n + 1, sopClassUID: seg.sopClassUID },
    })),
    { algorithmName: algorithm.name, algorithmVersion: algorithm.version, operatingPoints: algorithm.operatingPoints },
  );
  return { seg, sr };
}
