/**
 * abus-ai calibrate: runs a trained model on clicks of validation phantoms (randomised, a seed of
 * their own) through the full inference pipeline, and writes a copy of the model whose card holds
 * the classifier, the operating points, the minimum lesion size and what they were measured on
 * (see eval/calibrate.ts). The input model is never changed. Clicks are shared out to several
 * processes; each writes its records as JSON lines.
 */
import { spawn } from 'child_process';
import { CLI_BIN, WASM_DIR } from './layout';
import { Command, Option } from 'commander';
import { arraySource, BackendName, load, ModelCard, Vec3 } from '@abus-tumor-ai/engine';
import { BACKEND_ORDER, folderReader, loadModel } from '@abus-tumor-ai/engine/lab';
import { installNodeWebGPU } from '@abus-tumor-ai/engine/node';
import { calibrate, CLICK_RADIUS_MM, ClickRecord, generatePhantom, hashSeed, normalTissueSites } from '@abus-tumor-ai/research';
import { CliError } from './errors';
import { wholeNumber } from './args';
import { checkOutput, checkOutputFolder, refuseSpecial, writeAtomic, writeFolder } from './output';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** One in four validation phantoms has no lesion; each gives one or two normal-tissue clicks. */
const EMPTY_EVERY = 4;

async function collect(weights: string, backend: BackendName | 'auto', seed: number, cases: number[], file: string, randomize: boolean): Promise<void> {
  const model = await loadModel(folderReader(weights));
  // Every segment at the click counts here, whatever its size: calibration chooses the size.
  const card: ModelCard = { ...model.card, detection: { clickRadiusMm: CLICK_RADIUS_MM, minLesionMl: 0 }, classifier: undefined };
  const analyzer = await load({ wasmPath: WASM_DIR, weights: { card, weights: model.weights }, backend });
  const out = fs.openSync(file, 'w');
  for (const n of cases) {
    const phantomSeed = hashSeed('calibrate', seed, n);
    const phantom = generatePhantom({ seed: phantomSeed, randomize, lesionCount: n % EMPTY_EVERY === 0 ? 0 : 1 });
    const source = arraySource(phantom.volume);
    const clicks: { center: Vec3; kind: string; malignant: boolean; truthMl: number }[] = [];
    const lesion = phantom.lesions[0];
    if (lesion) clicks.push({ center: phantom.clickCenter, kind: 'lesion', malignant: lesion.malignant, truthMl: lesion.volume_ml });
    for (const site of normalTissueSites(phantom, lesion ? 1 : 2, phantomSeed)) clicks.push({ center: site.index, kind: site.kind, malignant: false, truthMl: 0 });
    for (const c of clicks) {
      const r = await analyzer.analyze(source, c.center, { centerSpace: 'voxel' });
      const record: ClickRecord = { look: randomize ? 'randomised' : 'default', kind: c.kind, malignant: c.malignant, truthMl: c.truthMl, segmentMl: r.found ? r.size.volumeMl : 0, networkProbability: r.networkProbability, descriptors: r.descriptors };
      fs.writeSync(out, JSON.stringify(record) + '\n');
    }
  }
  fs.closeSync(out);
  analyzer.dispose();
}

/** How many clicks came from randomised phantoms and how many from the generator's fixed look. */
function describeLooks(records: ClickRecord[]): string {
  const randomised = records.filter((r) => (r.look ?? 'randomised') === 'randomised').length;
  return `${randomised} clicks on randomised phantoms, ${records.length - randomised} on the generator's fixed look`;
}

/** Click records, one JSON object a line; a line that is not one is an error naming the file and the line. */
function parseRecords(text: string, file: string): ClickRecord[] {
  const records = text.split('\n').map((line, n) => [line.trim(), n + 1] as const).filter(([line]) => line).map(([line, n]) => {
    let record: ClickRecord;
    try {
      record = JSON.parse(line) as ClickRecord;
    } catch {
      throw new CliError(`--records ${file}, line ${n}: not JSON; expected one click record a line as calibrate writes them ({"kind", "malignant", "truthMl", "segmentMl", ...})`, 'input');
    }
    if (typeof record !== 'object' || record === null || typeof record.kind !== 'string' || typeof record.malignant !== 'boolean' || typeof record.segmentMl !== 'number') {
      throw new CliError(`--records ${file}, line ${n}: not a click record (it needs "kind", "malignant" and "segmentMl")`, 'input');
    }
    return record;
  });
  if (!records.length) throw new CliError(`--records ${file} holds no click records`, 'input');
  return records;
}

function runChild(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`calibration worker stopped with code ${code}`))));
  });
}

