/**
 * abus-ai phantom: synthetic ABUS volumes with known lesions, in the TDSC-ABUS layout
 * (see models/tools/research/src/phantom/dataset.ts), for tests, demos and training a demo model.
 */
import { Command } from 'commander';
import { CROP_SIZE_MM, CROP_SPACING, PHANTOM_FORMATS, PhantomFormat, writePhantomDataset, writePreview } from '@abus-tumor-ai/research';
import { checkVolumeSize } from '@abus-tumor-ai/engine/lab';
import { parseTriple, parseSpacing } from './load-volume';
import { CliError } from './errors';
import * as cliProgress from 'cli-progress';
import * as fs from 'fs';
import * as path from 'path';
import { checkOutputFolder, writeFolder } from './output';

const DEFAULT_PREVIEWS = 8;

export function registerPhantom(program: Command): void {
  program
    .command('phantom')
    .description('write synthetic ABUS phantoms with known lesions (TDSC-ABUS layout: DATA_000.nrrd, MASK_000.nrrd, labels.csv, phantoms.json)')
    .requiredOption('--out <folder>', 'output folder')
    .option('--count <n>', 'number of cases', '10')
    .option('--seed <n>', 'random seed (same seed, same files)', '1')
    .option('--full-size', 'real ABUS volumes (865 x 608 x 330 voxels of 0.2 x 0.073 x 0.476 mm) instead of 80 x 40 x 80 mm crops at 0.4 x 0.2 x 0.5 mm')
    .option('--format <list>', `image formats, comma-separated: ${PHANTOM_FORMATS.join(', ')} or all (masks are always NRRD)`, 'nrrd')
    .option('--detect-set', 'whole volumes for abus-ai eval --detect: 0, 1, 2, 3 lesions in turn (a crowded volume may hold fewer), each anywhere in the volume')
    .option('--size-mm <x,y,z>', 'crop size in mm [lateral, depth, sweep] (default 80,40,80; ignored with --full-size)')
    .option('--spacing <sx,sy,sz>', 'crop voxel spacing in mm (default 0.4,0.2,0.5; ignored with --full-size)')
    .option('--force', 'write into a folder that already holds a dataset (its files are replaced)')
    .option('--preview [n]', `also write preview/DATA_000.png ... (three planes through the lesion) for the first n cases (default ${DEFAULT_PREVIEWS})`)
    .action(async (opts) => {
      const count = positiveInt(opts.count, '--count');
      const seed = Number(opts.seed);
      if (!Number.isInteger(seed)) throw new CliError(`--seed must be an integer, got '${opts.seed}'`, 'usage');
      const formats = parseFormats(opts.format);
      const previews = opts.preview === undefined ? 0 : opts.preview === true ? DEFAULT_PREVIEWS : positiveInt(opts.preview, '--preview');
      const sizeMm = opts.sizeMm ? parseTriple(opts.sizeMm, '--size-mm') : undefined;
      const spacing = opts.spacing ? parseSpacing(opts.spacing) : undefined;
      if (sizeMm?.some((x) => !(x > 0))) throw new CliError('--size-mm values must be positive', 'usage');
      if (!opts.fullSize) {
        // Checked before anything is generated: a typo (100000 for 100) would otherwise fill the memory.
        const dims = (sizeMm ?? CROP_SIZE_MM).map((mm, a) => Math.round(mm / (spacing ?? CROP_SPACING)[a]));
        if (dims.some((n) => n < 16)) throw new CliError(`--size-mm ${(sizeMm ?? CROP_SIZE_MM).join(',')} at ${(spacing ?? CROP_SPACING).join(' x ')} mm is ${dims.join(' x ')} voxels; each side needs at least 16`, 'usage');
        try {
          checkVolumeSize(dims, 1, `--size-mm ${(sizeMm ?? CROP_SIZE_MM).join(',')} at ${(spacing ?? CROP_SPACING).join(' x ')} mm`);
        } catch (err) {
          throw new CliError((err as Error).message, 'usage');
        }
      }
      checkOutputFolder('--out', opts.out, []);
      const dataset = datasetFiles(opts.out);
      if (dataset.length && !opts.force) throw new CliError(`--out ${opts.out} already holds a dataset (${dataset.slice(0, 3).join(', ')}${dataset.length > 3 ? ', ...' : ''}); pass --force to replace it, or give a new folder`, 'output');

      const bar = new cliProgress.SingleBar({ format: 'phantom |{bar}| {value}/{total} cases | {duration_formatted} elapsed, {eta_formatted} left', hideCursor: true }, cliProgress.Presets.shades_classic);
      bar.start(count, 0);
      const start = Date.now();
      let index;
      try {
        const detect = opts.detectSet === true;
        const phantom = { sizeMm, spacing, lesionsAnywhere: detect || undefined };
        index = await writeFolder(opts.out, (into) => writePhantomDataset(into, { count, seed, fullSize: opts.fullSize === true, formats, phantom, lesionCycle: detect ? [0, 1, 2, 3] : undefined }, (done, _total, phantom, record) => {
          if (done <= previews) writePreview(path.join(into, 'preview', `${record.name}.png`), phantom);
          bar.update(done);
        }));
      } finally {
        bar.stop();
      }
      const seconds = (Date.now() - start) / 1000;
      const labelled = index.cases.filter((c) => c.label !== null);
      const malignant = labelled.filter((c) => c.label === 'M').length;
      const twoLesions = index.cases.filter((c) => c.lesions.length > 1).length;
      const allLesions = index.cases.reduce((n, c) => n + c.lesions.length, 0);
      const volumes = labelled.map((c) => c.lesions[0].volume_ml);
      const range = volumes.length ? `, main lesion ${Math.min(...volumes).toFixed(2)}-${Math.max(...volumes).toFixed(2)} mL` : '';
      console.log(
        `phantom: ${count} cases (${malignant} malignant, ${labelled.length - malignant} benign, ${index.negatives.length} without lesion, ${twoLesions} with two or more lesions, ${allLesions} lesions in all${range}) in ${seconds.toFixed(1)} s -> ${opts.out}`,
      );
    });
}

/** The files of a dataset (abus-ai phantom's, or TDSC-ABUS's) already in `folder`. */
function datasetFiles(folder: string): string[] {
  if (!fs.existsSync(folder)) return [];
  return fs.readdirSync(folder).filter((n) => /^(labels\.csv|phantoms\.json|(DATA|MASK)_.*\.nrrd|dicom|dicom-multiframe)$/i.test(n));
}

function positiveInt(text: string, what: string): number {
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= 1)) throw new CliError(`${what} must be a positive integer, got '${text}'`, 'usage');
  return n;
}

function parseFormats(text: string): PhantomFormat[] {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.includes('all')) return [...PHANTOM_FORMATS];
  for (const n of names) {
    if (!PHANTOM_FORMATS.includes(n as PhantomFormat)) throw new CliError(`--format: unknown format '${n}' (use ${PHANTOM_FORMATS.join(', ')} or all)`, 'usage');
  }
  if (!names.length) throw new CliError('--format: give at least one format', 'usage');
  return names as PhantomFormat[];
}
