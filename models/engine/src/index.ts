/**
 * @abus-tumor-ai/engine: the front door, for applications that run the model (a browser page, a
 * Web Worker, Node): load() gives an Engine that analyses a click and scans a volume; the volume
 * and result types; the model card; and DICOM in and out (volumes read and written, SEG and SR).
 * Named exports only: each name here is kept stable, and test/public-api.test.ts lists them.
 * Node-only helpers (model folders on disk, WebGPU through Dawn, NRRD) are in '@abus-tumor-ai/engine/node';
 * the engine's inner parts (backends, network, VOI planning, model files), for training, tools
 * and tests, in '@abus-tumor-ai/engine/lab'.
 */
export { load, readerFor } from './load';
export type { LoadOptions } from './load';
export type { Engine } from './pipeline/analyze';
export { AbortError } from './pipeline/abort';
export type { AnalysisResult, AnalyzeOptions, Progress, Stage } from './pipeline/result';
export type { Candidate, ScanOptions, ScanProgress, ScanResult } from './pipeline/scan';
export type { ScanParams } from './pipeline/scan-params';
export type { BackendChange, BackendName } from './engine/backend';
export type { FileReader, InputContract, LoadedModel, ModelCard } from './engine/weights';
export { RESEARCH_USE_NOTICE } from './engine/weights';
export type { FlipAxis } from './pipeline/flips';
export type { Descriptors } from './pipeline/descriptors';
export type { LesionSize } from './pipeline/postprocess';
export { measureLesion } from './pipeline/postprocess';
export type { Verdict } from './pipeline/verdict';
export { rangeText } from './pipeline/verdict';
// Volumes: in memory, or read a block at a time (VolumeSource), and their geometry.
export type { Mat3, Vec3, Volume, VolumeGeometry, VoxelArray } from './volume';
export { IDENTITY_DIRECTION, indexToPatient, patientToIndex } from './volume';
export type { SourceMask, VolumeSource } from './pipeline/voi';
export { arraySource } from './pipeline/voi';
// DICOM: files, ultrasound volumes, and what this project writes (SEG, SR, both for one study).
export type { Laterality, NaturalDataset, StudyContext } from './dicom/common';
export { concat, first, makeUid, readPart10, seq, writePart10 } from './dicom/common';
export type { DicomForm, DicomReadOptions, DicomVolume, DicomWriteMeta, SweepGeometry } from './dicom/volume';
export { readDicomFolder, readDicomSeries, stackSlices, sweepGeometry, US_IMAGE_STORAGE, US_MULTIFRAME_IMAGE_STORAGE, writeDicomSeries } from './dicom/volume';
export type { SegFlavour, SegmentInput, SegOptions, SourceImageRef, SourceSeries } from './dicom/seg';
export { buildSeg, LABEL_MAP_SEGMENTATION_STORAGE, SEGMENTATION_STORAGE } from './dicom/seg';
export type { SrLesion, SrOptions, SrSource } from './dicom/sr';
export { buildMeasurementReport, COMPREHENSIVE_3D_SR_STORAGE } from './dicom/sr';
export type { ExportedFiles, SourceSlice } from './dicom/report';
export { ALGORITHM_NAME, buildLesionExport, lateralityOf, lesionLabel, sourceSeries } from './dicom/report';
