/** abus-ai eval: the paper's tables for one model, or for all six ablation variants side by side. */
import { Command, Option } from 'commander';
import { arraySource, BackendName, FlipAxis, load, readerFor, ScanParams } from '@abus-tumor-ai/engine';
import { BACKEND_ORDER, flipViews, loadModel, scanParams, VARIANTS } from '@abus-tumor-ai/engine/lab';
import { installNodeWebGPU } from '@abus-tumor-ai/engine/node';
import { classBalanceWarning, ClickRobustness, clickRobustnessText, datasetOrigin, describeDataset, DetectCaseResult, detectEntries, detectTable, evaluateCases } from '@abus-tumor-ai/research';
import { evaluateClickRobustness, evaluateDetectCase, evaluateNormalClicks, KEY_FP, LesionClicks, LesionResult, loadDataset, loadDetectCase, markdownTable } from '@abus-tumor-ai/research';
import { fitScoreCalibration, HIT_IOU, NormalClickSummary, readPhantomIndex, summarize, summarizeClickRobustness, summarizeDetection, Summary, writeDetectReport, writeReport } from '@abus-tumor-ai/research';
import { parseSpacing } from './load-volume';
import { CliError } from './errors';
import { wholeNumber } from './args';
import { checkOutput, checkOutputFolder, writeAtomic, writeFolder } from './output';
import { SHIPPED_WEIGHTS, WASM_DIR } from './layout';
import * as cliProgress from 'cli-progress';
import * as fs from 'fs';
import * as path from 'path';

