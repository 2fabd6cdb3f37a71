/**
 * Training samples without end, made by the inference pipeline's own code (makeSample: VOI
 * planning, resampling, normalisation, then augmentation), written as shards for the PyTorch
 * trainer. Sources:
 * - phantoms drawn on the fly, with domain randomisation: every crop has its own speckle, gain,
 *   TGC, contrast, anatomy and lesion size, and a quarter have no lesion at all;
 * - a dataset folder (TDSC-ABUS layout), for training on real data.
 * Each lesion gives `copies` differently augmented VOIs; negatives are VOIs centred on normal
 * tissue (fat lobules, ligaments, gland, under the skin, above the chest wall), so the network
 * learns to answer "no lesion here".
 */
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { LesionSample, loadCase, LoadedCase, readLabels } from '../data/tdsc';
import { InputContract, Vec3 } from '@abus-tumor-ai/engine';
import { generatePhantom, normalTissueSites } from '../phantom/generate';
import { hashSeed } from '../phantom/random';
import { Rng } from './rng';
import { Augmentation, makeSample, Sample } from './samples';
import { writeShard } from './shards';

export type SamplerSource = { kind: 'phantom'; randomize: boolean } | { kind: 'dataset'; dir: string; caseIds?: string[]; spacing?: Vec3 };

export interface SamplerOptions {
  outDir: string;
  inputs: InputContract[];
  source: SamplerSource;
  augmentation: Augmentation;
  seed: number;
  /** This worker's index among `workers`: it draws its own stream and, for a dataset, its own cases. */
  worker: number;
  workers: number;
  /** Samples this worker writes before it stops; unlimited when undefined. */
  count?: number;
  samplesPerShard: number;
  /** Fraction of phantom crops without a lesion (each gives NEGATIVES_PER_EMPTY_CROP negatives). */
  emptyCropFraction: number;
  /** Augmented VOIs per lesion. */
  copies: number;
  /** Keep only this worker's newest shards on disk (a trainer holds what it read in memory). */
  keepShards?: number;
}

export const DEFAULT_SAMPLER = { samplesPerShard: 16, emptyCropFraction: 0.25, copies: 2 };
const NEGATIVES_PER_EMPTY_CROP = 2;
/** Probability that a lesion crop also gives one negative VOI away from its lesion. */
const NEGATIVE_BESIDE_LESION = 0.5;
/** VOI (64 x 32 x 64 mm) plus room for the centre jitter; 40 mm deep reaches the chest wall. */
const CROP_MM: Vec3 = [72, 40, 72];

interface Drawn {
  /** One sample per grid, all of the same VOI. */
  perGrid: Sample[];
  kind: string;
}

/** The same VOI on every grid: each grid's makeSample starts from the same random state. */
function onEveryGrid(inputs: InputContract[], rng: Rng, make: (input: InputContract, r: Rng) => Sample): Sample[] {
  const state = rng.next() * 2 ** 32;
  return inputs.map((input) => make(input, new Rng(state)));
}

function* phantomCrops(o: SamplerOptions, randomize: boolean): Generator<Drawn> {
  const rng = new Rng(hashSeed('sampler', o.seed, o.worker));
  for (let n = 0; ; n++) {
    const seed = hashSeed('sampler-crop', o.seed, o.worker, n);
    const empty = rng.next() < o.emptyCropFraction;
    // Source voxels vary too (a scanner's sampling), log-uniform around the default crop's.
    const spacing: Vec3 = randomize
      ? [Math.exp(rng.uniform(Math.log(0.28), Math.log(0.5))), Math.exp(rng.uniform(Math.log(0.12), Math.log(0.25))), rng.uniform(0.4, 0.6)]
      : [0.4, 0.2, 0.5];
    const phantom = generatePhantom({ seed, sizeMm: CROP_MM, spacing, randomize, lesionCount: empty ? 0 : 1 });
    const lesion = phantom.lesions[0];
    if (lesion) {
      const target: LesionSample = { center: lesion.centerIndex, malignant: lesion.malignant, volumeMl: lesion.volume_ml };
      for (let c = 0; c < o.copies; c++) {
        yield { perGrid: onEveryGrid(o.inputs, rng, (input, r) => makeSample(phantom, target, input, o.augmentation, r)), kind: 'lesion' };
      }
    }
    const negatives = empty ? NEGATIVES_PER_EMPTY_CROP : rng.next() < NEGATIVE_BESIDE_LESION ? 1 : 0;
    for (const site of normalTissueSites(phantom, negatives, seed)) {
      const target: LesionSample = { center: site.index, malignant: false, volumeMl: 0 };
      yield { perGrid: onEveryGrid(o.inputs, rng, (input, r) => makeSample(phantom, target, input, o.augmentation, r, true)), kind: site.kind };
    }
  }
}

/** A point at least clearMm from every mask voxel (its box is empty), inside the volume's central 80%. */
function randomNormalPoint(c: LoadedCase, rng: Rng, clearMm = 10): Vec3 | undefined {
  const { dims, spacing } = c.mask;
  for (let tries = 0; tries < 50; tries++) {
    const p = dims.map((d) => Math.round(rng.uniform(0.1, 0.9) * (d - 1))) as Vec3;
    const lo = p.map((v, a) => Math.max(0, Math.floor(v - clearMm / spacing[a])));
    const hi = p.map((v, a) => Math.min(dims[a] - 1, Math.ceil(v + clearMm / spacing[a])));
    let clear = true;
    for (let k = lo[2]; clear && k <= hi[2]; k++)
      for (let j = lo[1]; clear && j <= hi[1]; j++)
        for (let i = lo[0]; i <= hi[0]; i++)
          if (c.mask.data[i + dims[0] * (j + dims[1] * k)]) {
            clear = false;
            break;
          }
    if (clear) return p;
  }
  return undefined;
}

