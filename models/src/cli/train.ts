/** abus-ai train: the paper's training protocol on a TDSC-ABUS-layout folder, with k-fold CV by patient. */
import { Command, Option } from 'commander';
import * as cliProgress from 'cli-progress';
import * as os from 'os';
import * as path from 'path';
import { BACKEND_ORDER, BackendName, chooseBackend } from '../engine/backend';
import { variantConfig, Variant, VARIANTS } from '../engine/config';
import { installNodeWebGPU } from '../engine/node-webgpu';
import { assignFolds, describeDataset, loadDataset } from '../data/tdsc';
import { train, TrainEvent } from '../train/loop';
import { DEFAULT_AUGMENTATION, NO_AUGMENTATION } from '../train/samples';
import { parseTriple } from './load-volume';

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
    .description('train a network on a TDSC-ABUS-layout folder (labels.csv, DATA_*.nrrd, MASK_*.nrrd)')
    .requiredOption('--data <dir>', 'dataset folder')
    .requiredOption('--out <dir>', 'run folder (log.jsonl, checkpoint/, model/; fold-k/ when several folds run)')
    .addOption(new Option('--variant <name>', 'network variant').choices([...VARIANTS]).default('cmsvnetiter'))
    .option('--folds <k>', 'cross-validation folds, split by patient', '4')
    .option('--fold <i>', 'train only this fold (0-based; it is the validation fold); default: every fold in turn')
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(['auto', ...BACKEND_ORDER]).default('auto'))
    .option('--resume', 'continue from the run folder\'s last checkpoint')
    .option('--epochs <n>', 'epochs', '40')
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
      if (opts.backend === 'auto' || opts.backend === 'webgpu') installNodeWebGPU();
      const backend = await chooseBackend(opts.backend as BackendName | 'auto');
      console.error(`abus-ai: backend ${backend.reason}`);
      const t0 = Date.now();
      const { cases, warnings } = loadDataset(opts.data, { spacing: opts.spacing ? parseTriple(opts.spacing, '--spacing') : undefined, limit: opts.limit ? Number(opts.limit) : undefined });
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
