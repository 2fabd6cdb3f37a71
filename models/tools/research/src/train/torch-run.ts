/**
 * `abus-ai train --engine torch`: the TypeScript sampler in worker threads feeds the PyTorch
 * trainer (models/torch) through shard files. The validation shards are written first, with
 * their own seed and no augmentation; the training shards then stream for the whole run.
 */
import { spawn } from 'child_process';
import { InputContract } from '@abus-tumor-ai/engine';
import { DEFAULT_SAMPLER, SamplerSource, startSamplers } from './sampler';
import { Augmentation, NO_AUGMENTATION } from './samples';
import { gridTag } from './shards';
import * as fs from 'fs';
import * as path from 'path';

export interface TorchRunOptions {
  input: InputContract;
  source: SamplerSource;
  /** The validation fold's cases, for a dataset source; phantoms draw new ones. */
  valSource: SamplerSource;
  augmentation: Augmentation;
  outDir: string;
  seed: number;
  workers: number;
  valCount: number;
  python: string;
  /** Processes on this machine (torchrun --nproc_per_node); more machines through torchrunArgs. */
  processes: number;
  torchrunArgs: string[];
  /** Passed to abus_torch.train as they are (--variant, --width, --steps, --minutes, --bf16, ...). */
  trainerArgs: string[];
  log: (line: string) => void;
}

export const TORCH_DIR = path.resolve(__dirname, '..', '..', '..', '..', 'torch');

/** Debian's interpreter has python3-torch; a python3 found first on the PATH may not. */
export function defaultPython(): string {
  return process.env.ABUS_PYTHON ?? (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
}

/** Seeds apart from training's, so validation VOIs are never training VOIs. */
const VALIDATION_SEED_OFFSET = 1_000_003;

export async function trainWithTorch(options: TorchRunOptions): Promise<void> {
  // The trainer's working folder is models/torch: every path it gets must be absolute.
  const o = { ...options, outDir: path.resolve(options.outDir) };
  const samples = path.join(o.outDir, 'samples');
  const val = path.join(o.outDir, 'val');
  fs.mkdirSync(samples, { recursive: true });
  const resuming = o.trainerArgs.includes('--resume');
  if (!resuming) for (const f of fs.readdirSync(samples)) fs.rmSync(path.join(samples, f));
  const valReady = fs.existsSync(val) && fs.readdirSync(val).some((f) => f.endsWith('.json'));
  if (!valReady) {
    fs.mkdirSync(val, { recursive: true });
    const t0 = Date.now();
    const pool = startSamplers({ ...DEFAULT_SAMPLER, outDir: val, inputs: [o.input], source: o.valSource, augmentation: NO_AUGMENTATION, seed: o.seed + VALIDATION_SEED_OFFSET, workers: o.workers, count: o.valCount });
    const n = await pool.done;
    o.log(`validation: ${n} VOIs in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  let made = 0;
  const t0 = Date.now();
  const sampler = startSamplers({ ...DEFAULT_SAMPLER, outDir: samples, inputs: [o.input], source: o.source, augmentation: o.augmentation, seed: o.seed, workers: o.workers, keepShards: 64 }, (_, k) => {
    made += k;
  });
  const report = setInterval(() => o.log(`sampler: ${made} VOIs, ${(made / ((Date.now() - t0) / 1000)).toFixed(1)} VOIs/s on ${o.workers} threads`), 60_000);
  const module = ['-m', 'abus_torch.train', '--samples', samples, '--val', val, '--val-count', String(o.valCount), '--tag', gridTag(o.input), '--out', o.outDir, '--seed', String(o.seed), ...o.trainerArgs];
  const argv = o.processes > 1 || o.torchrunArgs.length ? ['-m', 'torch.distributed.run', `--nproc_per_node=${o.processes}`, ...o.torchrunArgs, ...module] : module;
  o.log(`${o.python} ${argv.join(' ')}`);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(o.python, argv, { cwd: TORCH_DIR, stdio: ['ignore', 'inherit', 'inherit'] });
      child.on('error', (err) => reject(new Error(`Could not start ${o.python}: ${err.message} (set --python or ABUS_PYTHON)`)));
      child.on('exit', resolve);
      sampler.done.catch((err) => {
        child.kill();
        reject(err);
      });
    });
    if (code !== 0) throw new Error(`the PyTorch trainer stopped with code ${code}`);
  } finally {
    clearInterval(report);
    await sampler.stop();
  }
}