function* datasetCrops(o: SamplerOptions, source: Extract<SamplerSource, { kind: 'dataset' }>): Generator<Drawn> {
  const entries = readLabels(source.dir).filter((e) => !source.caseIds || source.caseIds.includes(e.caseId));
  // Each worker holds only its own cases: a real ABUS volume is about 170 M voxels.
  const mine = entries.filter((_, i) => i % o.workers === o.worker % Math.max(1, Math.min(o.workers, entries.length)));
  if (!mine.length) throw new Error(`No cases for sampler worker ${o.worker} in ${source.dir}`);
  const cases = mine.map((e) => loadCase(e, { spacing: source.spacing }));
  const rng = new Rng(hashSeed('sampler', o.seed, o.worker));
  for (;;) {
    const c = cases[Math.floor(rng.next() * cases.length)];
    for (const target of c.lesions) {
      for (let k = 0; k < o.copies; k++) yield { perGrid: onEveryGrid(o.inputs, rng, (input, r) => makeSample(c, target, input, o.augmentation, r)), kind: 'lesion' };
    }
    const point = rng.next() < NEGATIVE_BESIDE_LESION ? randomNormalPoint(c, rng) : undefined;
    if (point) {
      const target: LesionSample = { center: point, malignant: false, volumeMl: 0 };
      yield { perGrid: onEveryGrid(o.inputs, rng, (input, r) => makeSample(c, target, input, o.augmentation, r, true)), kind: 'normal' };
    }
  }
}

function describe(source: SamplerSource): string {
  return source.kind === 'phantom' ? `phantom${source.randomize ? ' (randomised)' : ''}` : `dataset ${path.basename(path.resolve(source.dir))}`;
}

/** Writes shards until `count` samples are out (or forever); returns how many it wrote. */
export function runSampler(o: SamplerOptions, onShard?: (name: string, samples: number) => void): number {
  const crops = o.source.kind === 'phantom' ? phantomCrops(o, o.source.randomize) : datasetCrops(o, o.source);
  let written = 0;
  for (let shard = 0; o.count === undefined || written < o.count; shard++) {
    const size = o.count === undefined ? o.samplesPerShard : Math.min(o.samplesPerShard, o.count - written);
    const drawn: Drawn[] = [];
    while (drawn.length < size) drawn.push(crops.next().value as Drawn);
    const name = `w${o.worker}-${String(shard).padStart(6, '0')}`;
    writeShard(o.outDir, name, o.inputs, o.inputs.map((_, g) => drawn.map((d) => d.perGrid[g])), drawn.map((d) => d.kind), describe(o.source));
    if (o.keepShards !== undefined && shard >= o.keepShards) removeShard(o.outDir, `w${o.worker}-${String(shard - o.keepShards).padStart(6, '0')}`);
    written += size;
    onShard?.(name, size);
  }
  return written;
}

/** The .json goes first: a reader lists shards by it, so it never finds half a shard. */
function removeShard(dir: string, name: string): void {
  fs.rmSync(path.join(dir, `${name}.json`), { force: true });
  for (const f of fs.readdirSync(dir)) if (f.startsWith(`${name}.`)) fs.rmSync(path.join(dir, f), { force: true });
}

export interface SamplerPool {
  /** Resolves when every worker has written its count (never, for an unlimited run). */
  done: Promise<number>;
  stop(): Promise<void>;
}

/** A worker thread runs compiled JavaScript; under ts-jest this module is the .ts source, and npm test builds dist first. */
const WORKER_FILE = __filename.endsWith('.ts') ? path.resolve(__dirname, '../../dist/train/sampler-worker.js') : path.join(__dirname, 'sampler-worker.js');

/** Runs `workers` samplers in worker threads (one per core is the usual choice). */
export function startSamplers(options: Omit<SamplerOptions, 'worker'>, onShard?: (name: string, samples: number) => void): SamplerPool {
  const perWorker = options.count === undefined ? undefined : Math.ceil(options.count / options.workers);
  const threads = Array.from({ length: options.workers }, (_, worker) => {
    const count = perWorker === undefined ? undefined : Math.max(0, Math.min(perWorker, (options.count as number) - worker * perWorker));
    return new Worker(WORKER_FILE, { workerData: { ...options, worker, count } });
  });
  let stopping = false;
  const done = Promise.all(
    threads.map(
      (t) =>
        new Promise<number>((resolve, reject) => {
          let total = 0;
          t.on('message', (m: { shard: string; samples: number }) => {
            total += m.samples;
            onShard?.(m.shard, m.samples);
          });
          t.on('error', reject);
          t.on('exit', (code) => (code === 0 || stopping ? resolve(total) : reject(new Error(`sampler worker stopped with code ${code}`))));
        }),
    ),
  ).then((n) => n.reduce((a, b) => a + b, 0));
  return {
    done,
    stop: async () => {
      stopping = true;
      await Promise.all(threads.map((t) => t.terminate()));
    },
  };
}