/** A model folder, or a training run folder holding model/. */
function modelFolder(dir: string): string {
  return fs.existsSync(path.join(dir, 'model', 'model.json')) ? path.join(dir, 'model') : dir;
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('evaluate a model (or, with --ablation, every variant) on a TDSC-ABUS-layout folder')
    .requiredOption('--data <dir>', 'dataset folder (labels.csv, DATA_*.nrrd, MASK_*.nrrd)')
    .option('--weights <dir>', 'model folder or run folder; with --ablation, a folder with one sub-folder per variant (--detect: default the shipped model)')
    .option('--detect', 'find lesions in whole volumes (abus-ai detect on each) and score them: FROC as in TDSC-ABUS 2023, Dice of the union of found lesions; --data is a phantom folder (abus-ai phantom --detect-set) or a TDSC-ABUS layout')
    .option('--scan <json>', 'with --detect: scan parameters overriding the model card\'s, e.g. \'{"threshold":0.4}\'')
    .option('--ablation', 'evaluate every variant found under --weights (vnet, clsnet, cvnet, cmsvnet, cvnetiter, cmsvnetiter)')
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(['auto', ...BACKEND_ORDER]).default('auto'))
    .option('--spacing <sx,sy,sz>', 'override the files\' voxel spacing')
    .option('--limit <n>', 'only the first n cases', wholeNumber(1))
    .option('--report <dir>', 'write table.md, metrics.json, per-lesion CSV and roc.svg/roc.png')
    .option('--normal-clicks <n>', 'phantom datasets: also click n points of normal tissue per case and count "no lesion" answers', wholeNumber(0), 0)
    .option('--click-robustness', 'instead of the tables: click each lesion at its centre and at 6 points 0.35 of its radius away, and report how much the answer (found, P, verdict, volume) depends on the click')
    .option('--flips <axes>', "with --click-robustness: flipped views averaged at the lesion's centre instead of the card's, e.g. lateral,sweep (none: no flips)")
    .option('--records <file>', "with --click-robustness: also write each lesion's 7 answers as a JSON line, as it is done")
    .option('--resume', 'with --click-robustness and --records: lesions already in the records file (an interrupted run, the same model and flips) are taken from it, not clicked again; the summary covers all')
    .option('--json', 'print the summaries as JSON')
    .option('--update-card', 'record the results as held-out metrics in the model\'s model-card.json (the shards and their checksums are unchanged)')
    .option('--calibrate-score <dir>', 'with --detect on validation volumes: write a copy of the model to <dir> whose card ships these scan parameters (the card\'s, with --scan\'s) and a detection score calibrated on these volumes (at each score, the share of lesions among the candidates the click analysis found a lesion at, before the card\'s minScore)')
    .action(async (opts) => {
      // Checked before minutes of evaluation; the report folder appears whole (writeFolder).
      if (opts.report) checkOutputFolder('--report', opts.report, [opts.data]);
      if (opts.backend === 'auto' || opts.backend === 'webgpu') installNodeWebGPU();
      if (opts.detect) {
        if (opts.ablation || opts.normalClicks !== 0) throw new CliError('--detect takes one model, without --ablation or --normal-clicks', 'usage');
        // The card's entry is for the scan parameters the card ships with.
        if (opts.updateCard && opts.scan) throw new CliError("--update-card records the card's own scan parameters: run it without --scan", 'usage');
        if (opts.calibrateScore) {
          if (opts.updateCard) throw new CliError('--calibrate-score writes a new model folder; --update-card records held-out metrics: run them apart', 'usage');
          checkOutputFolder('--calibrate-score', opts.calibrateScore, [opts.data, opts.weights ?? SHIPPED_WEIGHTS]);
        }
        await evalDetect(opts);
        return;
      }
      if (!opts.weights) throw new CliError("required option '--weights <dir>' not specified", 'usage');
      if (opts.clickRobustness) {
        if (opts.ablation || opts.normalClicks !== 0 || opts.report) throw new CliError('--click-robustness takes one model, without --ablation, --normal-clicks or --report', 'usage');
        await evalClickRobustness(opts);
        return;
      }
      const { cases, warnings } = loadDataset(opts.data, { spacing: opts.spacing ? parseSpacing(opts.spacing) : undefined, limit: opts.limit });
      for (const w of warnings) console.error(`abus-ai: warning: ${w}`);
      const models = opts.ablation
        ? VARIANTS.filter((v) => fs.existsSync(path.join(opts.weights, v))).map((v) => ({ name: v, dir: modelFolder(path.join(opts.weights, v)) }))
        : [{ name: 'model', dir: modelFolder(opts.weights) }];
      if (!models.length) throw new Error(`No variant folders (${VARIANTS.join(', ')}) under ${opts.weights}`);
      const rows: { name: string; summary: Summary; results: LesionResult[]; normal?: NormalClickSummary }[] = [];
      const normalPerCase: number = opts.normalClicks;
      const phantomCases = normalPerCase > 0 ? readPhantomIndex(opts.data).cases : [];
      for (const m of models) {
        const model = await loadModel(readerFor(m.dir));
        const name = opts.ablation ? m.name : model.card.architecture.variant;
        const analyzer = await load({ wasmPath: WASM_DIR, weights: model, backend: opts.backend as BackendName | 'auto' });
        console.error(`abus-ai: ${name}: backend ${analyzer.backend?.reason}`);
        const bar = new cliProgress.SingleBar({ format: `${name} |{bar}| {value}/{total} lesions | ETA {eta_formatted}`, stream: process.stderr }, cliProgress.Presets.shades_classic);
        const total = cases.reduce((n, c) => n + c.lesions.length, 0);
        if (process.stderr.isTTY) bar.start(total, 0);
        const results = await evaluateCases(analyzer, cases, (_r, done) => process.stderr.isTTY && bar.update(done));
        if (process.stderr.isTTY) bar.stop();
        const normal = normalPerCase > 0 ? await evaluateNormalClicks(analyzer, phantomCases, normalPerCase) : undefined;
        analyzer.dispose();
        rows.push({ name, summary: summarize(results, model.card.decisionThreshold), results, normal });
      }
      const balance = classBalanceWarning(rows[0].results);
      if (balance) console.error(`abus-ai: warning: ${balance}`);
      if (opts.report) await writeFolder(opts.report, (into) => writeReport(into, rows));
      if (opts.updateCard) {
        if (models.length !== 1) throw new Error('--update-card takes one model, not --ablation');
        const { roc: _roc, ...classification } = rows[0].summary.classification ?? { roc: undefined };
        const heldOut = {
          data: describeDataset(opts.data, cases),
          note: 'per tumour, VOI at the tumour centre, full inference pipeline, scored on the source voxel grid',
          lesions: rows[0].summary.n,
          segmentation: rows[0].summary.segmentation,
          classification: rows[0].summary.classification ? classification : undefined,
          lesionsFound: rows[0].summary.lesionsFound,
          normalTissue: rows[0].normal,
          msPerLesion: rows[0].summary.msPerLesion,
          evaluated: new Date().toISOString().slice(0, 10),
        };
        // The training run's own log (beside model/) says how long training took.
        const log = path.join(models[0].dir, '..', 'log.jsonl');
        const file = updateCardMetrics(models[0].dir, 'heldOut', heldOut, (card) => {
          if (!fs.existsSync(log)) return;
          const epochs = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { epoch: number; seconds: number });
          card.training = { ...(card.training as object), epochsRun: epochs.length, trainingWallTimeSeconds: Math.round(epochs.reduce((t, e) => t + e.seconds, 0)) };
        });
        console.error(`abus-ai: held-out metrics written to ${file}`);
      }
      if (opts.json) {
        console.log(JSON.stringify(Object.fromEntries(rows.map((r) => [r.name, { ...r.summary, classification: r.summary.classification && { ...r.summary.classification, roc: undefined }, normalTissue: r.normal }]))));
      } else {
        console.log('Research use only, not for clinical diagnosis.\n');
        console.log(markdownTable(rows));
        for (const r of rows) {
          const parts = [`lesions found ${(100 * r.summary.lesionsFound).toFixed(1)}% (${r.summary.n})`];
          if (r.summary.classification) parts.push(`calibration error (ECE) ${r.summary.classification.ece.toFixed(3)}`);
          if (r.normal) parts.push(`normal tissue answered "no lesion" ${(100 * r.normal.noLesion).toFixed(1)}% of ${r.normal.clicks} clicks (${Object.entries(r.normal.byKind).map(([k, v]) => `${k} ${v.noLesion}/${v.clicks}`).join(', ')})`);
          console.log(`${r.name}: ${parts.join('; ')}`);
        }
      }
    });
}