export function registerCalibrate(program: Command): void {
  program
    .command('calibrate')
    .description('fit the classifier, operating points and minimum lesion size of a trained model on validation phantoms; writes a calibrated copy')
    .requiredOption('--weights <dir>', 'trained model folder (not changed)')
    .requiredOption('--out <dir>', 'the calibrated model folder to write')
    .option('--count <n>', 'validation phantoms', wholeNumber(1), 600)
    .option('--seed <n>', 'their seed (keep it apart from training and held-out seeds)', wholeNumber(0), 3)
    .option('--processes <n>', 'worker processes', wholeNumber(1), os.cpus().length)
    .option('--no-randomize', "the generator's fixed look instead of randomised phantoms")
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(['auto', ...BACKEND_ORDER]).default('wasm'))
    .option('--records <file>', 'also keep the click records (JSON lines), or, if the file exists, refit from them without running the model')
    .addOption(new Option('--collect <file>').hideHelp())
    .addOption(new Option('--cases <list>').hideHelp())
    .action(async (opts) => {
      const seed: number = opts.seed;
      if (opts.backend === 'auto' || opts.backend === 'webgpu') installNodeWebGPU();
      if (opts.collect) {
        await collect(opts.weights, opts.backend, seed, String(opts.cases).split(',').map(Number), opts.collect, opts.randomize !== false);
        return;
      }
      checkOutputFolder('--out', opts.out, [opts.weights]);
      if (fs.existsSync(opts.out) && fs.readdirSync(opts.out).length) throw new CliError(`--out ${opts.out} exists and is not empty; give a new folder`, 'output');
      // An existing --records file is read (an input), a new one written.
      if (opts.records && fs.existsSync(opts.records)) refuseSpecial('--records', opts.records);
      else if (opts.records) checkOutput('--records', opts.records, [opts.weights], false);
      const count: number = opts.count;
      const processes: number = opts.processes;
      // The model is read (and its checksums checked) before any worker starts: a wrong --weights is one line, not one per worker.
      const model = await loadModel(folderReader(opts.weights));
      const t0 = Date.now();
      let records: ClickRecord[];
      if (opts.records && fs.existsSync(opts.records)) {
        records = parseRecords(fs.readFileSync(opts.records, 'utf8'), opts.records);
      } else {
        const work = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-calibrate-'));
        const parts = Array.from({ length: processes }, (_, p) => Array.from({ length: count }, (_, n) => n).filter((n) => n % processes === p));
        await Promise.all(parts.map((cases, p) => runChild(['calibrate', '--weights', opts.weights, '--out', opts.out, '--seed', String(seed), '--backend', opts.backend, '--collect', path.join(work, `${p}.jsonl`), '--cases', cases.join(','), ...(opts.randomize === false ? ['--no-randomize'] : [])])));
        const text = parts.map((_, p) => fs.readFileSync(path.join(work, `${p}.jsonl`), 'utf8')).join('');
        fs.rmSync(work, { recursive: true, force: true });
        if (opts.records) writeAtomic(opts.records, text);
        records = parseRecords(text, 'the workers\' records');
      }
      const result = calibrate(records);
      const card = {
        ...model.card,
        detection: result.detection,
        classifier: result.classifier,
        operatingPoints: result.operatingPoints,
        metrics: {
          ...model.card.metrics,
          calibration: {
            data: `validation phantoms (abus-ai calibrate; ${describeLooks(records)}; one in ${EMPTY_EVERY} without a lesion), clicks on lesions and on normal tissue, full inference pipeline; fitted on the first 60% of the lesion clicks, checked on the rest`,
            ...result.report,
            minutes: Math.round((Date.now() - t0) / 600) / 100,
          },
        },
      };
      // The calibrated model appears whole or not at all.
      if (fs.existsSync(opts.out)) fs.rmdirSync(opts.out); // empty, checked above
      await writeFolder(opts.out, (into) => {
        for (const f of fs.readdirSync(opts.weights)) if (f !== 'model-card.json') fs.copyFileSync(path.join(opts.weights, f), path.join(into, f));
        writeAtomic(path.join(into, 'model-card.json'), JSON.stringify(card, null, 2) + '\n');
      });
      const r = result.report as Record<string, number>;
      console.log(`calibrate: ${r.lesionClicks} lesion and ${r.normalClicks} normal-tissue clicks in ${((Date.now() - t0) / 60000).toFixed(1)} min`);
      console.log(`  minimum lesion ${result.detection.minLesionMl.toFixed(4)} mL: lesions found ${(100 * r.lesionsFound).toFixed(1)}%, normal-tissue clicks answered "no lesion" ${(100 * r.normalNoLesion).toFixed(1)}%`);
      console.log(`  classifier on ${r.checkLesions} check lesions: AUC ${r.auc.toFixed(3)} (network alone ${r.networkAuc.toFixed(3)}), ECE ${r.ece.toFixed(3)} (network alone ${r.networkEce.toFixed(3)})`);
      console.log(`  operating points: rule-out ${result.operatingPoints.ruleOut.toFixed(3)} (sensitivity ${(100 * r.sensitivityAtRuleOut).toFixed(0)}%), rule-in ${result.operatingPoints.ruleIn.toFixed(3)} (specificity ${(100 * r.specificityAtRuleIn).toFixed(0)}%)`);
      console.log(`  -> ${opts.out}`);
    });
}
