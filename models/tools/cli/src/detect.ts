/**
 * abus-ai detect: "Find lesions" in Node. The whole volume is scanned, the best candidates get
 * the click analysis, and the ranked list is printed (one JSON object with --json). Progress goes
 * to stderr; Ctrl-C (or SIGTERM) stops the scan at its next step and exits with status 130 (143), writing nothing.
 * With --out, each found lesion's mask (NRRD), and for DICOM input one SEG and one SR holding
 * every found lesion, go into a folder, under the same rules as infer's outputs.
 */
import { Command, Option } from 'commander';
import { ALGORITHM_NAME, arraySource, BackendName, buildLesionExport, Candidate, DicomVolume, indexToPatient, load, ModelCard, ScanProgress, ScanResult, sourceSeries, Vec3, Volume, VolumeGeometry } from '@abus-tumor-ai/engine';
import { BACKEND_ORDER, blockSize } from '@abus-tumor-ai/engine/lab';
import { installNodeWebGPU, writeNrrd } from '@abus-tumor-ai/engine/node';
import { SHIPPED_WEIGHTS, WASM_DIR } from './layout';
import { loadVolume, parseSpacing } from './load-volume';
import { checkOutput, checkOutputFolder, MASK_CONTENT, writeAtomic, writeFolder } from './output';
import { CliError } from './errors';
import { cancellable } from './cancel';
import * as fs from 'fs';
import * as path from 'path';

function candidateJson(c: Candidate, geometry: VolumeGeometry) {
  const a = c.analysis;
  return {
    rank: c.rank,
    score: c.score,
    raw_score: c.rawScore,
    found: c.found,
    probability: a.probability,
    verdict: a.verdict,
    volume_ml: a.found ? a.size.volumeMl : null,
    diameters_mm: a.found ? { longest: a.size.longestMm, ...a.size.extentMm } : null,
    center_index: c.centerIndex,
    center_mm: c.centerMm,
    bbox: { min: c.box.min, max: c.box.max },
    bbox_mm: { min: indexToPatient(geometry, c.box.min), max: indexToPatient(geometry, c.box.max) },
    bbox_from: a.found ? 'segment' : 'scan',
    outline: a.found ? (a.outline ?? 'click analysis') : null,
    coarse: { from: c.coarse.source, peak: c.coarse.peak, mass_ml: c.coarse.massMl, darkness: c.coarse.darkness },
  };
}

