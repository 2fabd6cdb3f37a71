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
import { generatePhantom, LesionInfo, normalTissueSites, PhantomOptions, planPhantom } from '../phantom/generate';
import { hashSeed } from '../phantom/random';
import { Rng } from './rng';
import { Augmentation, makeSample, Sample, sampleAt } from './samples';
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
  /** Share of phantom lesion crops per VoiMode (CENTRED_MIX: the old sampler; ANYWHERE_MIX: the default). */
  mix: VoiMix;
  /** Share of phantom lesion crops whose main lesion is drawn suspicious (SUSPICIOUS_MIN_SIGNS); 0: as the tables draw it. */
  suspiciousShare: number;
  /**
   * Share of phantom crops drawn with a poor-contact shadow at a face, as wide as a full volume's
   * (PhantomOptions.contactShadow); 0 (the default): as the generator draws it, now and then.
   */
  contactShare?: number;
  /** Keep only this worker's newest shards on disk (a trainer holds what it read in memory). */
  keepShards?: number;
}

/**
 * Where a lesion crop puts its lesion in the VOI (docs/training.md, "Where the lesion lies"):
 * - centred: the click near the lesion's middle (jitter within half its radius), as in the paper;
 * - off-centre: the lesion's centre up to half the VOI's extent from the VOI's centre, per axis;
 * - two-lesions: off-centre, and a second (smaller) lesion in the crop; the label is the class of
 *   the lesion nearest the VOI's centre, the mask holds both;
 * - cut: the lesion's centre just inside the VOI's lateral or sweep face, so the face cuts it;
 * - overhang: the lesion near the crop's lateral or sweep edge and the VOI centred on it, so the
 *   VOI reaches past the volume and is padded as inference pads it.
 */
export type VoiMode = 'centred' | 'off-centre' | 'two-lesions' | 'cut' | 'overhang';
export type VoiMix = Record<VoiMode, number>;

/** Today's sampler until issue #21: every lesion VOI centred on its lesion. */
export const CENTRED_MIX: VoiMix = { centred: 1, 'off-centre': 0, 'two-lesions': 0, cut: 0, overhang: 0 };
/** Lesions anywhere in the VOI: a third still centred (the usual click), the rest spread over the other cases. */
export const ANYWHERE_MIX: VoiMix = { centred: 0.3, 'off-centre': 0.25, 'two-lesions': 0.15, cut: 0.15, overhang: 0.15 };
/** Share of lesion crops whose lesion shows at least SUSPICIOUS_MIN_SIGNS of the four suspicious signs. */
export const SUSPICIOUS_SHARE = 0.5;
/** 3 of 4: every such mass is spiculated or shadows, or both (phantom/lesion.ts suspiciousCount). */
export const SUSPICIOUS_MIN_SIGNS = 3;

export const DEFAULT_SAMPLER = { samplesPerShard: 16, emptyCropFraction: 0.25, copies: 2, mix: ANYWHERE_MIX, suspiciousShare: SUSPICIOUS_SHARE };
const NEGATIVES_PER_EMPTY_CROP = 2;
/** Probability that a lesion crop also gives one negative VOI away from its lesion. */
const NEGATIVE_BESIDE_LESION = 0.5;
/** VOI (64 x 32 x 64 mm) plus room for the centre jitter; 40 mm deep reaches the chest wall. */
const CROP_MM: Vec3 = [72, 40, 72];
/** Off-centre and two-lesion crops: the lesion's centre at most this share of the VOI's half-extent from its centre. */
const OFF_CENTRE_REACH = 1;
/** Cut crops: the lesion's centre this share of its half-extent, at most, inside the VOI's face. */
const CUT_DEPTH = 0.7;
/** Overhang crops: the lesion's centre this share of the VOI's half-extent from the volume's edge. */
const OVERHANG_FROM_EDGE: [number, number] = [0.25, 0.85];

export interface Drawn {
  /** One sample per grid, all of the same VOI. */
  perGrid: Sample[];
  kind: string;
  /** A lesion VOI's mode (the one it got: a crowded crop may not hold its second lesion); '' for a negative. */
  mode: VoiMode | '';
  /** VOI centre minus the labelled lesion's centre (mm, before flips); zeros for a negative. */
  offsetMm: Vec3;
}

/** The same VOI on every grid: each grid's makeSample starts from the same random state. */
function onEveryGrid(inputs: InputContract[], rng: Rng, make: (input: InputContract, r: Rng) => Sample): Sample[] {
  const state = rng.next() * 2 ** 32;
  return inputs.map((input) => make(input, new Rng(state)));
}

