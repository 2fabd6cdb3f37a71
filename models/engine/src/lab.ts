/**
 * @abus-tumor-ai/engine/lab: the network's building blocks, for training, tests and benchmarks:
 * the network as a function of named weights, its layer operations and their kernel switches,
 * the losses and the training step. Importing it registers tfjs's gradients.
 */
import './engine/register-gradients';

export * from './engine/network';
export * from './engine/ops';
export * from './engine/losses';
export * from './engine/train-step';
export * from './engine/webgpu/fast-conv';
export * from './engine/wasm/simd-conv';
export * from './engine/webgpu/conv3d-program';

// The engine's inner parts, for the tools (CLI, training, eval, benches) and tests: everything the
// front door (index.ts) keeps out of its stable names.
export * from './engine/config';
export * from './engine/backend';
export * from './engine/weights';
export * from './volume';
export * from './pipeline/voi';
export * from './pipeline/flips';
export * from './pipeline/descriptors';
export * from './pipeline/classifier';
export * from './pipeline/verdict';
export * from './pipeline/postprocess';
export * from './pipeline/scan';
export * from './pipeline/detector';
export * from './pipeline/lesion-centre';
export * from './pipeline/analyze';
export * from './dicom';