/** Writes one entry of the card's metrics (--update-card), whole or not at all. */
function updateCardMetrics(dir: string, key: string, entry: Record<string, unknown>, also: (card: Record<string, unknown>) => void = () => undefined): string {
  const file = path.join(dir, 'model-card.json');
  const card = JSON.parse(fs.readFileSync(file, 'utf8'));
  card.metrics = { ...card.metrics, [key]: entry };
  also(card);
  writeAtomic(file, JSON.stringify(card, null, 2) + '\n');
  return file;
}

/** The lesions of an earlier sitting's --records file (one JSON line each). */
function readRecords(file: string): LesionClicks[] {
  if (!fs.existsSync(file)) throw new CliError(`--resume: ${file} does not exist (the --records file of the run to resume)`, 'input');
  return fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.trim()).map((line, n) => {
    try {
      const lesion = JSON.parse(line) as LesionClicks;
      if (typeof lesion.caseId !== 'string' || !Number.isInteger(lesion.lesion) || !Array.isArray(lesion.clicks)) throw new Error('not a lesion record');
      return lesion;
    } catch (err) {
      throw new CliError(`--resume: ${file} line ${n + 1} is not a lesion's record (${(err as Error).message})`, 'input');
    }
  });
}

/** eval --click-robustness: 7 clicks per lesion; with --update-card the summary goes to the card's metrics.clickRobustness. */
async function evalClickRobustness(opts: { data: string; weights: string; backend: string; spacing?: string; limit?: number; json?: boolean; updateCard?: boolean; flips?: string; records?: string; resume?: boolean }): Promise<void> {
  const flips = opts.flips === undefined ? undefined : (opts.flips.split(',').map((a) => a.trim()).filter((a) => a && a !== 'none') as FlipAxis[]);
  if (flips) flipViews(flips); // says which axis is wrong before any work
  if (opts.resume && !opts.records) throw new CliError('--resume needs --records <file>: the answers of the run it resumes', 'usage');
  if (opts.records) checkOutput('--records', opts.records, [opts.data], true);
  const answered = opts.resume ? readRecords(opts.records as string) : [];
  const { cases, warnings } = loadDataset(opts.data, { spacing: opts.spacing ? parseSpacing(opts.spacing) : undefined, limit: opts.limit });
  for (const w of warnings) console.error(`abus-ai: warning: ${w}`);
  const dir = modelFolder(opts.weights);
  const model = await loadModel(readerFor(dir));
  const engine = await load({ wasmPath: WASM_DIR, weights: model, backend: opts.backend as BackendName | 'auto' });
  console.error(`abus-ai: click robustness: backend ${engine.backend?.reason}`);
  const flipsUsed = flips ?? engine.card.analysis?.flips ?? [];
  const mixed = answered.find((a) => a.flips && a.flips.join() !== flipsUsed.join());
  if (mixed) {
    engine.dispose();
    throw new CliError(`--resume: ${opts.records} holds answers with flips '${mixed.flips!.join(',') || 'none'}', this run uses '${flipsUsed.join(',') || 'none'}'`, 'usage');
  }
  const started = Date.now();
  let summary: ClickRobustness;
  try {
    if (opts.records && !opts.resume) fs.writeFileSync(opts.records, '');
    const onLesion = (done: number, total: number, lesion: LesionClicks, resumed: boolean) => {
      // Each record says which flips answered it, so that a resume cannot mix two settings.
      if (opts.records && !resumed) fs.appendFileSync(opts.records, JSON.stringify({ ...lesion, flips: flipsUsed }) + '\n');
      console.error(`abus-ai: ${done}/${total} lesions${resumed ? ' (from the records)' : ''}, ${((Date.now() - started) / 60000).toFixed(1)} min`);
    };
    const lesions = await evaluateClickRobustness(engine, cases, onLesion, { flips }, answered);
    summary = summarizeClickRobustness(lesions);
  } finally {
    engine.dispose();
  }
  const minutes = Math.round((Date.now() - started) / 600) / 100;
  if (opts.updateCard) {
    // A resumed run's time is only this sitting's: the card gives how many lesions came from the records instead.
    const time = answered.length ? { resumedLesions: answered.length, minutesThisSitting: minutes } : { minutes };
    const file = updateCardMetrics(dir, 'clickRobustness', { data: describeDataset(opts.data, cases), backend: engine.backend?.backend, flips: flipsUsed, ...summary, ...time, evaluated: new Date().toISOString().slice(0, 10) });
    console.error(`abus-ai: click robustness written to ${file}`);
  }
  if (opts.json) console.log(JSON.stringify({ ...summary, minutes }));
  else console.log(`Research use only, not for clinical diagnosis.\n\n${clickRobustnessText(summary)}`);
}

