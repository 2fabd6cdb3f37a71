/**
 * The first analysis against the later ones, on one backend, the way the plugin's worker runs
 * them: load the model, warm up (compile every kernel on an empty volume of the model's grid),
 * then analyse a phantom lesion several times.
 * Usage: node models/tools/research/dist/bench/first-analysis.js [--backend webgpu] [--runs 5] [--full | --model <dir>] [--tilings <file>]
 * --full uses a network of the paper's size (width 16, 128x64x128 voxels at 0.5 mm) with random
 * weights instead of the shipped model; the speed of a pass does not depend on the weights.
 * --tilings takes the per-shape tilings that `bench:kernels --sweep` writes.
 * The warm-up row is also what a first analysis costs without a warm-up.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { arraySource, BackendName, load, LoadedModel } from '@abus-tumor-ai/engine';
import { installNodeWebGPU } from '@abus-tumor-ai/engine/node';
import { foldBatchNorm, folderReader, initWeights, loadModel, tryBackend } from '@abus-tumor-ai/engine/lab';
import { generatePhantom } from '../phantom/generate';
import { arg } from './args';

const SHIPPED = path.join(__dirname, '..', '..', '..', '..', 'weights', 'cmsvnetiter');

/** The shipped model's card with the paper's width and voxel grid, and random folded weights. */
function fullSizeModel(shipped: LoadedModel): LoadedModel {
  const architecture = { ...shipped.card.architecture, baseWidth: 16 };
  tf.dispose(Object.values(shipped.weights));
  const raw = initWeights(architecture, 1);
  const weights = foldBatchNorm(architecture, raw);
  tf.dispose(Object.values(raw));
  const card = { ...shipped.card, name: `${shipped.card.name} (width 16, random weights)`, architecture, input: { ...shipped.card.input, grid: [128, 64, 128] as [number, number, number], voxelMm: 0.5 } };
  return { card, weights };
}

async function main() {
  tf.env().set('PROD', true);
  const webgpuWhy = installNodeWebGPU();
  const backend = arg('backend', 'webgpu') as BackendName;
  const runs = Number(arg('runs', '5'));
  const tilings = arg('tilings', '');
  const why = await tryBackend(backend, true);
  if (why) {
    console.log(`first-analysis: ${backend} skipped (${why})`);
    process.exit(0);
  }
  const t0 = performance.now();
  let model = await loadModel(folderReader(arg('model', SHIPPED)));
  if (process.argv.includes('--full')) model = fullSizeModel(model);
  const analyzer = await load({ weights: model, backend, warmUp: false, tilings: tilings ? JSON.parse(fs.readFileSync(tilings, 'utf8')) : undefined });
  const loadMs = performance.now() - t0;
  const warmUpMs = await analyzer.warmUp();
  const phantom = generatePhantom({ seed: 7, lesionCount: 1 });
  const source = arraySource(phantom.volume);
  const center = phantom.lesions[0].centerIndex;
  const times: number[] = [];
  const passes: number[] = [];
  for (let n = 0; n < runs; n++) {
    const t = performance.now();
    const result = await analyzer.analyze(source, center, { centerSpace: 'voxel' });
    times.push(performance.now() - t);
    // The last analysis' network time: its passes, and its flipped views where the card sets flips.
    passes.push(Object.entries(result.timingsMs).filter(([k]) => k.startsWith('iteration') || k === 'flips').reduce((s, [, v]) => s + v, 0));
  }
  analyzer.dispose();
  const later = [...times.slice(1)].sort((a, b) => a - b);
  const median = later[Math.floor(later.length / 2)] ?? times[0];
  const { grid, voxelMm } = analyzer.card.input;
  console.log(`First analysis vs later ones${tilings ? ` (tilings from ${path.basename(tilings)})` : ''}: ${analyzer.card.name}, grid ${grid.join('x')} at ${voxelMm} mm, width ${analyzer.card.architecture.baseWidth}, ${analyzer.card.architecture.iterations} passes`);
  console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model}; backend ${backend} (${analyzer.backend?.reason}); webgpu: ${webgpuWhy ?? 'installed'}`);
  console.log('| step | ms | network passes ms | vs later median |');
  console.log('|---|--:|--:|--:|');
  console.log(`| load weights to the backend | ${loadMs.toFixed(0)} | | |`);
  console.log(`| warm-up (= a first analysis without it) | ${warmUpMs.toFixed(0)} | | ${(warmUpMs / median).toFixed(1)}x |`);
  times.forEach((t, i) => console.log(`| analysis ${i + 1} | ${t.toFixed(1)} | ${passes[i].toFixed(1)} | ${(t / median).toFixed(2)}x |`));
  console.log(`first analysis / later median: ${(times[0] / median).toFixed(2)} (bar: at most 2)`);
  delete (globalThis as { navigator?: unknown }).navigator;
  process.exit(0);
}

main().catch((err) => {
  console.error(`first-analysis: error: ${err.stack ?? err.message}`);
  process.exit(1);
});