/** A mode drawn with the mix's weights; no draw at all when only one mode is in it (the old sampler's stream). */
function pickMode(rng: Rng, mix: VoiMix): VoiMode {
  const modes = (Object.keys(mix) as VoiMode[]).filter((m) => mix[m] > 0);
  if (modes.length === 1) return modes[0];
  let u = rng.next() * modes.reduce((s, m) => s + mix[m], 0);
  for (const m of modes) if ((u -= mix[m]) < 0) return m;
  return modes[modes.length - 1];
}

/**
 * Where the main lesion goes in the crop (lateral, sweep; mm) for a mode; undefined keeps the
 * generator's placement (near the centre). `size` is the crop's extent, `half` the VOI's half-extent
 * and `lesionHalf` the lesion's half-extent, all mm.
 */
function placeMain(mode: VoiMode, rng: Rng, size: Vec3, half: Vec3, lesionHalf: Vec3): [number, number] | undefined {
  const c = size.map((s) => s / 2);
  if (mode === 'off-centre' || mode === 'two-lesions') return [c[0] + rng.uniform(-1, 1) * OFF_CENTRE_REACH * half[0], c[2] + rng.uniform(-1, 1) * OFF_CENTRE_REACH * half[2]];
  if (mode === 'cut' || mode === 'overhang') {
    const [a, b] = rng.next() < 0.5 ? [0, 2] : [2, 0];
    const side = rng.next() < 0.5 ? -1 : 1;
    const at: number[] = [0, 0, 0];
    if (mode === 'cut') {
      at[a] = c[a] + side * (half[a] - rng.uniform(0, CUT_DEPTH) * lesionHalf[a]);
      at[b] = c[b] + rng.uniform(-0.5, 0.5) * half[b];
    } else {
      const fromEdge = rng.uniform(...OVERHANG_FROM_EDGE) * half[a];
      at[a] = side < 0 ? fromEdge : size[a] - fromEdge;
      at[b] = c[b] + rng.uniform(-4, 4);
    }
    return [at[0], at[2]];
  }
  return undefined;
}

export function* phantomVois(o: SamplerOptions, randomize: boolean): Generator<Drawn> {
  const rng = new Rng(hashSeed('sampler', o.seed, o.worker));
  const contactShare = o.contactShare ?? 0;
  // Every grid sees the same VOI, so the largest VOI decides where it may go.
  const half = [0, 1, 2].map((a) => Math.max(...o.inputs.map((i) => i.voiMm[a])) / 2) as Vec3;
  for (let n = 0; ; n++) {
    const seed = hashSeed('sampler-crop', o.seed, o.worker, n);
    const empty = rng.next() < o.emptyCropFraction;
    // Source voxels vary too (a scanner's sampling), log-uniform around the default crop's.
    const spacing: Vec3 = randomize
      ? [Math.exp(rng.uniform(Math.log(0.28), Math.log(0.5))), Math.exp(rng.uniform(Math.log(0.12), Math.log(0.25))), rng.uniform(0.4, 0.6)]
      : [0.4, 0.2, 0.5];
    // The old mix with no suspicious share draws nothing here: it writes the bytes it always did.
    const mode = empty ? 'centred' : pickMode(rng, o.mix);
    const suspicious = !empty && o.suspiciousShare > 0 && rng.next() < o.suspiciousShare;
    // No draw when the share is 0: the sampler writes the bytes it did before the option.
    const contactShadow = contactShare > 0 && rng.next() < contactShare;
    const options: PhantomOptions = { seed, sizeMm: CROP_MM, spacing, randomize, lesionCount: empty ? 0 : mode === 'two-lesions' ? 2 : 1, mainMinSuspicious: suspicious ? SUSPICIOUS_MIN_SIGNS : undefined, contactShadow };
    let mainLesionMm: [number, number] | undefined;
    if (mode !== 'centred') {
      // The plan (no pixels) gives the crop's extent and the lesion's, which the placement needs.
      const plan = planPhantom(options);
      const size = plan.geometry.dims.map((d, a) => (d - 1) * spacing[a]) as Vec3;
      mainLesionMm = placeMain(mode, rng, size, half, plan.lesions[0].extentMm.map((e) => e / 2) as Vec3);
    }
    const phantom = generatePhantom({ ...options, mainLesionMm });
    const lesion = phantom.lesions[0];
    if (lesion) {
      const got: VoiMode = mode === 'two-lesions' && phantom.lesions.length < 2 ? 'off-centre' : mode;
      const { dims, spacing: s } = phantom.volume;
      const size = dims.map((d, a) => (d - 1) * s[a]) as Vec3;
      for (let c = 0; c < o.copies; c++) {
        const make = (input: InputContract, r: Rng): Sample => {
          if (mode === 'centred' || mode === 'overhang') {
            const target: LesionSample = { center: lesion.centerIndex, malignant: lesion.malignant, volumeMl: lesion.volume_ml };
            return makeSample(phantom, target, input, o.augmentation, r);
          }
          // The VOI stays inside the crop laterally and along the sweep (the lesion's place makes
          // the offset; a cut VOI keeps its face where placeMain put it). In depth it is drawn
          // around the lesion, but a click lands in tissue: it reaches above the skin or below
          // the crop by at most a quarter of the VOI, or as far as a click on the lesion would.
          const room = size.map((e, a) => (mode === 'cut' ? 0 : Math.max(0, e / 2 - half[a] - 0.5)));
          const y = lesion.centerMm[1];
          const depth = Math.min(Math.max(y + r.uniform(-1, 1) * half[1], Math.min(y, half[1] / 2)), Math.max(y, size[1] - half[1] / 2));
          const mm: Vec3 = [size[0] / 2 + r.uniform(-1, 1) * room[0], depth, size[2] / 2 + r.uniform(-1, 1) * room[2]];
          // Which lesion the click is about: the one nearest the VOI's centre.
          return sampleAt(phantom, mm.map((v, a) => v / s[a]) as Vec3, { lesion: true, malignant: nearestLesion(phantom.lesions, mm).malignant }, input, o.augmentation, r);
        };
        const perGrid = onEveryGrid(o.inputs, rng, make);
        const mm = perGrid[0].center.map((v, a) => v * s[a]) as Vec3;
        yield { perGrid, kind: 'lesion', mode: got, offsetMm: mm.map((v, a) => v - nearestLesion(phantom.lesions, mm).centerMm[a]) as Vec3 };
      }
    }
    const negatives = empty ? NEGATIVES_PER_EMPTY_CROP : rng.next() < NEGATIVE_BESIDE_LESION ? 1 : 0;
    for (const site of normalTissueSites(phantom, negatives, seed)) {
      const target: LesionSample = { center: site.index, malignant: false, volumeMl: 0 };
      yield { perGrid: onEveryGrid(o.inputs, rng, (input, r) => makeSample(phantom, target, input, o.augmentation, r, true)), kind: site.kind, mode: '', offsetMm: [0, 0, 0] };
    }
  }
}

