/**
 * Weights in TensorFlow.js's standard format (model.json with a weightsManifest, plus binary
 * shards, readable by tf.io.loadWeights) and a model card that records the architecture, the
 * input contract and a SHA-256 for every shard, checked before any weight is used.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NetworkConfig, validateConfig, withDefaults } from './config';
import { bnScaleShift, checkWeights, isFolded, layerSpecs, Weights } from './network';
import type { LogisticClassifier } from '../pipeline/classifier';
import type { ScanParams } from '../pipeline/scan-params';
import type { FlipAxis } from '../pipeline/flips';
import { nodeBuiltin } from '../io/node-builtin';

export const RESEARCH_USE_NOTICE = 'Research use only, not for clinical diagnosis.';
const SHARD_BYTES = 4 * 1024 * 1024;

export interface InputContract {
  /** Network grid in voxels, [lateral(i), depth(j), sweep(k)]. */
  grid: [number, number, number];
  /** Isotropic voxel size of the network grid, mm. */
  voxelMm: number;
  /** VOI size, mm, [lateral, depth, sweep]; grid * voxelMm. */
  voiMm: [number, number, number];
  normalization: 'zscore-voi';
}

export interface ModelCard {
  name: string;
  version: string;
  notice: string;
  architecture: NetworkConfig;
  /** True when batch norm is folded into the convolutions (inference weights). */
  folded: boolean;
  input: InputContract;
  decisionThreshold: number;
  /** When a click counts as "a lesion here" (from validation; abus-ai calibrate). Absent: any component, any size. */
  detection?: {
    /** The lesion's segment must reach within this distance of the click. */
    clickRadiusMm: number;
    /** A smaller segment is a speck: "no lesion". */
    minLesionMl: number;
  };
  /** How "Find lesions" scans a whole volume (abus-ai calibrate --detect); absent: the engine's DEFAULT_SCAN. */
  scan?: ScanParams;
  /** Find lesions' whole-volume detector, when the model carries one; absent: the scan runs this network's first pass. */
  detector?: DetectorCard;
  /** How a click is analysed; absent: no flipped views. */
  analysis?: {
    /** Flipped views averaged at the lesion's centre (pipeline/flips.ts), where eval --click-robustness measured that they help. */
    flips?: FlipAxis[];
  };
  /** How P(malignant) is computed; absent: the network's own output. */
  classifier?: LogisticClassifier;
  /** Thresholds on P(malignant) taken from validation, for the viewer's verdict words. */
  operatingPoints?: {
    /** Below it, "likely benign": sensitivity for malignancy at least 95% on validation. */
    ruleOut: number;
    /** Above it, "suspicious for malignancy": specificity at least 90% on validation. */
    ruleIn: number;
  };
  training: Record<string, unknown>;
  metrics: Record<string, unknown>;
  shards: { path: string; bytes: number; sha256: string }[];
}

/**
 * A small segmentation network of its own for Find lesions' coarse pass (models/torch trains it
 * on whole-volume crops with lesions anywhere; the click network only ever saw VOIs around one).
 * Its weights sit in the same shards under DETECTOR_PREFIX, so one download and one checksum
 * list cover both. It reads the window on the click network's grid and averages 2 x 2 x 2
 * voxels first: a 1 mm point sample of speckle is noisy, its mean over 2 mm is not.
 */
export interface DetectorCard {
  architecture: NetworkConfig;
  input: {
    /** The detector's voxel, mm: twice readVoxelMm. */
    voxelMm: number;
    /** The grid the window is read on (the click network's voxelMm), mm. */
    readVoxelMm: number;
    normalization: 'zscore-voi';
  };
  training: Record<string, unknown>;
  metrics: Record<string, unknown>;
}

export const DETECTOR_PREFIX = 'detector/';

/** The click network's weights and the detector's (its names without the prefix). */
export function splitDetectorWeights(weights: Weights): { network: Weights; detector: Weights } {
  const network: Weights = {};
  const detector: Weights = {};
  for (const [name, t] of Object.entries(weights)) {
    if (name.startsWith(DETECTOR_PREFIX)) detector[name.slice(DETECTOR_PREFIX.length)] = t;
    else network[name] = t;
  }
  return { network, detector };
}

function validateDetector(card: ModelCard, detector: Weights): void {
  const d = card.detector;
  if (!d) {
    if (Object.keys(detector).length) throw new Error(`Weights hold a detector ('${DETECTOR_PREFIX}...') but model-card.json has no 'detector' entry`);
    return;
  }
  if (!d.architecture || !d.input) throw new Error("model-card.json field 'detector' needs architecture and input");
  d.architecture = withDefaults(d.architecture);
  if (d.architecture.clsStages.length || !d.architecture.segmentation || d.architecture.iterations !== 1) throw new Error("model-card.json field 'detector.architecture' must be a one-pass segmentation network (variant vnet)");
  if (d.input.readVoxelMm !== card.input.voxelMm || d.input.voxelMm !== 2 * d.input.readVoxelMm) {
    throw new Error(`model-card.json field 'detector.input' must read on the network's ${card.input.voxelMm} mm grid and run at twice it, got ${JSON.stringify(d.input)}`);
  }
  if (d.input.normalization !== 'zscore-voi') throw new Error(`model-card.json field 'detector.input.normalization' must be 'zscore-voi', got ${JSON.stringify(d.input.normalization)}`);
  try {
    checkWeights(d.architecture, detector, card.folded);
  } catch (err) {
    throw new Error(`The detector's weights: ${(err as Error).message}`);
  }
}

