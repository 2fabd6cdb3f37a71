import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, readFileSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { variantConfig } from './config';
import { initWeights } from './network';
import { DEFAULT_INPUT, foldBatchNorm, folderReader, loadModel, RESEARCH_USE_NOTICE, serializeModel } from './weights';
import { writeModelFolder } from './weights-node';

const config = variantConfig('cmsvnetiter', { baseWidth: 4, encoderConvs: [1, 1, 1, 1, 1], decoderConvs: [1, 1, 1, 1], clsHidden: 8 });
const cardBase = {
  name: 'test', version: '0.0.0', architecture: config, input: DEFAULT_INPUT, decisionThreshold: 0.5,
  training: { data: 'random initialisation, untrained' }, metrics: {},
};

async function savedFolder(): Promise<{ dir: string; weights: Record<string, tf.Tensor> }> {
  const weights = foldBatchNorm(config, initWeights(config, 4));
  const dir = mkdtempSync(join(tmpdir(), 'abus-weights-'));
  await writeModelFolder(dir, await serializeModel(weights, cardBase));
  return { dir, weights };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

test('save and load round trip is bit-exact, with a model card that checks every shard', async () => {
  const { dir, weights } = await savedFolder();
  const loaded = await loadModel(folderReader(dir));
  expect(Object.keys(loaded.weights).sort()).toEqual(Object.keys(weights).sort());
  for (const [name, t] of Object.entries(weights)) {
    expect(Buffer.from((await loaded.weights[name].data() as Float32Array).buffer)).toEqual(Buffer.from((await t.data() as Float32Array).buffer));
  }
  expect(loaded.card.notice).toBe(RESEARCH_USE_NOTICE);
  expect(loaded.card.folded).toBe(true);
  expect(loaded.card.shards[0].sha256).toMatch(/^[0-9a-f]{64}$/);
  // The manifest is tf.io's standard weights manifest.
  const manifest = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  expect(manifest.weightsManifest[0].paths).toEqual(loaded.card.shards.map((s) => s.path));
});

test('a corrupt shard is refused before use', async () => {
  const { dir } = await savedFolder();
  const shard = join(dir, 'group1-shard1of1.bin');
  const bytes = readFileSync(shard);
  bytes[100] ^= 0xff;
  writeFileSync(shard, bytes);
  await expect(loadModel(folderReader(dir))).rejects.toThrow(/group1-shard1of1.bin is corrupt: SHA-256/);
});

test('a missing folder or file gives a readable error', async () => {
  await expect(loadModel(folderReader('/nonexistent/weights'))).rejects.toThrow(/Weights file not found: .*model-card.json/);
});

test('weights that do not match the architecture are refused', async () => {
  const { dir } = await savedFolder();
  const card = JSON.parse(readFileSync(join(dir, 'model-card.json'), 'utf8'));
  card.architecture.baseWidth = 8;
  writeFileSync(join(dir, 'model-card.json'), JSON.stringify(card));
  await expect(loadModel(folderReader(dir))).rejects.toThrow(/do not match the cmsvnetiter architecture: 'stage1\/conv0\/kernel' is 3x3x3x1x4, expected 3x3x3x1x8/);
});

test('an HTTP 404 names the URL and status', async () => {
  const { urlReader } = await import('./weights');
  const fake = (async () => new Response('nope', { status: 404 })) as typeof fetch;
  await expect(loadModel(urlReader('http://127.0.0.1:9/models/abus', fake))).rejects.toThrow('Weights file http://127.0.0.1:9/models/abus/model-card.json could not be loaded: HTTP 404');
});
