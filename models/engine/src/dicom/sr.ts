/**
 * The AI result of one analysis as a DICOM SR "Measurement Report" (TID 1500) in a Comprehensive
 * 3D SR instance: per lesion a Volumetric ROI measurement group (TID 1411) that references its
 * segment in the SEG instance and carries P(malignant) as (111047, DCM, "Probability of cancer")
 * in %, the volume, the longest diameter and, when given, the benign/malignant call.
 *
 * The content tree is built by hand as a naturalized dataset: dcmjs 0.52's SR template helpers
 * throw on ReferencedSegmentation. Written to pass dciodvfy (dicom3tools) with no errors.
 *
 * Codes (all checked against DICOM PS3.16 as carried in pydicom's concept and CID tables, or in
 * dcmtk/highdicom where PS3.16 gives no CID):
 * - (47079000, SCT, "Ultrasonography of breast"): CID 6050 "Breast Procedure Reported".
 * - (21594007, SCT, "Malignant") / (30807003, SCT, "Benign"): CID 6063.
 * - (4147007, SCT, "Mass"), (76752008, SCT, "Breast"): CID 7159 / CID 4.
 * - Volume in (cm3, UCUM, "cubic centimeter") = mL: CID 7462 "Volume Measurement Unit"
 *   (DICOM lists no "ml" unit code).
 */
import { code, decimalString, dicomDate, dicomTime, makeUid, patientAndStudy, uidFor, writePart10 } from './common';
import type { NaturalDataset, StudyContext } from './common';
import { SEGMENTATION_STORAGE } from './seg';
import type { Verdict } from '../pipeline/verdict';

export const COMPREHENSIVE_3D_SR_STORAGE = '1.2.840.10008.5.1.4.1.1.88.34';
export const RESEARCH_USE_DESCRIPTION = 'ABUS Tumor AI (research use, not for clinical diagnosis)';

export interface SrLesion {
  number: number;                 // tracking: "Lesion 1"
  probability: number | null;     // P(malignant) in [0,1] → recorded in % (UCUM "%")
  /** The viewer's words for it; recorded as a qualitative evaluation outside the indeterminate band only. */
  verdict: Verdict | null;
  volumeMl: number;
  longestDiameterMm: number;
  /**
   * The SEG holding the lesion's segment (its SOP class defaults to the binary Segmentation). Its
   * series UID lists the SEG in CurrentRequestedProcedureEvidenceSequence; dciodvfy reports an
   * error for a referenced instance missing there.
   */
  segment: { sopInstanceUID: string; segmentNumber: number; seriesInstanceUID: string; sopClassUID?: string };
}

export interface SrSource extends StudyContext {
  /** The analysed image instances (for the evidence / image library) */
  images: { sopClassUID: string; sopInstanceUID: string }[];
}

export interface SrOptions {
  algorithmName: string;
  algorithmVersion: string;
  seriesNumber?: number;
  /** Reproducible UIDs: the same seed gives the same UIDs. Random UIDs without it. */
  uidSeed?: string;
  contentDate?: Date;
  manufacturer?: string;
  /** The model card's operating points (see verdict.ts); recorded as algorithm parameters. Absent: probability only. */
  operatingPoints?: { ruleOut: number; ruleIn: number };
}

