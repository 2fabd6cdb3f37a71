/**
 * abus-ai init-weights: a randomly initialised, UNTRAINED model in the shipped format, for
 * trying the pipeline end to end and as the start of training. Its card says it is untrained.
 */
import { Command, Option } from 'commander';
import { DEFAULT_INPUT, foldBatchNorm, initWeights, serializeModel, Variant, variantConfig, VARIANTS } from '@abus-tumor-ai/engine/lab';
import { writeModelFolder } from '@abus-tumor-ai/engine/node';
import { parseTriple } from './load-volume';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

export function registerInitWeights(program: Command): void {
  program
    .command('init-weights')
    .description('write an untrained, randomly initialised model (for plumbing tests; it predicts nothing useful)')
    .requiredOption('--out <folder>', 'output folder')
    .addOption(new Option('--variant <name>', 'network variant').choices([...VARIANTS]).default('cmsvnetiter'))
    .option('--width <n>', 'base width', '16')
    .option('--grid <x,y,z>', 'network grid in voxels (lateral, depth, sweep)', DEFAULT_INPUT.grid.join(','))
    .option('--voxel <mm>', 'grid voxel size in mm', String(DEFAULT_INPUT.voxelMm))
    .option('--seed <n>', 'random seed', '1')
    .action(async (opts) => {
      await tf.setBackend('cpu');
      const grid = parseTriple(opts.grid, '--grid');
      const voxelMm = Number(opts.voxel);
      const architecture = variantConfig(opts.variant as Variant, { baseWidth: Number(opts.width) });
      const raw = initWeights(architecture, Number(opts.seed));
      const weights = foldBatchNorm(architecture, raw);
      const saved = await serializeModel(weights, {
        name: `${opts.variant}-untrained`,
        version: '0.0.0-untrained',
        architecture,
        input: { grid, voxelMm, voiMm: [grid[0] * voxelMm, grid[1] * voxelMm, grid[2] * voxelMm], normalization: 'zscore-voi' },
        decisionThreshold: 0.5,
        training: { data: 'none: random initialisation, UNTRAINED', seed: Number(opts.seed) },
        metrics: {},
      });
      await writeModelFolder(opts.out, saved);
      tf.dispose([...Object.values(raw), ...Object.values(weights)]);
      console.log(`wrote an untrained ${opts.variant} (width ${opts.width}) to ${opts.out}`);
    });
}
