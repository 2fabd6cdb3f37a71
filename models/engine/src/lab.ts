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