export interface WeightsManifestFile {
  format: 'abus-tumor-ai/weights';
  generatedBy: string;
  weightsManifest: tf.io.WeightsManifestConfig;
}

export interface SavedModel {
  manifest: WeightsManifestFile;
  card: ModelCard;
  shards: Map<string, Uint8Array>;
}

export interface LoadedModel {
  card: ModelCard;
  weights: Weights;
}

/**
 * Reads one file of a saved model (relative path); throws a readable error when it cannot.
 * For shards, loadModel passes the SHA-256 the model card expects, so a cache can key on content.
 */
export type FileReader = (path: string, expectedSha256?: string) => Promise<Uint8Array>;

export const DEFAULT_INPUT: InputContract = { grid: [128, 64, 128], voxelMm: 0.5, voiMm: [64, 32, 64], normalization: 'zscore-voi' };

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Inference weights: each conv's batch norm becomes a per-channel kernel scale and a bias.
 * The up-convolution's columns are (dz, dy, dx, cout), so its scale repeats eight times.
 */
export function foldBatchNorm(config: NetworkConfig, weights: Weights): Weights {
  return tf.tidy(() => {
    if (isFolded(weights)) throw new Error('These weights are already folded');
    const folded: Weights = {};
    for (const spec of layerSpecs(config)) {
      const kernel = weights[`${spec.name}/kernel`];
      const { scale, shift } = bnScaleShift(weights, spec.name, config.batchNormEpsilon);
      const columnScale = spec.kind === 'up' ? tf.tile(scale, [8]) : scale;
      const columns = columnScale.shape[0];
      folded[`${spec.name}/kernel`] = tf.reshape(tf.mul(tf.reshape(kernel, [-1, columns]), columnScale), kernel.shape);
      folded[`${spec.name}/bias`] = shift;
    }
    for (const name of Object.keys(weights)) if (name.startsWith('seg/') || name.startsWith('cls/')) folded[name] = tf.clone(weights[name]);
    return folded;
  });
}

export async function serializeModel(
  weights: Weights,
  card: Omit<ModelCard, 'shards' | 'folded' | 'notice'>,
): Promise<SavedModel> {
  validateConfig(card.architecture);
  const folded = isFolded(weights);
  const { network, detector } = splitDetectorWeights(weights);
  checkWeights(card.architecture, network, folded);
  validateDetector({ ...card, folded } as ModelCard, detector);
  const names = Object.keys(weights).sort();
  const { data, specs } = await tf.io.encodeWeights(names.map((name) => ({ name, tensor: weights[name] })));
  const bytes = new Uint8Array(tf.io.CompositeArrayBuffer.join(data));
  const count = Math.max(1, Math.ceil(bytes.byteLength / SHARD_BYTES));
  const shards = new Map<string, Uint8Array>();
  const shardInfo: ModelCard['shards'] = [];
  for (let i = 0; i < count; i++) {
    const path = `group1-shard${i + 1}of${count}.bin`;
    const part = bytes.slice(i * SHARD_BYTES, Math.min(bytes.byteLength, (i + 1) * SHARD_BYTES));
    shards.set(path, part);
    shardInfo.push({ path, bytes: part.byteLength, sha256: await sha256Hex(part) });
  }
  return {
    manifest: {
      format: 'abus-tumor-ai/weights',
      generatedBy: 'abus-tumor-ai models',
      weightsManifest: [{ paths: shardInfo.map((s) => s.path), weights: specs }],
    },
    card: { ...card, notice: RESEARCH_USE_NOTICE, folded, shards: shardInfo },
    shards,
  };
}

function parseJson<T>(bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch {
    throw new Error(`${what} is not valid JSON`);
  }
}

/**
 * The card's input contract, checked before any tensor is made from it (a 2-entry grid used to
 * end in tfjs's "Tensor must have a shape comprised of positive integers but got shape [1,,16,32,1]").
 */