const C = {
  imagingMeasurementReport: code('126000', 'DCM', 'Imaging Measurement Report'),
  language: code('121049', 'DCM', 'Language of Content Item and Descendants'),
  englishUS: code('en-US', 'RFC5646', 'English (United States)'),
  observerType: code('121005', 'DCM', 'Observer Type'),
  device: code('121007', 'DCM', 'Device'),
  deviceObserverUID: code('121012', 'DCM', 'Device Observer UID'),
  deviceObserverName: code('121013', 'DCM', 'Device Observer Name'),
  deviceObserverManufacturer: code('121014', 'DCM', 'Device Observer Manufacturer'),
  deviceObserverModelName: code('121015', 'DCM', 'Device Observer Model Name'),
  procedureReported: code('121058', 'DCM', 'Procedure reported'),
  breastUltrasound: code('47079000', 'SCT', 'Ultrasonography of breast'),
  imageLibrary: code('111028', 'DCM', 'Image Library'),
  imageLibraryGroup: code('126200', 'DCM', 'Image Library Group'),
  imagingMeasurements: code('126010', 'DCM', 'Imaging Measurements'),
  measurementGroup: code('125007', 'DCM', 'Measurement Group'),
  trackingIdentifier: code('112039', 'DCM', 'Tracking Identifier'),
  trackingUID: code('112040', 'DCM', 'Tracking Unique Identifier'),
  finding: code('121071', 'DCM', 'Finding'),
  mass: code('4147007', 'SCT', 'Mass'),
  findingSite: code('363698007', 'SCT', 'Finding Site'),
  breast: code('76752008', 'SCT', 'Breast'),
  leftBreast: code('80248007', 'SCT', 'Left breast'),
  rightBreast: code('73056007', 'SCT', 'Right breast'),
  laterality: code('272741003', 'SCT', 'Laterality'),
  unknown: code('261665006', 'SCT', 'Unknown'),
  referencedSegment: code('121191', 'DCM', 'Referenced Segment'),
  sourceSeries: code('121232', 'DCM', 'Source series for segmentation'),
  algorithmName: code('111001', 'DCM', 'Algorithm Name'),
  algorithmVersion: code('111003', 'DCM', 'Algorithm Version'),
  algorithmParameters: code('111002', 'DCM', 'Algorithm Parameters'),
  probabilityOfCancer: code('111047', 'DCM', 'Probability of cancer'),
  volume: code('118565006', 'SCT', 'Volume'),
  longAxis: code('103339001', 'SCT', 'Long axis'),
  qualitativeEvaluations: code('C0034375', 'UMLS', 'Qualitative Evaluations'),
  percent: code('%', 'UCUM', 'Percent'),
  cubicCentimeter: code('cm3', 'UCUM', 'cubic centimeter'),
  millimeter: code('mm', 'UCUM', 'millimeter'),
};

type Relationship = 'CONTAINS' | 'HAS OBS CONTEXT' | 'HAS CONCEPT MOD';

function item(rel: Relationship | null, valueType: string, name: NaturalDataset | null, fields: NaturalDataset): NaturalDataset {
  return {
    ...(rel ? { RelationshipType: rel } : {}),
    ValueType: valueType,
    ...(name ? { ConceptNameCodeSequence: [name] } : {}),
    ...fields,
  };
}
const container = (rel: Relationship | null, name: NaturalDataset, children: NaturalDataset[], template?: string) =>
  item(rel, 'CONTAINER', name, {
    ContinuityOfContent: 'SEPARATE',
    ...(template ? { ContentTemplateSequence: [{ MappingResource: 'DCMR', TemplateIdentifier: template }] } : {}),
    ...(children.length ? { ContentSequence: children } : {}),
  });
const text = (rel: Relationship, name: NaturalDataset, value: string) => item(rel, 'TEXT', name, { TextValue: value });
const uidref = (rel: Relationship, name: NaturalDataset, value: string) => item(rel, 'UIDREF', name, { UID: value });
const coded = (rel: Relationship, name: NaturalDataset, value: NaturalDataset) => item(rel, 'CODE', name, { ConceptCodeSequence: [value] });
const num = (name: NaturalDataset, value: number, units: NaturalDataset) =>
  item('CONTAINS', 'NUM', name, { MeasuredValueSequence: [{ NumericValue: decimalString(value), MeasurementUnitsCodeSequence: [units] }] });
const image = (rel: Relationship, name: NaturalDataset | null, ref: NaturalDataset) => item(rel, 'IMAGE', name, { ReferencedSOPSequence: [ref] });

