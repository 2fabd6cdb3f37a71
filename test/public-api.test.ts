/**
 * The engine's front door (models/engine/src/index.ts) is narrow and deliberate: named exports
 * only, and exactly the names below. A name added or removed there fails this test until it is
 * added or removed here too, so a change to the public surface is never an accident.
 */
import * as fs from 'fs';
import { join } from 'path';
import * as engine from '@abus-tumor-ai/engine';

const VALUES = [
  'ALGORITHM_NAME', 'AbortError', 'COMPREHENSIVE_3D_SR_STORAGE', 'IDENTITY_DIRECTION', 'LABEL_MAP_SEGMENTATION_STORAGE',
  'RESEARCH_USE_NOTICE', 'SEGMENTATION_STORAGE', 'US_IMAGE_STORAGE', 'US_MULTIFRAME_IMAGE_STORAGE',
  'arraySource', 'buildLesionExport', 'buildMeasurementReport', 'buildSeg', 'concat', 'first', 'indexToPatient',
  'lateralityOf', 'lesionLabel', 'load', 'makeUid', 'measureLesion', 'patientToIndex', 'rangeText', 'readDicomFolder',
  'readDicomSeries', 'readPart10', 'readerFor', 'seq', 'sourceSeries', 'stackSlices', 'sweepGeometry', 'writeDicomSeries', 'writePart10',
];

const TYPES = [
  'AnalysisResult', 'AnalyzeOptions', 'BackendChange', 'BackendName', 'Candidate', 'Descriptors', 'DicomForm',
  'DicomReadOptions', 'DicomVolume', 'DicomWriteMeta', 'Engine', 'ExportedFiles', 'FileReader', 'FlipAxis',
  'InputContract', 'Laterality', 'LesionSize', 'LoadOptions', 'LoadedModel', 'Mat3', 'ModelCard', 'NaturalDataset',
  'Progress', 'ScanOptions', 'ScanParams', 'ScanProgress', 'ScanResult', 'SegFlavour', 'SegOptions', 'SegmentInput',
  'SourceImageRef', 'SourceMask', 'SourceSeries', 'SourceSlice', 'SrLesion', 'SrOptions', 'SrSource', 'Stage',
  'StudyContext', 'SweepGeometry', 'Vec3', 'Verdict', 'Volume', 'VolumeGeometry', 'VolumeSource', 'VoxelArray',
];

const INDEX = fs.readFileSync(join(__dirname, '..', 'models', 'engine', 'src', 'index.ts'), 'utf8');

test('the front door has no export *', () => {
  expect(INDEX).not.toMatch(/export \*/);
});

test('its values are exactly the listed ones', () => {
  expect(Object.keys(engine).filter((k) => k !== '__esModule').sort()).toEqual([...VALUES].sort());
});

test('its types are exactly the listed ones', () => {
  const types = [...INDEX.matchAll(/export type \{([^}]*)\}/g)].flatMap((m) => m[1].split(',').map((n) => n.trim()).filter(Boolean));
  expect(types.sort()).toEqual([...TYPES].sort());
});
