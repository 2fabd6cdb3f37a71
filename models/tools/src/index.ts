/**
 * @abus-tumor-ai/tools: the abus-ai command line and what it is made of, for scripts and tests:
 * synthetic phantoms, datasets, training, evaluation, metrics and the demo viewer server.
 */
export { main } from './cli/main';
export { demoDescription, startViewer } from './cli/viewer';
export * from './phantom/generate';
export * from './phantom/dataset';
export * from './data/tdsc';
export * from './metrics';
export * from './train/loop';
export * from './train/samples';
export { Rng } from './train/rng';
export * from './train/sampler';
export * from './train/shards';
export * from './train/tensors-io';
export { headFeatures } from './train/head-features';
export * from './eval/evaluate';
export * from './eval/calibrate';
export * from './eval/robustness';
export * from './viewer/server';
export * from './viewer/demo-study';
export { bundleBrowser } from './build/browser-bundle';
