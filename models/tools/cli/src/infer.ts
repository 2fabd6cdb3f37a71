/** abus-ai infer: one analysis in Node, printed as one JSON object (or a short summary). */
import { Command, Option } from 'commander';
import { ALGORITHM_NAME, AnalysisResult, ModelCard, arraySource, BackendName, buildLesionExport, rangeText, DicomVolume, indexToPatient, load, sourceSeries, Volume } from '@abus-tumor-ai/engine';
import { BACKEND_ORDER, blockSize } from '@abus-tumor-ai/engine/lab';
import { installNodeWebGPU, writeNrrd } from '@abus-tumor-ai/engine/node';
import { loadVolume, parseTriple, parseSpacing } from './load-volume';
import { checkOutput, MASK_CONTENT, writeAtomic } from './output';
import { CliError } from './errors';
import { cancellable } from './cancel';
import * as fs from 'fs';
import * as path from 'path';

import { SHIPPED_WEIGHTS, WASM_DIR } from './layout';

export { SHIPPED_WEIGHTS };

export function resultJson(result: AnalysisResult) {
  return {
    found: result.found,
    probability: result.probability,
    probability_range: result.probabilityRange,
    views: result.views,
    verdict: result.verdict,
    volume_ml: result.size.volumeMl,
    diameters_mm: { longest: result.size.longestMm, ...result.size.extentMm },
    voxel_count: result.lesion.voxelCount,
    bbox: result.found ? { min: result.lesion.min, max: result.lesion.max } : null,
    center_index: result.centerIndex,
    click_index: result.clickIndex,
    analyses: result.analyses,
    backend: result.backend,
    backend_reason: result.backendReason,
    timings_ms: result.timingsMs,
    notice: result.notice,
  };
}

/** The lesion mask as an NRRD covering its bounding box, placed at the right patient position. */
function maskVolume(volume: Volume, result: AnalysisResult): Volume {
  return {
    dims: blockSize(result.lesion.min, result.lesion.max),
    spacing: volume.spacing,
    direction: volume.direction,
    origin: indexToPatient(volume, result.lesion.min),
    data: result.lesion.mask,
  };
}

/** SEG and SR of the one lesion, for DICOM input (they refer to its images). */
function writeDicomResults(volume: Volume, result: AnalysisResult, card: ModelCard, opts: { seg?: string; sr?: string }): void {
  const slices = (volume as Partial<DicomVolume>).slices;
  if (!slices) throw new CliError('--seg and --sr need DICOM input: they refer to the source images', 'usage');
  if (!result.found) {
    console.error('abus-ai: note: no lesion found at that point; no SEG or SR written');
    return;
  }
  const files = buildLesionExport(sourceSeries(slices, volume), [{ number: 1, result }], { name: ALGORITHM_NAME, version: `${card.name} ${card.version}`, operatingPoints: card.operatingPoints });
  for (const [file, bytes] of [[opts.seg, files.seg.bytes], [opts.sr, files.sr.bytes]] as const) if (file) writeAtomic(file, bytes);
}

export function registerInfer(program: Command): void {
  program
    .command('infer')
    .description('segment and classify the lesion at one point of a volume')
    .requiredOption('--input <path>', 'volume: an .nrrd file, a DICOM file (one multi-frame sweep) or a folder of DICOM files')
    .requiredOption('--center <x,y,z>', 'lesion centre')
    .addOption(new Option('--center-space <space>', 'coordinates of --center').choices(['voxel', 'patient']).default('voxel'))
    .option('--weights <folder|url>', 'model folder or URL (model.json, model-card.json, shards)', SHIPPED_WEIGHTS)
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(['auto', ...BACKEND_ORDER]).default('auto'))
    .option('--spacing <sx,sy,sz>', 'voxel spacing in mm, overriding the file (TDSC-ABUS headers carry none)')
    .option('--out <mask.nrrd>', 'write the lesion mask (its bounding box, gzip NRRD, patient geometry kept)')
    .option('--seg <file.dcm>', 'DICOM input: also write the lesion as a DICOM SEG referring to the input images')
    .option('--sr <file.dcm>', 'DICOM input: also write a TID 1500 SR with the finding, its size and P(malignant)')
    .option('--force', 'overwrite existing files that abus-ai did not write (never an input file)')
    .option('--json', 'print one JSON object (on failure: {"error", "code"})')
    .action(async (opts) => {
      const center = parseTriple(opts.center, '--center');
      const spacing = opts.spacing ? parseSpacing(opts.spacing) : undefined;
      const outputs = (['out', 'seg', 'sr'] as const).filter((o) => opts[o]).map((o) => [`--${o}`, opts[o] as string] as const);
      for (const [option, file] of outputs) checkOutput(option, file, [opts.input], Boolean(opts.force));
      if (new Set(outputs.map(([, f]) => path.resolve(f))).size < outputs.length) throw new CliError(`${outputs.map(([o]) => o).join(', ')} must name different files`, 'usage');
      await cancellable(Boolean(opts.json), async ({ signal, checkpoint }) => {
        const { volume, notes } = loadVolume(opts.input, spacing);
        if ((opts.seg || opts.sr) && !(volume as Partial<DicomVolume>).slices) throw new CliError('--seg and --sr need DICOM input: they refer to the source images', 'usage');
        if (opts.weights === SHIPPED_WEIGHTS && !fs.existsSync(path.join(SHIPPED_WEIGHTS, 'model.json'))) {
          throw new Error(`No model at ${SHIPPED_WEIGHTS}; pass --weights <folder or URL>`);
        }
        if (opts.backend === 'auto' || opts.backend === 'webgpu') {
          const why = installNodeWebGPU();
          if (why) notes.push(`webgpu: ${why}`);
        }
        // One click: compiling the kernels first would only add a pass.
        const analyzer = await load({ wasmPath: WASM_DIR, weights: opts.weights, backend: opts.backend as BackendName | 'auto', warmUp: false });
        try {
          await checkpoint();
          console.error(`abus-ai: backend ${analyzer.backend?.reason}`);
          for (const note of notes) console.error(`abus-ai: note: ${note}`);
          const result = await analyzer.analyze(arraySource(volume), center, { centerSpace: opts.centerSpace, signal });
          // The last check: what follows is synchronous, so a signal cannot come between it and the files.
          await checkpoint();
          if (opts.out && result.found) writeAtomic(opts.out, writeNrrd(maskVolume(volume, result), { gzip: true, content: MASK_CONTENT }));
          if (opts.out && !result.found) console.error('abus-ai: note: no lesion found at that point; no mask written');
          if (opts.seg || opts.sr) writeDicomResults(volume, result, analyzer.card, opts);
          const json = resultJson(result);
          if (opts.json) {
            console.log(JSON.stringify(json));
          } else {
            const range = rangeText(result.probabilityRange);
            const p = result.probability === null ? 'n/a' : `${(result.probability * 100).toFixed(1)}%${range ? ` (range over ${result.views} views ${range})` : ''}`;
            console.log(result.found
              ? `Lesion: P(malignant) ${p}${result.verdict ? ` (${result.verdict})` : ''}, ${json.volume_ml.toFixed(2)} mL, longest ${json.diameters_mm.longest.toFixed(1)} mm, ${json.timings_ms.total} ms on ${result.backend}`
              : `No lesion here (${json.timings_ms.total} ms on ${result.backend})`);
            console.log(result.notice);
          }
        } finally {
          analyzer.dispose();
        }
      });
    });
}