export function validateInput(input: InputContract | undefined): void {
  const field = (name: string, expected: string, got: unknown) => new Error(`model-card.json field '${name}' must be ${expected}, got ${JSON.stringify(got)}`);
  if (!input || typeof input !== 'object') throw field('input', 'an object with grid, voxelMm, voiMm and normalization', input);
  const grid = input.grid as unknown;
  if (!Array.isArray(grid) || grid.length !== 3 || grid.some((n) => !(Number.isInteger(n) && n >= 16 && n % 16 === 0))) {
    throw field('input.grid', 'three whole numbers of voxels [lateral, depth, sweep], each a multiple of 16 (the network halves it four times)', grid);
  }
  if (!(typeof input.voxelMm === 'number' && input.voxelMm > 0 && input.voxelMm <= 10)) throw field('input.voxelMm', 'a number of mm above 0 and at most 10', input.voxelMm);
  if (input.normalization !== 'zscore-voi') throw field('input.normalization', "'zscore-voi'", input.normalization);
}

/** Loads model-card.json, model.json and the shards, verifying every shard's SHA-256 first. */
export async function loadModel(read: FileReader, onProgress?: (fraction: number) => void): Promise<LoadedModel> {
  const card = parseJson<ModelCard>(await read('model-card.json'), 'model-card.json');
  const manifest = parseJson<WeightsManifestFile>(await read('model.json'), 'model.json');
  if (!card.architecture || !Array.isArray(card.shards)) throw new Error('model-card.json lacks the architecture or the shard list');
  card.architecture = withDefaults(card.architecture);
  validateInput(card.input);
  const group = manifest.weightsManifest?.[0];
  if (!group) throw new Error('model.json has no weightsManifest');
  const parts: Uint8Array[] = [];
  for (const [i, path] of group.paths.entries()) {
    const expected = card.shards.find((s) => s.path === path);
    if (!expected) throw new Error(`Shard ${path} is not listed in model-card.json`);
    const bytes = await read(path, expected.sha256);
    const actual = await sha256Hex(bytes);
    if (actual !== expected.sha256) throw new Error(`Weights shard ${path} is corrupt: SHA-256 ${actual.slice(0, 12)}… does not match the model card's ${expected.sha256.slice(0, 12)}…`);
    parts.push(bytes);
    onProgress?.((i + 1) / group.paths.length);
  }
  const joined = tf.io.CompositeArrayBuffer.join(parts.map((p) => p.buffer.slice(p.byteOffset, p.byteOffset + p.byteLength) as ArrayBuffer));
  let weights: Weights;
  try {
    weights = tf.io.decodeWeights(joined, group.weights) as Weights;
  } catch (err) {
    throw new Error(`Weights do not decode against model.json: ${(err as Error).message}`);
  }
  try {
    const { network, detector } = splitDetectorWeights(weights);
    checkWeights(card.architecture, network, card.folded);
    validateDetector(card, detector);
  } catch (err) {
    tf.dispose(Object.values(weights));
    throw err;
  }
  return { card, weights };
}

/** A FileReader over a model folder on disk (Node; fs is reached only when called, so browsers can bundle this). */
export function folderReader(dir: string): FileReader {
  return async (file) => {
    const fs = nodeBuiltin<typeof import('fs')>('fs');
    if (!fs) throw new Error(`Cannot read ${dir}: there is no file system here; give the model's URL`);
    const full = `${dir.replace(/\/+$/, '')}/${file}`;
    try {
      return new Uint8Array(await fs.promises.readFile(full));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(code === 'ENOENT' ? `Weights file not found: ${full}` : `Could not read ${full}: ${(err as Error).message}`);
    }
  };
}

/** A FileReader over HTTP(S): fetches paths relative to a base URL. */
export function urlReader(baseUrl: string, fetchFn: typeof fetch = fetch): FileReader {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return async (path) => {
    const url = new URL(path, base).toString();
    let response: Response;
    try {
      response = await fetchFn(url);
    } catch (err) {
      throw new Error(`Could not fetch weights file ${url}: ${(err as Error).message}`);
    }
    if (!response.ok) throw new Error(`Weights file ${url} could not be loaded: HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  };
}

/**
 * A FileReader over HTTP(S) that keeps weight shards in the browser's Cache Storage, keyed by
 * URL and the SHA-256 the model card expects: shards download once, and a new model at the same
 * URL (new checksums) is fetched fresh. The card and manifest are always fetched, and every
 * shard is still checked by loadModel. Outside a browser (no `caches`) it is a plain urlReader.
 */
export function cachedUrlReader(baseUrl: string, cacheName = 'abus-tumor-ai-weights', fetchFn: typeof fetch = fetch): FileReader {
  const plain = urlReader(baseUrl, fetchFn);
  const storage = (globalThis as { caches?: CacheStorage }).caches;
  if (!storage) return plain;
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return async (path, expectedSha256) => {
    if (!expectedSha256) return plain(path);
    const key = `${new URL(path, base).toString()}?sha256=${expectedSha256}`;
    const cache = await storage.open(cacheName);
    const hit = await cache.match(key);
    if (hit) return new Uint8Array(await hit.arrayBuffer());
    const bytes = await plain(path);
    await cache.put(key, new Response(bytes as Uint8Array<ArrayBuffer>));
    return bytes;
  };
}