function nearestLesion(lesions: LesionInfo[], mm: Vec3): LesionInfo {
  const dist = (l: LesionInfo) => Math.hypot(l.centerMm[0] - mm[0], l.centerMm[1] - mm[1], l.centerMm[2] - mm[2]);
  return lesions.reduce((best, l) => (dist(l) < dist(best) ? l : best));
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
      for (let k = 0; k < o.copies; k++) {
        const perGrid = onEveryGrid(o.inputs, rng, (input, r) => makeSample(c, target, input, o.augmentation, r));
        yield { perGrid, kind: 'lesion', mode: 'centred', offsetMm: perGrid[0].center.map((v, a) => (v - target.center[a]) * c.volume.spacing[a]) as Vec3 };
      }
    }
    const point = rng.next() < NEGATIVE_BESIDE_LESION ? randomNormalPoint(c, rng) : undefined;
    if (point) {
      const target: LesionSample = { center: point, malignant: false, volumeMl: 0 };
      yield { perGrid: onEveryGrid(o.inputs, rng, (input, r) => makeSample(c, target, input, o.augmentation, r, true)), kind: 'normal', mode: '', offsetMm: [0, 0, 0] };
    }
  }
}

function describe(source: SamplerSource): string {
  return source.kind === 'phantom' ? `phantom${source.randomize ? ' (randomised)' : ''}` : `dataset ${path.basename(path.resolve(source.dir))}`;
}

/** Writes shards until `count` samples are out (or forever); returns how many it wrote. */
export function runSampler(o: SamplerOptions, onShard?: (name: string, samples: number) => void): number {
  const crops = o.source.kind === 'phantom' ? phantomVois(o, o.source.randomize) : datasetCrops(o, o.source);
  let written = 0;
  for (let shard = 0; o.count === undefined || written < o.count; shard++) {
    const size = o.count === undefined ? o.samplesPerShard : Math.min(o.samplesPerShard, o.count - written);
    const drawn: Drawn[] = [];
    while (drawn.length < size) drawn.push(crops.next().value as Drawn);
    const name = `w${o.worker}-${String(shard).padStart(6, '0')}`;
    writeShard(o.outDir, name, o.inputs, o.inputs.map((_, g) => drawn.map((d) => d.perGrid[g])), drawn.map((d) => d.kind), describe(o.source), drawn.map((d) => d.mode));
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
