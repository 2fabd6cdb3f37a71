/**
 * @abus-tumor-ai/research: synthetic phantoms, datasets, training (and the sampler for the PyTorch
 * trainer in models/torch), evaluation, calibration and metrics, for the CLI, the demo viewer,
 * scripts and tests. The benchmarks (src/bench, bench-gpu/) are scripts, not exports.
 */
export * from './phantom/generate';
export * from './phantom/dataset';
export * from './phantom/preview';
export { hashSeed } from './phantom/random';
export * from './data/tdsc';
export { isDicomFile, readVolumeFile } from './data/volume-file';
export * from './metrics';
export * from './train/loop';
export * from './train/samples';
export { Rng } from './train/rng';
export * from './train/sampler';
export * from './train/shards';
export * from './train/tensors-io';
// Not train/head-features: it is a script whose `require.main === module` guard would be true
// inside the release's one-file CLI bundle, which reaches this entry.
export { defaultPython, TORCH_DIR, trainWithTorch } from './train/torch-run';
export * from './eval/evaluate';
export * from './eval/calibrate';
export * from './eval/robustness';
export * from './eval/report';
export * from './eval/detect';
/** Whole files and folders or nothing (temporary name, then rename); the CLI's output uses them too. */
export * from './atomic';
