/// <reference types="jest" />
import { spawnSync } from 'child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { readPart10 } from './common';
import { buildMeasurementReport, COMPREHENSIVE_3D_SR_STORAGE, SrLesion, SrSource } from './sr';
import { readMeasurementReport } from '../../../../test/dicom-readers';
import { dciodvfy, withDciodvfy } from '../../../../test/dciodvfy';
import { PREREQUISITES, prerequisites } from '../../../../test/prerequisites';

const US_IMAGE = '1.2.840.10008.5.1.4.1.1.6.1';
const source: SrSource = {
  studyInstanceUID: '1.2.826.0.1.3680043.8.498.1',
  seriesInstanceUID: '1.2.826.0.1.3680043.8.498.2',
  frameOfReferenceUID: '1.2.826.0.1.3680043.8.498.3',
  patientName: 'Test^Patient',
  patientId: 'ABUS-0001',
  patientBirthDate: '19700101',
  patientSex: 'F',
  studyDate: '20240102',
  studyTime: '030405',
  studyId: '42',
  accessionNumber: 'ACC42',
  images: [1, 2, 3].map((k) => ({ sopClassUID: US_IMAGE, sopInstanceUID: `1.2.826.0.1.3680043.8.498.2.${k}` })),
};
const SEG_UID = '1.2.826.0.1.3680043.8.498.10.1';
const SEG_SERIES = '1.2.826.0.1.3680043.8.498.10';
const lesions: SrLesion[] = [
  { number: 1, probability: 0.873, verdict: 'Suspicious for malignancy', volumeMl: 1.25, longestDiameterMm: 17.4, segment: { sopInstanceUID: SEG_UID, segmentNumber: 1, seriesInstanceUID: SEG_SERIES } },
  { number: 2, probability: null, verdict: null, volumeMl: 0.31, longestDiameterMm: 8.2, segment: { sopInstanceUID: SEG_UID, segmentNumber: 2, seriesInstanceUID: SEG_SERIES } },
];
const options = { algorithmName: 'ABUS Tumor AI', algorithmVersion: '0.1.0', uidSeed: 'sr-test', contentDate: new Date(2024, 0, 2, 10, 11, 12), operatingPoints: { ruleOut: 0.21, ruleIn: 0.63 } };
const report = buildMeasurementReport(source, lesions, options);

function writeTemp(bytes: Uint8Array): string {
  const file = join(mkdtempSync(join(tmpdir(), 'sr-')), 'report.dcm');
  writeFileSync(file, bytes);
  return file;
}

test('the report is a Comprehensive 3D SR with TID 1500 and reproducible UIDs', () => {
  const ds = readPart10(report.bytes);
  expect(ds.SOPClassUID).toBe(COMPREHENSIVE_3D_SR_STORAGE);
  expect(ds.SOPInstanceUID).toBe(report.sopInstanceUID);
  expect(ds.SeriesInstanceUID).toBe(report.seriesInstanceUID);
  expect(ds.StudyInstanceUID).toBe(source.studyInstanceUID);
  expect(String(ds.SeriesDescription)).toContain('research use');
  expect(buildMeasurementReport(source, lesions, options).sopInstanceUID).toBe(report.sopInstanceUID);
  expect(buildMeasurementReport(source, lesions, { ...options, uidSeed: undefined }).sopInstanceUID).not.toBe(report.sopInstanceUID);
  // The evidence lists the source images and the SEG instance.
  const evidence = JSON.stringify(ds.CurrentRequestedProcedureEvidenceSequence);
  for (const uid of [...source.images.map((im) => im.sopInstanceUID), SEG_UID, SEG_SERIES]) expect(evidence).toContain(uid);
});

test('round trip: percentages, SEG references and the algorithm', () => {
  const utf8 = buildMeasurementReport({ ...source, patientName: 'Müller^Zoë' }, lesions, options);
  const ds = readPart10(utf8.bytes);
  expect(ds.SpecificCharacterSet).toBe('ISO_IR 192');
  expect(ds.PatientName).toEqual([{ Alphabetic: 'Müller^Zoë' }]);
  expect(readMeasurementReport(buildMeasurementReport(source, [], options).bytes)).toEqual({ lesions: [] });
  expect(readMeasurementReport(report.bytes)).toEqual({
    algorithmName: 'ABUS Tumor AI',
    algorithmVersion: '0.1.0',
    lesions: [
      { number: 1, probabilityPercent: 87.3, segmentSopInstanceUID: SEG_UID, segmentNumber: 1 },
      { number: 2, probabilityPercent: null, segmentSopInstanceUID: SEG_UID, segmentNumber: 2 },
    ],
  });
});

test('bad input is refused', () => {
  expect(() => buildMeasurementReport(source, [{ ...lesions[0], probability: 1.5 }], options)).toThrow('not in [0, 1]');
  expect(() => buildMeasurementReport(source, [{ ...lesions[0], segment: { sopInstanceUID: '', segmentNumber: 1, seriesInstanceUID: SEG_SERIES } }], options)).toThrow('SEG');
  expect(() => buildMeasurementReport(source, [{ ...lesions[0], segment: { sopInstanceUID: SEG_UID, segmentNumber: 1, seriesInstanceUID: '' } }], options)).toThrow('series UID');
});

const minimal: SrSource = { studyInstanceUID: source.studyInstanceUID, seriesInstanceUID: source.seriesInstanceUID, patientName: 'Müller^Zoë', images: [] };
withDciodvfy.each<[string, Uint8Array]>([
  ['2 lesions, full patient/study data', report.bytes],
  ['minimal patient/study data, no images listed, UTF-8 name', buildMeasurementReport(minimal, lesions, { ...options, manufacturer: 'Ünïcode GmbH' }).bytes],
  ['no lesions', buildMeasurementReport(source, [], options).bytes],
])('dciodvfy finds no errors in the SR: %s', (what, bytes) => {
  const report = dciodvfy(bytes, `SR, ${what}`);
  expect(report.text).toMatch(/^Comprehensive3DSR$/m); // the IOD it validated against
  expect(report.errors).toEqual([]);
});

const withDsrdump = prerequisites(['dsrdump'], 'dsrdump test');

withDsrdump.it(withDsrdump.title('dsrdump reads the probability of cancer in %'), () => {
  const run = spawnSync(PREREQUISITES.dsrdump.file, [writeTemp(report.bytes)], { encoding: 'utf8' });
  const out = `${run.stdout}\n${run.stderr}`;
  expect(run.status).toBe(0);
  expect(out).toContain('Probability of cancer');
  expect(out).toMatch(/"87\.3" \(%/);
  expect(out).toContain('Referenced Segment');
  expect(out).toContain('"Qualitative Evaluations")="Suspicious for malignancy"');
});

test('a lesion in a Label Map SEG is referenced with that SOP class, in the tree and in the evidence', () => {
  const LABEL_MAP_SEG = '1.2.840.10008.5.1.4.1.1.66.7';
  const labelMap = buildMeasurementReport(source, lesions.map((l) => ({ ...l, segment: { ...l.segment, sopClassUID: LABEL_MAP_SEG } })), options);
  const ds = readPart10(labelMap.bytes);
  expect(JSON.stringify(ds.ContentSequence)).toContain(LABEL_MAP_SEG);
  expect(JSON.stringify(ds.CurrentRequestedProcedureEvidenceSequence)).toContain(LABEL_MAP_SEG);
  expect(JSON.stringify(readPart10(report.bytes))).not.toContain(LABEL_MAP_SEG);
});
