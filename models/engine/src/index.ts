/**
 * @abus-tumor-ai/engine: the front door. Everything an application needs to run the model, in a
 * browser, a Web Worker or Node: the engine (load, analyze), volumes and their sources, the model
 * format and its card, the backends, and DICOM I/O.
 * Node-only helpers (model folders on disk, WebGPU through Dawn, NRRD) are in '@abus-tumor-ai/engine/node';
 * the network's building blocks, for training and benchmarks, in '@abus-tumor-ai/engine/lab'.
 */
export * from './volume';
export * from './engine/config';
export * from './engine/backend';
export * from './engine/weights';
export * from './pipeline/analyze';
export * from './pipeline/lesion-centre';
export * from './pipeline/flips';
export * from './pipeline/scan';
export * from './pipeline/voi';
export * from './pipeline/postprocess';
export * from './pipeline/descriptors';
export * from './pipeline/classifier';
export * from './pipeline/verdict';
export * from './dicom';
export { load, readerFor } from './load';
export type { LoadOptions } from './load';
export { WorkerEngine } from './worker/engine-client';
export type { WorkerLike } from './worker/engine-client';