/** eval --detect: one volume at a time is read, scanned and scored, then FROC and Dice over all. */
async function evalDetect(opts: { data: string; weights?: string; backend: string; spacing?: string; limit?: number; report?: string; json?: boolean; scan?: string; updateCard?: boolean; calibrateScore?: string }): Promise<void> {
  const spacing = opts.spacing ? parseSpacing(opts.spacing) : undefined;
  let params: Partial<ScanParams> = {};
  if (opts.scan) {
    try {
      params = JSON.parse(opts.scan);
    } catch {
      throw new CliError(`--scan must be a JSON object, got '${opts.scan}'`, 'usage');
    }
  }
  const entries = detectEntries(opts.data, opts.limit);
  if (!entries.length) throw new CliError(`${opts.data}: no volumes`, 'input');
  const dir = modelFolder(opts.weights ?? SHIPPED_WEIGHTS);
  const model = await loadModel(readerFor(dir));
  const engine = await load({ wasmPath: WASM_DIR, weights: model, backend: opts.backend as BackendName | 'auto', warmUp: false });
  console.error(`abus-ai: detect: backend ${engine.backend?.reason}`);
  const results: DetectCaseResult[] = [];
  const started = Date.now();
  let shape = '';
  try {
    for (const [n, entry] of entries.entries()) {
      const c = loadDetectCase(entry, spacing);
      if (n === 0) shape = `the first ${c.volume.dims.map((d, a) => (d * c.volume.spacing[a]).toFixed(0)).join(' x ')} mm at ${c.volume.spacing.join(' x ')} mm`;
      const r = await evaluateDetectCase(engine, c, (e, v) => e.scan(arraySource(v), { params }));
      results.push(r);
      const hits = new Set(r.candidates.filter((k) => k.found && k.iou > 0.3).map((k) => k.hit)).size;
      const fps = r.candidates.filter((k) => k.found && !(k.iou > 0.3)).length;
      console.error(`abus-ai: ${n + 1}/${entries.length} ${r.caseId}: ${r.lesions} lesion(s), ${r.candidates.filter((k) => k.found).length} found (${hits} hit, ${fps} false), Dice ${r.dice.toFixed(3)}, ${(r.ms.total / 1000).toFixed(1)} s`);
    }
  } finally {
    engine.dispose();
  }
  const summary = summarizeDetection(results);
  const about = { data: opts.data, model: `${model.card.name} ${model.card.version}`, scan: scanParams(model.card, params), backend: engine.backend?.backend, minutes: Math.round((Date.now() - started) / 600) / 100 };
  if (opts.report) await writeFolder(opts.report, (into) => writeDetectReport(into, summary, results, about));
  if (opts.calibrateScore) {
    // On the candidates the click analysis found a lesion at: the panel shows the score on them
    // only, and its "no lesion" changes the share of lesions among candidates at one detector
    // score. Not on `found`, which the input card's minScore (on its own calibration) already cut.
    const proposed = results.flatMap((r) => r.candidates.filter((k) => k.analysisFound).map((k) => ({ raw: k.score, lesion: k.iou > HIT_IOU })));
    if (!proposed.length) throw new CliError(`${opts.data}: the scan proposed no lesion on these volumes, so there is no score to calibrate`, 'input');
    const calibration = fitScoreCalibration(proposed);
    const data = `${datasetOrigin(opts.data)}: ${summary.volumes} whole volumes, ${summary.lesions} lesions, ${summary.lesionFreeVolumes} of the volumes lesion-free; ${shape}`;
    await writeFolder(opts.calibrateScore, (into) => {
      for (const f of fs.readdirSync(dir)) if (f !== 'model-card.json') fs.copyFileSync(path.join(dir, f), path.join(into, f));
      const card = JSON.parse(fs.readFileSync(path.join(dir, 'model-card.json'), 'utf8'));
      card.scan = { ...scanParams(model.card, params), calibration };
      card.metrics = { ...card.metrics, detectionValidation: { data, note: 'the volumes the scan parameters and the score calibration were chosen on (not held out)', froc: Math.round(summary.froc.mean * 1000) / 1000, sensitivityAt1Fp: Math.round(summary.recallAt1Fp * 1000) / 1000, candidatesFroc: Math.round(summary.candidatesFroc.mean * 1000) / 1000, candidates: results.reduce((n, r) => n + r.candidates.length, 0), evaluated: new Date().toISOString().slice(0, 10) } };
      fs.writeFileSync(path.join(into, 'model-card.json'), JSON.stringify(card, null, 2) + '\n');
    });
    console.error(`abus-ai: calibrated model written to ${opts.calibrateScore} (${calibration.raw.length} score steps, share of lesions ${calibration.share[0]}-${calibration.share[calibration.share.length - 1]})`);
  }
  if (opts.updateCard) {
    const data = `${datasetOrigin(opts.data)}: ${summary.volumes} whole volumes, ${summary.lesions} lesions, ${summary.lesionFreeVolumes} of the volumes lesion-free; ${shape}`;
    const round = (x: number) => Math.round(x * 1000) / 1000;
    const file = updateCardMetrics(dir, 'detectionHeldOut', {
      data,
      note: `abus-ai eval --detect: FROC as in TDSC-ABUS 2023 (hit at box IoU > 0.3; sensitivity at 0.125-8 false positives per volume) of the proposals, the candidates the viewer lists; candidatesFroc: of every candidate the scan analysed, proposed or not; Dice of the union of the found lesions per volume; ${about.backend}`,
      keyFp: KEY_FP,
      sensitivity: summary.froc.keyRecall.map(round),
      froc: round(summary.froc.mean),
      frocInterval95: summary.frocInterval.map(round),
      candidatesFroc: round(summary.candidatesFroc.mean),
      sensitivityAt1FpBySize: summary.bySize.map((b) => ({ ...b, sensitivityAt1Fp: round(b.sensitivityAt1Fp) })),
      sensitivityAt1Fp: round(summary.recallAt1Fp),
      foundLesions: { sensitivity: round(summary.accepted.recall), falsePerVolume: round(summary.accepted.fpPerVolume) },
      dice: { all: round(summary.dice.all), withLesions: round(summary.dice.withLesions), lesionFree: round(summary.dice.lesionFree) },
      secondsPerVolume: round(summary.secondsPerVolume),
      minutes: about.minutes,
      evaluated: new Date().toISOString().slice(0, 10),
    });
    console.error(`abus-ai: detection written to ${file}`);
  }
  if (opts.json) {
    const { curve: _curve, ...froc } = summary.froc;
    const { curve: _candidatesCurve, ...candidatesFroc } = summary.candidatesFroc;
    console.log(JSON.stringify({ ...about, ...summary, froc, candidatesFroc }));
  } else {
    console.log('Research use only, not for clinical diagnosis.\n');
    console.log(detectTable(summary));
    console.log(`found lesions (the candidates the fine pass accepts): ${(100 * summary.accepted.recall).toFixed(1)}% of lesions, ${summary.accepted.fpPerVolume.toFixed(2)} false per volume`);
  }
}
