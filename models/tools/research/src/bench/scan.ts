/**
 * npm run bench:scan: Find lesions on a full-size phantom (865 x 608 x 330 voxels, two lesions)
 * with the shipped model, against the scan it replaced, side by side in one run: the same
 * network and click analysis, but the coarse pass by the click network's first pass over windows
 * and the card's earlier scan parameters (BEFORE_DETECTOR). Rounds alternate the two, so a busy
 * machine slows both alike; each row prints its windows, candidates, times and the ratio.
 * Usage: node models/tools/research/dist/bench/scan.js [--backend wasm] [--rounds 2] [--seed 5]
 */
import * as tf from '@tensorflow/tfjs-core';
import * as path from 'path';
import { arraySource, BackendName, Engine, load, LoadedModel, ScanResult } from '@abus-tumor-ai/engine';
import { folderReader, loadModel, ScanParams, splitDetectorWeights } from '@abus-tumor-ai/engine/lab';
import { installNodeWebGPU } from '@abus-tumor-ai/engine/node';
import { generatePhantom } from '../phantom/generate';
import { arg } from './args';

const SHIPPED = path.join(__dirname, '..', '..', '..', '..', 'weights', 'cmsvnetiter');
const WASM_DIR = path.join(__dirname, '..', '..', '..', '..', '..', 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist') + '/';

/** The shipped card's `scan` before the detector (model card of 2026-12-06, commit 24f2ac1). */
export const BEFORE_DETECTOR: ScanParams = { windowGrid: [128, 32, 128], strideMm: [64, 12, 64], iterations: 1, cellMm: 2, taperMm: 32, threshold: 0.5, minMl: 0.02, maxCandidates: 5, blobCandidates: 4, blobDarkness: 1 };

/** The shipped model as it scanned before: its click network alone, the earlier scan parameters. */
function withoutDetector(model: LoadedModel): LoadedModel {
  const { network } = splitDetectorWeights(model.weights);
  return { card: { ...model.card, detector: undefined, scan: BEFORE_DETECTOR }, weights: network };
}

async function main() {
  tf.env().set('PROD', true);
  const backend = arg('backend', 'wasm') as BackendName;
  if (backend === 'webgpu') installNodeWebGPU();
  const rounds = Number(arg('rounds', '2'));
  const seed = Number(arg('seed', '5'));
  const t = performance.now();
  const phantom = generatePhantom({ seed, fullSize: true, lesionCount: 2 });
  const source = arraySource(phantom.volume);
  console.log(`bench:scan: full-size phantom ${phantom.volume.dims.join(' x ')} voxels (${phantom.lesions.length} lesions: ${phantom.lesions.map((l) => `${l.volume_ml.toFixed(2)} mL`).join(', ')}), made in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  const shipped = await loadModel(folderReader(SHIPPED));
  if (!shipped.card.detector) throw new Error(`${SHIPPED} has no detector: nothing to compare`);
  // Each engine owns its tensors: the baseline gets its own copy of the click network.
  const again = await loadModel(folderReader(SHIPPED));
  const engines: [string, Engine][] = [
    ['before: click network over windows', await load({ weights: withoutDetector(again), backend, wasmPath: WASM_DIR })],
    ['now: the detector', await load({ weights: shipped, backend, wasmPath: WASM_DIR })],
  ];
  tf.dispose(Object.values(splitDetectorWeights(again.weights).detector));
  console.log(`backend ${engines[1][1].backend?.reason}`);
  const runs: Record<string, ScanResult[]> = {};
  for (let r = 0; r < rounds; r++) {
    for (const [name, engine] of r % 2 ? [...engines].reverse() : engines) {
      const result = await engine.scan(source);
      (runs[name] ??= []).push(result);
      const found = result.candidates.filter((c) => c.found);
      const hits = phantom.lesions.filter((l) => found.some((c) => l.centerIndex.every((v, a) => v >= c.box.min[a] && v <= c.box.max[a]))).length;
      console.log(`round ${r + 1}, ${name}: ${(result.timingsMs.total / 1000).toFixed(1)} s (windows ${result.windows} in ${(result.timingsMs.windows / 1000).toFixed(1)} s, ${result.candidates.length} candidates analysed in ${(result.timingsMs.candidates / 1000).toFixed(1)} s); ${found.length} found, ${hits} of ${phantom.lesions.length} lesions`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rows = engines.map(([name]) => ({ name, total: median(runs[name].map((x) => x.timingsMs.total)) / 1000, windows: median(runs[name].map((x) => x.timingsMs.windows)) / 1000, candidates: median(runs[name].map((x) => x.timingsMs.candidates)) / 1000 }));
  console.log(`\n| scan (${backend}, ${rounds} rounds, median) | total s | coarse pass s | fine analyses s | speed vs before |\n| --- | --- | --- | --- | --- |`);
  for (const row of rows) console.log(`| ${row.name} | ${row.total.toFixed(1)} | ${row.windows.toFixed(1)} | ${row.candidates.toFixed(1)} | ${(rows[0].total / row.total).toFixed(2)}x |`);
  for (const [, engine] of engines) engine.dispose();
}

main().catch((err) => {
  console.error(`bench:scan: ${(err as Error).message}`);
  process.exit(1);
});
