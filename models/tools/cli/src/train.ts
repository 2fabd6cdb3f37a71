/** abus-ai train: the paper's training protocol on a TDSC-ABUS-layout folder, with k-fold CV by patient. */
import { Command, Option } from 'commander';
import { BackendName, InputContract } from '@abus-tumor-ai/engine';
import { BACKEND_ORDER, chooseBackend, Variant, variantConfig, VARIANTS } from '@abus-tumor-ai/engine/lab';
import { installNodeWebGPU } from '@abus-tumor-ai/engine/node';
import { assignFolds, DEFAULT_AUGMENTATION, defaultPython, describeDataset, loadDataset, NO_AUGMENTATION, readLabels, SamplerSource, train, TrainEvent, trainWithTorch } from '@abus-tumor-ai/research';
import { parseTriple, parseSpacing } from './load-volume';
import { CliError } from './errors';
import * as cliProgress from 'cli-progress';
import * as os from 'os';
import * as path from 'path';
import { WASM_DIR } from './layout';

/** The trainer's own options, passed through as they are. */
function trainerArgs(opts: Record<string, unknown>): string[] {
  const args = ['--variant', String(opts.variant), '--width', String(opts.width), '--batch', String(opts.batch), '--lr', String(opts.lr), '--lambda', String(opts.lambda)];
  if (opts.steps) args.push('--steps', String(opts.steps));
  if (opts.minutes) args.push('--minutes', String(opts.minutes));
  if (!opts.steps && !opts.minutes) throw new Error('--engine torch needs --steps or --minutes');
  for (const flag of ['resume', 'bf16', 'tf32', 'float16Weights'] as const) if (opts[flag]) args.push(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  return args;
}

async function trainTorch(opts: Record<string, string | boolean | undefined>, input: InputContract): Promise<void> {
  const common = {
    input,
    augmentation: opts.augment ? DEFAULT_AUGMENTATION : NO_AUGMENTATION,
    seed: Number(opts.seed),
    workers: Number(opts.workers),
    valCount: Number(opts.valCount),
    python: (opts.python as string | undefined) ?? defaultPython(),
    processes: Number(opts.processes),
    torchrunArgs: opts.torchrun ? String(opts.torchrun).split(/\s+/).filter(Boolean) : [],
    log: (line: string) => console.error(`abus-ai: ${line}`),
  };
  if (opts.phantoms) {
    const source: SamplerSource = { kind: 'phantom', randomize: true };
    const provenance = { data: 'synthetic ABUS phantoms drawn on the fly (models/tools/research/src/phantom, randomised imaging and anatomy, 25% lesion-free crops, normal-tissue negatives)', command: ['abus-ai', ...process.argv.slice(2)].join(' '), machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}` };
    await trainWithTorch({ ...common, source, valSource: source, outDir: String(opts.out), trainerArgs: [...trainerArgs(opts), '--provenance', JSON.stringify(provenance)] });
    return;
  }
  const entries = readLabels(String(opts.data));
  const folds = Number(opts.folds);
  if (!(folds >= 2)) throw new Error('--folds must be at least 2');
  const foldOf = assignFolds(entries.map((e) => e.patientId), folds);
  const which = opts.fold === undefined ? [...Array(folds).keys()] : [Number(opts.fold)];
  for (const fold of which) {
    if (!(fold >= 0 && fold < folds)) throw new Error(`--fold must be between 0 and ${folds - 1}`);
    const ids = (inFold: boolean) => entries.filter((_, i) => (foldOf[i] === fold) === inFold).map((e) => e.caseId);
    const dataset = (caseIds: string[]): SamplerSource => ({ kind: 'dataset', dir: String(opts.data), caseIds, spacing: opts.spacing ? parseSpacing(String(opts.spacing)) : undefined });
    const outDir = which.length > 1 ? path.join(String(opts.out), `fold-${fold}`) : String(opts.out);
    const provenance = { data: `TDSC-ABUS-layout data '${path.basename(path.resolve(String(opts.data)))}': ${entries.length} cases`, fold: `${fold} of ${folds} (validation fold; split by patient)`, command: ['abus-ai', ...process.argv.slice(2)].join(' ') };
    await trainWithTorch({ ...common, source: dataset(ids(false)), valSource: dataset(ids(true)), outDir, trainerArgs: [...trainerArgs(opts), '--provenance', JSON.stringify(provenance)] });
    console.error(`abus-ai: fold ${fold} done; best model in ${path.join(outDir, 'model')}`);
  }
}

function progressReporter(label: string): (e: TrainEvent) => void {
  const tty = process.stderr.isTTY;
  const bar = new cliProgress.SingleBar(
    { format: `${label} epoch {epoch} |{bar}| {value}/{total} steps | loss {loss} | {msPerStep} ms/step | ETA {eta_formatted}`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  return (e) => {
    if (e.type === 'start') {
      console.error(`${label}: ${e.resumed ? `resuming at epoch ${e.epoch}` : 'starting'}, ${e.epochs} epochs of ${e.stepsPerEpoch} steps`);
    } else if (e.type === 'step' && tty) {
      if (e.step === 1) bar.start(0, 0, { epoch: e.epoch, loss: '-', msPerStep: '-' });
      bar.setTotal(Math.max(bar.getTotal(), e.step));
      bar.update(e.step, { epoch: e.epoch, loss: e.loss.toFixed(4), msPerStep: Math.round(e.msPerStep) });
    } else if (e.type === 'epoch') {
      if (tty) bar.stop();
      const l = e.log;
      const parts = [`loss ${l.train_loss.toFixed(4)}`, l.val_dsc !== undefined ? `val DSC ${l.val_dsc.toFixed(3)}` : '', l.val_auc !== undefined ? `val AUC ${l.val_auc.toFixed(3)}` : '', `${l.seconds.toFixed(0)} s`, `${l.samples_per_s.toFixed(2)} samples/s`, `${l.gflop_per_s.toFixed(1)} GFLOP/s`, l.best ? 'best' : ''];
      console.error(`${label} epoch ${l.epoch}: ${parts.filter(Boolean).join(', ')}`);
    }
  };
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train a network on a TDSC-ABUS-layout folder (labels.csv, DATA_*.nrrd, MASK_*.nrrd), or with --engine torch also on phantoms drawn on the fly')
    .option('--data <dir>', 'dataset folder')
    .addOption(new Option('--engine <name>', 'tfjs: this process (small runs, tests); torch: PyTorch (models/torch) fed by the sampler, GPUs and torchrun').choices(['tfjs', 'torch']).default('tfjs'))
    .option('--phantoms', 'torch: train on synthetic phantoms drawn on the fly, with domain randomisation and negatives (instead of --data)')
    .option('--steps <n>', 'torch: optimisation steps')
    .option('--minutes <x>', 'torch: training time (the learning rate decays over it)')
    .option('--workers <n>', 'torch: sampler threads', String(Math.max(1, os.cpus().length - 1)))
    .option('--processes <n>', 'torch: training processes on this machine (torchrun, DDP)', '1')
    .option('--torchrun <args>', "torch: more torchrun arguments for several machines, e.g. '--nnodes=2 --node_rank=0 --master_addr=host'")
    .option('--python <path>', 'torch: the Python with PyTorch (default $ABUS_PYTHON or /usr/bin/python3)')
    .option('--bf16', 'torch: bf16 autocast on GPUs')
    .option('--tf32', 'torch: TF32 on GPUs')
    .option('--float16-weights', 'torch: export float16 shards (half the size)')
    .option('--val-count <n>', 'torch: validation VOIs', '256')
    .requiredOption('--out <dir>', 'run folder (log.jsonl, checkpoint/, model/; fold-k/ when several folds run)')
    .addOption(new Option('--variant <name>', 'network variant').choices([...VARIANTS]).default('cmsvnetiter'))
    .option('--folds <k>', 'cross-validation folds, split by patient', '4')
    .option('--fold <i>', 'train only this fold (0-based; it is the validation fold); default: every fold in turn')
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(['auto', ...BACKEND_ORDER]).default('auto'))
    .option('--resume', 'continue from the run folder\'s last checkpoint')
    .option('--epochs <n>', 'tfjs: epochs', '40')
    .option('--batch <n>', 'batch size', '4')
    .option('--lr <x>', 'Adam learning rate', '0.001')
    .option('--lambda <x>', 'classification weight in the loss', '0.3')
    .option('--width <n>', 'base width', '16')
    .option('--grid <x,y,z>', 'network grid in voxels (lateral, depth, sweep)', '128,64,128')
    .option('--voxel <mm>', 'grid voxel size in mm', '0.5')
    .option('--spacing <sx,sy,sz>', 'override the files\' voxel spacing (TDSC-ABUS headers carry none)')
    .option('--no-augment', 'turn augmentation off')
    .option('--limit <n>', 'use only the first n cases (quick runs)')
    .option('--seed <n>', 'random seed', '1')
    .action(async (opts) => {
      const grid = parseTriple(opts.grid, '--grid');
      const voxelMm = Number(opts.voxel);
      const config = variantConfig(opts.variant as Variant, { baseWidth: Number(opts.width) });
      const input = { grid, voxelMm, voiMm: [grid[0] * voxelMm, grid[1] * voxelMm, grid[2] * voxelMm] as [number, number, number], normalization: 'zscore-voi' as const };
      if (!opts.data === !opts.phantoms) throw new Error(opts.data ? 'give --data or --phantoms, not both' : 'give --data <dir> (or --phantoms with --engine torch)');
      // The PyTorch trainer runs in models/torch: a relative path would be taken from there, not from here.
      opts.out = path.resolve(opts.out);
      if (opts.data) opts.data = path.resolve(opts.data);
      if (opts.engine === 'torch' && !opts.steps && !opts.minutes) throw new CliError('--engine torch needs --steps <n> or --minutes <x> (how long to train)', 'usage');
      if (opts.engine === 'torch') return trainTorch(opts, input);
      if (opts.phantoms) throw new Error('--phantoms needs --engine torch');
      if (opts.backend === 'auto' || opts.backend === 'webgpu') installNodeWebGPU();
      const backend = await chooseBackend(opts.backend as BackendName | 'auto', { wasmPath: WASM_DIR });
      console.error(`abus-ai: backend ${backend.reason}`);
      const t0 = Date.now();
      const { cases, warnings } = loadDataset(opts.data as string, { spacing: opts.spacing ? parseSpacing(opts.spacing) : undefined, limit: opts.limit ? Number(opts.limit) : undefined });
      for (const w of warnings) console.error(`abus-ai: warning: ${w}`);
      console.error(`abus-ai: loaded ${cases.length} cases (${cases.reduce((n, c) => n + c.lesions.length, 0)} lesions) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const folds = Number(opts.folds);
      if (!(folds >= 2)) throw new Error('--folds must be at least 2');
      const foldOf = assignFolds(cases.map((c) => c.patientId), folds);
      const which = opts.fold === undefined ? [...Array(folds).keys()] : [Number(opts.fold)];
      for (const fold of which) {
        if (!(fold >= 0 && fold < folds)) throw new Error(`--fold must be between 0 and ${folds - 1}`);
        const outDir = which.length > 1 ? path.join(opts.out, `fold-${fold}`) : opts.out;
        const started = Date.now();
        await train({
          config,
          input,
          train: cases.filter((_, i) => foldOf[i] !== fold),
          val: cases.filter((_, i) => foldOf[i] === fold),
          epochs: Number(opts.epochs),
          batchSize: Number(opts.batch),
          learningRate: Number(opts.lr),
          lambda: Number(opts.lambda),
          seed: Number(opts.seed),
          outDir,
          resume: Boolean(opts.resume),
          augmentation: opts.augment ? DEFAULT_AUGMENTATION : NO_AUGMENTATION,
          provenance: {
            data: describeDataset(opts.data, cases),
            fold: `${fold} of ${folds} (validation fold; split by patient)`,
            command: ['abus-ai', ...process.argv.slice(2)].join(' '),
            backend: backend.backend,
            machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
          },
          onEvent: progressReporter(which.length > 1 ? `fold ${fold}` : 'train'),
        });
        console.error(`abus-ai: fold ${fold} done in ${((Date.now() - started) / 60000).toFixed(1)} min; best model in ${path.join(outDir, 'model')}`);
      }
    });
}
