/** @abus-tumor-ai/engine/node: what only Node has: model folders on disk, WebGPU through Dawn, NRRD files (nrrd-js needs Node's assert). */
export * from './engine/weights-node';
export * from './engine/node-webgpu';
export * from './io/node-builtin';
export * from './io/nrrd';