export function detectJson(result: ScanResult, geometry: VolumeGeometry, backend: { backend: BackendName; reason: string } | undefined, notice: string) {
  return {
    candidates: result.candidates.map((c) => candidateJson(c, geometry)),
    lesions_found: result.candidates.filter((c) => c.found).length,
    windows: result.windows,
    coarse_candidates: result.coarseCandidates,
    blobs: result.blobs,
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
  if (!(Number.isInteger(n) && n >= 1)) throw new CliError(`${what} must be a whole number >= 1, got '${text}'`, 'usage');
  return n;
}

/** The files --out gets: one mask per found lesion (by rank), and SEG + SR for DICOM input. */
function outputFiles(folder: string, found: Candidate[], dicom: boolean): { file: string; what: 'mask' | 'seg' | 'sr'; candidate?: Candidate }[] {
  return [
    ...found.map((c) => ({ file: path.join(folder, `lesion-${c.rank}.nrrd`), what: 'mask' as const, candidate: c })),
    ...(dicom && found.length ? [{ file: path.join(folder, 'seg.dcm'), what: 'seg' as const }, { file: path.join(folder, 'sr.dcm'), what: 'sr' as const }] : []),
  ];
}

async function writeOutputs(folder: string, volume: Volume, found: Candidate[], card: ModelCard, inputs: string[], force: boolean): Promise<string[]> {
  const slices = (volume as Partial<DicomVolume>).slices;
  const files = outputFiles(folder, found, Boolean(slices));
  // Every file is checked before any is written.
  for (const f of files) checkOutput('--out', f.file, inputs, force);
  const exported = slices && found.length
    ? buildLesionExport(sourceSeries(slices, volume), found.map((c, n) => ({ number: n + 1, result: c.analysis })), { name: ALGORITHM_NAME, version: `${card.name} ${card.version}`, operatingPoints: card.operatingPoints })
    : undefined;
  // A new folder appears whole or not at all.
  await writeFolder(folder, (into) => {
    for (const f of files) {
      const file = path.join(into, path.basename(f.file));
      if (f.what === 'mask') {
        const lesion = f.candidate!.analysis.lesion;
        const mask: Volume = { dims: blockSize(lesion.min, lesion.max), spacing: volume.spacing, direction: volume.direction, origin: indexToPatient(volume, lesion.min), data: lesion.mask };
        writeAtomic(file, writeNrrd(mask, { gzip: true, content: MASK_CONTENT }));
      } else {
        writeAtomic(file, exported![f.what].bytes);
      }
    }
  });
  return files.map((f) => f.file);
}

export function registerDetect(program: Command): void {
  program
    .command('detect')
    .description('find lesions: scan a whole volume, then segment and classify the best candidates')
    .requiredOption('--input <path>', 'volume: an .nrrd file, a DICOM file (one multi-frame sweep) or a folder of DICOM files')
    .option('--weights <folder|url>', 'model folder or URL (model.json, model-card.json, shards)', SHIPPED_WEIGHTS)
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(['auto', ...BACKEND_ORDER]).default('auto'))
    .option('--spacing <sx,sy,sz>', 'voxel spacing in mm, overriding the file (TDSC-ABUS headers carry none)')
    .option('--max-candidates <n>', "candidates given the full analysis (default: the model card's scan setting, else 5)")
    .option('--out <folder>', 'write lesion-<rank>.nrrd per found lesion (its bounding box, gzip NRRD); for DICOM input also seg.dcm and sr.dcm with every found lesion')
    .option('--force', 'overwrite existing files that abus-ai did not write (never an input file)')
    .option('--json', 'print one JSON object (on failure: {"error", "code"})')
    .action(async (opts) => {
      const maxCandidates = opts.maxCandidates === undefined ? undefined : positiveInt(opts.maxCandidates, '--max-candidates');
      const spacing: Vec3 | undefined = opts.spacing ? parseSpacing(opts.spacing) : undefined;
      // Checked now, not after minutes of scanning.
      if (opts.out) checkOutputFolder('--out', opts.out, [opts.input]);
      const { volume, notes } = loadVolume(opts.input, spacing);
      if (opts.weights === SHIPPED_WEIGHTS && !fs.existsSync(path.join(SHIPPED_WEIGHTS, 'model.json'))) {
        throw new CliError(`No model at ${SHIPPED_WEIGHTS}; pass --weights <folder or URL>`, 'input');
      }
      if (opts.backend === 'auto' || opts.backend === 'webgpu') {
        const why = installNodeWebGPU();
        if (why) notes.push(`webgpu: ${why}`);
      }
      const tty = process.stderr.isTTY;
      const { engine, result, found, written } = await cancellable(Boolean(opts.json), async ({ signal, checkpoint }) => {
        const engine = await load({ wasmPath: WASM_DIR, weights: opts.weights, backend: opts.backend as BackendName | 'auto', warmUp: false });
        try {
          await checkpoint();
          console.error(`abus-ai: backend ${engine.backend?.reason}`);
          for (const note of notes) console.error(`abus-ai: note: ${note}`);
          const result = await engine.scan(arraySource(volume), {
            params: maxCandidates === undefined ? {} : { maxCandidates },
            signal,
            onProgress: (p) => process.stderr.write(tty ? `\rabus-ai: ${progressLine(p)}   ` : `abus-ai: ${progressLine(p)}\n`),
          });
          if (tty) process.stderr.write('\n');
          // The last check: a signal during the last candidate's analysis must not let files through.
          await checkpoint();
          const found = result.candidates.filter((c) => c.found);
          const written = opts.out && found.length ? await writeOutputs(opts.out, volume, found, engine.card, [opts.input], Boolean(opts.force)) : [];
          return { engine, result, found, written };
        } finally {
          engine.dispose();
        }
      });
      if (opts.out && !found.length) console.error('abus-ai: note: no lesion found; nothing written');
      const json = detectJson(result, volume, engine.backend, engine.card.notice);
      if (opts.json) {
        console.log(JSON.stringify({ ...json, files: written }));
        return;
      }
      console.log(found.length
        ? `${found.length} lesion${found.length === 1 ? '' : 's'} found (${result.windows} windows, ${result.candidates.length} candidates analysed, ${(result.timingsMs.total / 1000).toFixed(1)} s on ${engine.backend?.backend})`
        : `No lesion found (${result.windows} windows, ${result.candidates.length} candidates analysed, ${(result.timingsMs.total / 1000).toFixed(1)} s on ${engine.backend?.backend})`);
      for (const c of result.candidates) {
        const mm = c.centerMm.map((v) => v.toFixed(1)).join(', ');
        if (!c.found) {
          console.log(`  ${c.rank}. at (${mm}) mm: no lesion on closer look (score ${c.score.toFixed(2)})`);
          continue;
        }
        const p = c.analysis.outline === 'detector' ? 'n/a (outlined by the detector alone: the click analysis found no lesion here, or only a small part of one)' : c.analysis.probability === null ? 'n/a' : `${(c.analysis.probability * 100).toFixed(1)}%`;
        console.log(`  ${c.rank}. at (${mm}) mm: P(malignant) ${p}${c.analysis.verdict ? ` (${c.analysis.verdict})` : ''}, ${c.analysis.size.volumeMl.toFixed(2)} mL, longest ${c.analysis.size.longestMm.toFixed(1)} mm (score ${c.score.toFixed(2)})`);
      }
      for (const file of written) console.log(`  wrote ${file}`);
      console.log(engine.card.notice);
    });
}
