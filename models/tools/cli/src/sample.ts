/**
 * abus-ai sample: training or validation VOIs as shards for the PyTorch trainer (see
 * train/sampler.ts), made by worker threads until --count, or until stopped.
 */
import { Command } from 'commander';
import { InputContract } from '@abus-tumor-ai/engine';
import { ANYWHERE_MIX, CENTRED_MIX, DEFAULT_AUGMENTATION, DEFAULT_SAMPLER, gridTag, NO_AUGMENTATION, SamplerSource, startSamplers, VoiMix } from '@abus-tumor-ai/research';
import { parseTriple, parseSpacing } from './load-volume';
import * as fs from 'fs';
import * as os from 'os';

/** '64,32,64@1' -> the 64 x 32 x 64 grid of 1 mm voxels. */
function parseGrid(text: string, list: InputContract[] = []): InputContract[] {
  const [size, mm] = text.split('@');
  const grid = parseTriple(size, '--grid');
  const voxelMm = Number(mm);
  if (!(voxelMm > 0)) throw new Error(`--grid: '${text}' needs a voxel size, e.g. 64,32,64@1`);
  return [...list, { grid, voxelMm, voiMm: [grid[0] * voxelMm, grid[1] * voxelMm, grid[2] * voxelMm], normalization: 'zscore-voi' }];
}

/** --mix: the named mixes of lesion placements (train/sampler.ts). */
const MIXES: Record<string, VoiMix> = { anywhere: ANYWHERE_MIX, centred: CENTRED_MIX };

export function registerSample(program: Command): void {
  program
    .command('sample')
    .description('write training VOIs (lesions and normal tissue) as .npy shards for the PyTorch trainer, from phantoms drawn on the fly or a dataset folder')
    .requiredOption('--out <dir>', 'shard folder')
    .requiredOption('--grid <x,y,z@mm>', 'network grid and voxel size; repeat for several grids of the same VOIs', parseGrid)
    .option('--phantoms', 'synthetic phantoms drawn on the fly')
    .option('--no-randomize', 'phantoms: the generator\'s fixed look, without domain randomisation')
    .option('--data <dir>', 'a TDSC-ABUS-layout dataset folder instead')
    .option('--spacing <sx,sy,sz>', 'override the dataset files\' voxel spacing')
    .option('--count <n>', 'VOIs to write (default: until stopped)')
    .option('--workers <n>', 'threads', String(Math.max(1, os.cpus().length - 1)))
    .option('--keep <n>', 'keep only each thread\'s newest n shards on disk')
    .option('--seed <n>', 'random seed', '1')
    .option('--no-augment', 'no augmentation (validation and test VOIs)')
    .option('--mix <name>', `phantoms: where lesions lie in the VOI, ${Object.keys(MIXES).join(' or ')} (centred: the sampler before issue #21)`, 'anywhere')
    .option('--suspicious <share>', 'phantoms: share of lesion crops drawn with at least 3 of 4 suspicious signs (irregular, taller than wide, spiculated, shadowing)', String(DEFAULT_SAMPLER.suspiciousShare))
    .option('--contact-shadow <share>', 'phantoms: share of crops drawn with a poor-contact shadow at a face, 4-18 mm wide as in a full volume (hard negatives for the detector)', '0')
    .action(async (opts) => {
      if (!opts.data === !opts.phantoms) throw new Error('give --phantoms or --data <dir>');
      const source: SamplerSource = opts.phantoms ? { kind: 'phantom', randomize: opts.randomize !== false } : { kind: 'dataset', dir: opts.data, spacing: opts.spacing ? parseSpacing(opts.spacing) : undefined };
      const mix = MIXES[opts.mix];
      if (!mix) throw new Error(`--mix: '${opts.mix}' is not one of ${Object.keys(MIXES).join(', ')}`);
      const suspiciousShare = Number(opts.suspicious);
      if (!(suspiciousShare >= 0 && suspiciousShare <= 1)) throw new Error(`--suspicious: '${opts.suspicious}' is not a share between 0 and 1`);
      const contactShare = Number(opts.contactShadow);
      if (!(contactShare >= 0 && contactShare <= 1)) throw new Error(`--contact-shadow: '${opts.contactShadow}' is not a share between 0 and 1`);
      fs.mkdirSync(opts.out, { recursive: true });
      const inputs = opts.grid as InputContract[];
      const t0 = Date.now();
      let made = 0;
      const pool = startSamplers(
        { ...DEFAULT_SAMPLER, mix, suspiciousShare, contactShare, outDir: opts.out, inputs, source, augmentation: opts.augment ? DEFAULT_AUGMENTATION : NO_AUGMENTATION, seed: Number(opts.seed), workers: Number(opts.workers), count: opts.count ? Number(opts.count) : undefined, keepShards: opts.keep ? Number(opts.keep) : undefined },
        (_, n) => {
          made += n;
          process.stderr.write(`\rsample: ${made} VOIs (${inputs.map(gridTag).join(', ')}), ${(made / ((Date.now() - t0) / 1000)).toFixed(1)} VOIs/s`);
        },
      );
      process.once('SIGTERM', () => void pool.stop().then(() => process.exit(0)));
      const n = await pool.done;
      process.stderr.write('\n');
      console.log(`sample: ${n} VOIs in ${((Date.now() - t0) / 1000).toFixed(0)} s -> ${opts.out}`);
    });
}
