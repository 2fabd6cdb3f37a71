/**
 * The front door: load() gives the same Engine in this thread and in a worker, checks its
 * options once, and a click plans its VOI once and reads only that block, on either side.
 * The worker here is the real worker script, run in this process behind a stand-in Worker.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { variantConfig } from './engine/config';
import { initWeights } from './engine/network';
import { foldBatchNorm, LoadedModel, serializeModel } from './engine/weights';
import { writeModelFolder } from './engine/weights-node';
import { load } from './load';
import * as voi from './pipeline/voi';
import { IDENTITY_DIRECTION, Vec3 } from './volume';
import type { WorkerLike } from './worker/engine-client';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-load-'));
let server: http.Server;
let baseUrl = '';

function tinyModel(): LoadedModel {
  const architecture = variantConfig('cmsvnetiter', { baseWidth: 2, encoderConvs: [1, 1, 1, 1, 1], decoderConvs: [1, 1, 1, 1], clsHidden: 4 });
  const raw = initWeights(architecture, 5);
  const weights = foldBatchNorm(architecture, raw);
  tf.dispose(Object.values(raw));
  const card = { name: 'tiny', version: '0', architecture, input: { grid: [16, 16, 16] as Vec3, voxelMm: 2, voiMm: [32, 32, 32] as Vec3, normalization: 'zscore-voi' as const }, decisionThreshold: 0.5, training: {}, metrics: {} };
  return { card: { ...card, notice: '', folded: true, shards: [] }, weights };
}

/** A volume whose reads are counted, with the blocks they asked for. */
function countedVolume() {
  const dims: Vec3 = [50, 40, 30];
  const source = voi.arraySource({ dims, spacing: [0.8, 0.4, 1], origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data: new Uint8Array(50 * 40 * 30).map((_, i) => i % 199) });
  const reads: string[] = [];
  return { reads, source: { ...source, readBlock: (a: Vec3, b: Vec3) => (reads.push(`${a}..${b}`), source.readBlock(a, b)) } };
}

/**
 * The worker script (worker.ts) in this process, sharing this test's modules (so a spy sees its
 * calls too): a stand-in Worker and the script's `self` exchange messages asynchronously.
 */