/** The TID 1500 Measurement Report of one analysis as a Comprehensive 3D SR Part 10 file. */
export function buildMeasurementReport(
  source: SrSource,
  lesions: SrLesion[],
  options: SrOptions,
): { bytes: Uint8Array; sopInstanceUID: string; seriesInstanceUID: string } {
  if (!source.studyInstanceUID || !source.seriesInstanceUID) throw new Error('the SR needs the study and series UIDs of the analysed images');
  for (const l of lesions) {
    if (l.probability !== null && !(l.probability >= 0 && l.probability <= 1)) throw new Error(`lesion ${l.number}: probability ${l.probability} is not in [0, 1]`);
    if (!l.segment?.sopInstanceUID || !(l.segment.segmentNumber >= 1)) throw new Error(`lesion ${l.number}: no SEG instance / segment number to reference`);
    if (!l.segment.seriesInstanceUID) throw new Error(`lesion ${l.number}: the series UID of the SEG instance is needed for the evidence sequence`);
  }
  const seed = options.uidSeed;
  const seriesInstanceUID = uidFor(seed, `sr/${source.seriesInstanceUID}/series`);
  const sopInstanceUID = uidFor(seed, `sr/${source.seriesInstanceUID}/instance`);
  const when = options.contentDate ?? new Date();
  const manufacturer = options.manufacturer ?? 'ABUS Tumor AI';
  const algorithm = `${options.algorithmName} ${options.algorithmVersion}`;

  const observerContext = [
    coded('HAS OBS CONTEXT', C.observerType, C.device),
    uidref('HAS OBS CONTEXT', C.deviceObserverUID, makeUid(`abus-tumor-ai/device-observer/${algorithm}`)),
    text('HAS OBS CONTEXT', C.deviceObserverName, lo(options.algorithmName)),
    text('HAS OBS CONTEXT', C.deviceObserverManufacturer, lo(manufacturer)),
    text('HAS OBS CONTEXT', C.deviceObserverModelName, lo(algorithm)),
  ];
  const imageLibrary = container('CONTAINS', C.imageLibrary, source.images.length === 0 ? [] : [
    container('CONTAINS', C.imageLibraryGroup, source.images.map((im) =>
      image('CONTAINS', null, { ReferencedSOPClassUID: im.sopClassUID, ReferencedSOPInstanceUID: im.sopInstanceUID }))),
  ]);
  const points = options.operatingPoints;
  const percent = (p: number) => `${Math.round(p * 1000) / 10}%`;
  const parameters = points
    ? `operating points from validation: likely benign below P(malignant) ${percent(points.ruleOut)} (sensitivity >= 95%), suspicious for malignancy above ${percent(points.ruleIn)} (specificity >= 90%), indeterminate between`
    : 'no operating points: the probability only';
  // TID 1500's Finding Site: the left or right breast, or the breast with its laterality stated as unknown.
  const side = source.laterality?.side;
  const findingSite = side
    ? coded('HAS CONCEPT MOD', C.findingSite, side === 'L' ? C.leftBreast : C.rightBreast)
    : { ...coded('HAS CONCEPT MOD', C.findingSite, C.breast), ContentSequence: [coded('HAS CONCEPT MOD', C.laterality, C.unknown)] };
  const groups = lesions.map((l) => {
    const children: NaturalDataset[] = [
      text('HAS OBS CONTEXT', C.trackingIdentifier, `Lesion ${l.number}`),
      uidref('HAS OBS CONTEXT', C.trackingUID, uidFor(seed ?? sopInstanceUID, `sr/${source.seriesInstanceUID}/lesion/${l.number}/tracking`)),
      coded('CONTAINS', C.finding, C.mass),
      image('CONTAINS', C.referencedSegment, {
        ReferencedSOPClassUID: l.segment.sopClassUID ?? SEGMENTATION_STORAGE,
        ReferencedSOPInstanceUID: l.segment.sopInstanceUID,
        ReferencedSegmentNumber: l.segment.segmentNumber,
      }),
      uidref('CONTAINS', C.sourceSeries, source.seriesInstanceUID),
      // TID 4019 Algorithm Identification
      text('HAS CONCEPT MOD', C.algorithmName, options.algorithmName),
      text('HAS CONCEPT MOD', C.algorithmVersion, options.algorithmVersion),
      text('HAS CONCEPT MOD', C.algorithmParameters, parameters),
      findingSite,
    ];
    if (l.probability !== null) children.push(num(C.probabilityOfCancer, l.probability * 100, C.percent));
    children.push(num(C.volume, l.volumeMl, C.cubicCentimeter));
    children.push(num(C.longAxis, l.longestDiameterMm, C.millimeter));
    if (l.verdict && l.verdict !== 'Indeterminate') children.push(text('CONTAINS', C.qualitativeEvaluations, l.verdict));
    return container('CONTAINS', C.measurementGroup, children, '1411');
  });
  const content = container(null, C.imagingMeasurementReport, [
    coded('HAS CONCEPT MOD', C.language, C.englishUS),
    ...observerContext,
    coded('HAS CONCEPT MOD', C.procedureReported, C.breastUltrasound),
    imageLibrary,
    container('CONTAINS', C.imagingMeasurements, groups),
  ], '1500');

  // Evidence: the analysed images and every SEG instance referenced (grouped by series).
  const series = new Map<string, Map<string, string>>();
  const add = (seriesUID: string, sopClass: string, sopInstance: string) => {
    if (!series.has(seriesUID)) series.set(seriesUID, new Map());
    series.get(seriesUID)!.set(sopInstance, sopClass);
  };
  for (const im of source.images) add(source.seriesInstanceUID, im.sopClassUID, im.sopInstanceUID);
  for (const l of lesions) add(l.segment.seriesInstanceUID, l.segment.sopClassUID ?? SEGMENTATION_STORAGE, l.segment.sopInstanceUID);
  const evidence = series.size === 0 ? [] : [{
    StudyInstanceUID: source.studyInstanceUID,
    ReferencedSeriesSequence: Array.from(series, ([seriesUID, instances]) => ({
      SeriesInstanceUID: seriesUID,
      ReferencedSOPSequence: Array.from(instances, ([uid, cls]) => ({ ReferencedSOPClassUID: cls, ReferencedSOPInstanceUID: uid })),
    })),
  }];

  const texts = [source.patientName, source.patientId, source.referringPhysicianName, options.algorithmName, options.algorithmVersion, manufacturer];
  const dataset: NaturalDataset = {
    ...(texts.some((t) => t && /[^\x20-\x7e]/.test(t)) ? { SpecificCharacterSet: 'ISO_IR 192' } : {}),
    SOPClassUID: COMPREHENSIVE_3D_SR_STORAGE,
    SOPInstanceUID: sopInstanceUID,
    InstanceCreationDate: dicomDate(when),
    InstanceCreationTime: dicomTime(when),
    // Patient, General Study
    ...patientAndStudy(source),
    // SR Document Series
    Modality: 'SR',
    SeriesInstanceUID: seriesInstanceUID,
    SeriesNumber: options.seriesNumber ?? 901,
    SeriesDate: dicomDate(when),
    SeriesTime: dicomTime(when),
    SeriesDescription: RESEARCH_USE_DESCRIPTION,
    ReferencedPerformedProcedureStepSequence: [],
    // General Equipment
    Manufacturer: lo(manufacturer),
    ManufacturerModelName: lo(options.algorithmName),
    SoftwareVersions: lo(options.algorithmVersion),
    // SR Document General
    InstanceNumber: 1,
    CompletionFlag: 'COMPLETE',
    VerificationFlag: 'UNVERIFIED',
    ContentDate: dicomDate(when),
    ContentTime: dicomTime(when),
    PerformedProcedureCodeSequence: [],
    ...(evidence.length ? { CurrentRequestedProcedureEvidenceSequence: evidence } : {}),
    // SR Document Content (the root content item)
    ...content,
  };
  return { bytes: writePart10(dataset), sopInstanceUID, seriesInstanceUID };
}

/** A Long String (LO) value: at most 64 characters. */
function lo(s: string): string {
  return s.slice(0, 64);
}
