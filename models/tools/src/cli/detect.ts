/**
 * abus-ai detect: "Find lesions" in Node. The whole volume is scanned, the best candidates get
 * the click analysis, and the ranked list is printed (one JSON object with --json). Progress goes
 * to stderr; Ctrl-C stops the scan at its next step and exits with code 130.
 */
import { Command, Option } from 'commander';
import { AbortError, arraySource, BACKEND_ORDER, BackendName, Candidate, indexToPatient, load, ScanProgress, ScanResult, Vec3, VolumeGeometry } from '@abus-tumor-ai/engine';
import { installNodeWebGPU } from '@abus-tumor-ai/engine/node';
import { SHIPPED_WEIGHTS } from './infer';
import { loadVolume, parseTriple } from './load-volume';
import * as fs from 'fs';
import * as path from 'path';

function candidateJson(c: Candidate, geometry: VolumeGeometry) {
  const a = c.analysis;
  return {
    rank: c.rank,
    score: c.score,
    found: c.found,
    probability: a.probability,
    verdict: a.verdict,
    volume_ml: c.found ? a.size.volumeMl : null,
    diameters_mm: c.found ? { longest: a.size.longestMm, ...a.size.extentMm } : null,
    center_index: c.centerIndex,
    center_mm: c.centerMm,
    bbox: { min: c.box.min, max: c.box.max },
    bbox_mm: { min: indexToPatient(geometry, c.box.min), max: indexToPatient(geometry, c.box.max) },
    bbox_from: c.found ? 'segment' : 'scan',
    coarse: { peak: c.coarse.peak, mass_ml: c.coarse.massMl },
  };
}

export function detectJson(result: ScanResult, geometry: VolumeGeometry, backend: { backend: BackendName; reason: string } | undefined, notice: string) {
  return {
    candidates: result.candidates.map((c) => candidateJson(c, geometry)),
    lesions_found: result.candidates.filter((c) => c.found).length,
    windows: result.windows,
    coarse_candidates: result.coarseCandidates,
    scan: result.params,
    backend: backend?.backend,
    backend_reason: backend?.reason,
    timings_ms: result.timingsMs,
    notice,
  };
}

function progressLine(p: ScanProgress): string {
  return p.stage === 'window' ? `scanning window ${p.step} of ${p.of}` : `analysing candidate ${p.step} of ${p.of}`;
}

function positiveInt(text: string, what: string): number {
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`${what} must be a whole number >= 1, got '${text}'`);
  return n;
}

export function registerDetect(program: Command): void {
  program
    .command('detect')
    .description('find lesions: scan a whole volume, then segment and classify the best candidates')
    .requiredOption('--input <path>', 'volume: an .nrrd file, a folder of DICOM files, or one multi-frame DICOM file')
    .option('--weights <folder|url>', 'model folder or URL (model.json, model-card.json, shards)', SHIPPED_WEIGHTS)
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(['auto', ...BACKEND_ORDER]).default('auto'))
    .option('--spacing <sx,sy,sz>', 'voxel spacing in mm, overriding the file (TDSC-ABUS headers carry none)')
    .option('--max-candidates <n>', "candidates given the full analysis (default: the model card's scan setting, else 5)")
    .option('--json', 'print one JSON object')
    .action(async (opts) => {
      const maxCandidates = opts.maxCandidates === undefined ? undefined : positiveInt(opts.maxCandidates, '--max-candidates');
      const spacing: Vec3 | undefined = opts.spacing ? parseTriple(opts.spacing, '--spacing') : undefined;
      const { volume, notes } = loadVolume(opts.input, spacing);
      if (opts.weights === SHIPPED_WEIGHTS && !fs.existsSync(path.join(SHIPPED_WEIGHTS, 'model.json'))) {
        throw new Error(`No model at ${SHIPPED_WEIGHTS}; pass --weights <folder or URL>`);
      }
      if (opts.backend === 'auto' || opts.backend === 'webgpu') {
        const why = installNodeWebGPU();
        if (why) notes.push(`webgpu: ${why}`);
      }
      const engine = await load({ weights: opts.weights, backend: opts.backend as BackendName | 'auto', warmUp: false });
      console.error(`abus-ai: backend ${engine.backend?.reason}`);
      for (const note of notes) console.error(`abus-ai: note: ${note}`);
      const controller = new AbortController();
      const onSigint = () => {
        console.error('\nabus-ai: cancelling (Ctrl-C again to stop at once)');
        controller.abort();
      };
      process.once('SIGINT', onSigint);
      const tty = process.stderr.isTTY;
      let result: ScanResult;
      try {
        result = await engine.scan(arraySource(volume), {
          params: maxCandidates === undefined ? {} : { maxCandidates },
          signal: controller.signal,
          onProgress: (p) => process.stderr.write(tty ? `\rabus-ai: ${progressLine(p)}   ` : `abus-ai: ${progressLine(p)}\n`),
        });
        if (tty) process.stderr.write('\n');
      } catch (err) {
        if (err instanceof AbortError || (err as Error).name === 'AbortError') {
          console.error('abus-ai: cancelled; nothing written');
          process.exitCode = 130;
          return;
        }
        throw err;
      } finally {
        process.removeListener('SIGINT', onSigint);
        engine.dispose();
      }
      const json = detectJson(result, volume, engine.backend, engine.card.notice);
      if (opts.json) {
        console.log(JSON.stringify(json));
        return;
      }
      const found = result.candidates.filter((c) => c.found);
      console.log(`${found.length} lesion${found.length === 1 ? '' : 's'} found (${result.windows} windows, ${result.candidates.length} candidates analysed, ${(result.timingsMs.total / 1000).toFixed(1)} s on ${engine.backend?.backend})`);
      for (const c of result.candidates) {
        const where = c.centerIndex.map((v) => v.toFixed(0)).join(',');
        if (!c.found) {
          console.log(`  ${c.rank}. voxel (${where}): no lesion on closer look (score ${c.score.toFixed(2)})`);
          continue;
        }
        const p = c.analysis.probability === null ? 'n/a' : `${(c.analysis.probability * 100).toFixed(1)}%`;
        console.log(`  ${c.rank}. voxel (${where}): P(malignant) ${p}${c.analysis.verdict ? ` (${c.analysis.verdict})` : ''}, ${c.analysis.size.volumeMl.toFixed(2)} mL, longest ${c.analysis.size.longestMm.toFixed(1)} mm (score ${c.score.toFixed(2)})`);
      }
      console.log(engine.card.notice);
    });
}