const scope = { onmessage: null as ((e: { data: unknown }) => void) | null, postMessage: (m: unknown) => setImmediate(() => current?.onmessage?.({ data: m } as MessageEvent)) };
let current: WorkerLike | undefined;
function inProcessWorker(): WorkerLike {
  if (!scope.onmessage) {
    (globalThis as { self?: unknown }).self = scope;
    require('./worker/worker');
    delete (globalThis as { self?: unknown }).self;
  }
  current = { onmessage: null, onerror: null, postMessage: (m) => setImmediate(() => scope.onmessage?.({ data: m })), terminate: () => undefined };
  return current;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  await writeModelFolder(tmp, await serializeModel(tinyModel().weights, tinyModel().card));
  server = http.createServer((req, res) => {
    const file = path.join(tmp, path.basename(req.url ?? ''));
    if (fs.existsSync(file)) res.end(fs.readFileSync(file));
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
});

afterAll(() => {
  server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

afterEach(() => jest.restoreAllMocks());

test('options are checked once, with a clear message', async () => {
  await expect(load({ weights: tmp, backend: 'gpu' as never })).rejects.toThrow(/Unknown backend 'gpu'; use auto or one of webgpu, webgl, wasm, cpu/);
  await expect(load({ weights: '' })).rejects.toThrow(/load\(\) needs the model/);
  await expect(load({ weights: tinyModel(), worker: inProcessWorker() })).rejects.toThrow(/give weights as a string/);
  await expect(load({ weights: 'https://example.org/model/', worker: inProcessWorker(), tilings: {} })).rejects.toThrow(/tilings are for an engine in this thread/);
});

/** One analysis' progress, then each re-centring's (lesion-centre.ts). */
// The click's analysis, or its first pass (a look that moved) and the analysis at the lesion's centre; then at most two re-centrings.
const ANALYSIS_STAGES = /^reading VOI,iteration,(iteration,post-processing|post-processing,re-centring,reading VOI,iteration,iteration,post-processing(,reading VOI,iteration,iteration,post-processing)?)(,re-centring,reading VOI,iteration,iteration,post-processing){0,2}$/;

/** Reads of one analysed VOI: its 16 grid planes, SLAB_PLANES at a time (fewer where some lie past the volume's edge). */
const SLABS_PER_VOI = 16 / voi.SLAB_PLANES;

test('in this thread: each analysed VOI read slab by slab, no more', async () => {
  const engine = await load({ weights: tmp, backend: 'cpu', warmUp: false });
  const { source, reads } = countedVolume();
  const result = await engine.analyze(source, [25, 20, 15], { centerSpace: 'voxel' });
  expect(result.analyses).toBeGreaterThanOrEqual(1);
  expect(reads.length).toBeGreaterThanOrEqual(result.analyses);
  expect(reads.length).toBeLessThanOrEqual(result.analyses * SLABS_PER_VOI);
  expect(result.backend).toBe('cpu');
  engine.dispose();
});

test('in a worker: the page plans each VOI, reads it slab by slab and sends its grid; the same result as in this thread', async () => {
  const local = await load({ weights: tmp, backend: 'cpu', warmUp: false });
  const expected = await local.analyze(countedVolume().source, [25, 20, 15], { centerSpace: 'voxel' });
  local.dispose();

  const engine = await load({ weights: baseUrl, backend: 'cpu', worker: inProcessWorker() });
  expect(engine.card.name).toBe('tiny');
  expect(engine.backend?.backend).toBe('cpu');
  const { source, reads } = countedVolume();
  const stages: string[] = [];
  const result = await engine.analyze(source, [25, 20, 15], { centerSpace: 'voxel', onProgress: (p) => stages.push(p.stage) });
  expect(result.analyses).toBe(expected.analyses);
  expect(result.centerIndex).toEqual(expected.centerIndex);
  expect(reads.length).toBeGreaterThanOrEqual(result.analyses);
  expect(reads.length).toBeLessThanOrEqual(result.analyses * SLABS_PER_VOI);
  expect(stages.join(',')).toMatch(ANALYSIS_STAGES);
  expect(result.probability).toBeCloseTo(expected.probability as number, 6);
  expect(result.lesion.voxelCount).toBe(expected.lesion.voxelCount);
  expect(await engine.warmUp()).toBeGreaterThan(0);
  engine.dispose();
});

test('a scan in a worker: each window\'s grid crosses, the same candidates as in this thread; cancellable', async () => {
  const params = { windowGrid: [16, 16, 16] as Vec3, strideMm: [24, 24, 24] as Vec3, threshold: 0.3, minMl: 0, maxCandidates: 2 };
  const local = await load({ weights: tmp, backend: 'cpu', warmUp: false });
  const expected = await local.scan(countedVolume().source, { params });
  local.dispose();

  const engine = await load({ weights: baseUrl, backend: 'cpu', worker: inProcessWorker() });
  const { source, reads } = countedVolume();
  const stages: string[] = [];
  const result = await engine.scan(source, { params, onProgress: (p) => stages.push(p.stage) });
  expect(result.windows).toBe(expected.windows);
  expect(result.windows).toBeGreaterThan(1);
  // Each window in two slabs of 8 grid planes (16 deep), and each VOI a candidate's analysis
  // looked at (1, or up to 3 re-centred) in up to two more.
  const candidates = stages.filter((s) => s === 'candidate').length;
  expect(reads.length).toBeGreaterThanOrEqual(2 * result.windows + candidates);
  expect(reads.length).toBeLessThanOrEqual(2 * result.windows + 3 * SLABS_PER_VOI * candidates);
  expect(stages.filter((s) => s === 'window')).toHaveLength(result.windows);
  expect(result.coarseCandidates).toBe(expected.coarseCandidates);
  expect(result.candidates.map((c) => [c.rank, c.found, c.centerIndex.map((v) => v.toFixed(3))])).toEqual(expected.candidates.map((c) => [c.rank, c.found, c.centerIndex.map((v) => v.toFixed(3))]));
  result.candidates.forEach((c, n) => expect(c.score).toBeCloseTo(expected.candidates[n].score, 5));

  const controller = new AbortController();
  const cancelled = engine.scan(countedVolume().source, { params, signal: controller.signal, onProgress: (p) => p.step === 2 && controller.abort() });
  await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
  // The worker still answers after a cancelled scan.
  expect((await engine.scan(countedVolume().source, { params })).windows).toBe(expected.windows);
  engine.dispose();
});
