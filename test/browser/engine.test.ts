/**
 * The engine in real headless Chromium: the same analysis in a Web Worker (webgpu on SwiftShader,
 * and wasm) and in the page (wasm) gives Node's probability and mask. Only the VOI block is sent
 * to the worker.
 */
import * as fs from 'fs';
import { mkdtempSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import type { Browser, Page } from 'playwright-core';
import { bundleBrowser } from '../../models/src/browser/bundle';
import { tryBackend } from '../../models/src/engine/backend';
import { loadModel } from '../../models/src/engine/weights';
import { folderReader } from '../../models/src/engine/weights-node';
import { Analyzer } from '../../models/src/pipeline/analyze';
import { arraySource } from '../../models/src/pipeline/voi';
import { IDENTITY_DIRECTION, Vec3, Volume } from '../../models/src/volume';
import { writeUntrainedModel } from '../fixtures/untrained-model';
import { chromiumMissing, launchChromium } from './chromium';
import { serveFolder } from './static-server';

const skip = chromiumMissing();
if (skip && process.env.CI === 'true') throw new Error(`CI needs Chromium: ${skip}`);
const maybe = skip ? test.skip : test;
if (skip) console.warn(`SKIP browser engine tests: ${skip}`);

const root = mkdtempSync(join(tmpdir(), 'abus-browser-'));
const CENTER: Vec3 = [40, 30, 20];
let server: { url: string; close: () => Promise<void> };
let browser: Browser;
let page: Page;
let reference: { probability: number; voxels: number };

function volume(): Volume {
  const dims: Vec3 = [80, 60, 40];
  const data = new Uint8Array(dims[0] * dims[1] * dims[2]);
  for (let k = 0; k < dims[2]; k++)
    for (let j = 0; j < dims[1]; j++)
      for (let i = 0; i < dims[0]; i++) {
        const r = Math.hypot((i - 40) * 0.8, (j - 30) * 0.5, (k - 20) * 1.0);
        data[i + dims[0] * (j + dims[1] * k)] = r < 7 ? 30 : 110 + ((i * 7 + j * 13 + k * 17) % 50);
      }
  return { dims, spacing: [0.8, 0.5, 1.0], origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data };
}

beforeAll(async () => {
  if (skip) return;
  await bundleBrowser(root);
  // An untrained net that marks voxels (positive segmentation bias), so the mask path runs.
  await writeUntrainedModel(join(root, 'weights'), { architecture: { encoderConvs: [1, 1, 1, 1, 1], decoderConvs: [1, 1, 1, 1], clsHidden: 8 }, seed: 21, segBias: 2 });
  const vol = volume();
  writeFileSync(join(root, 'volume.bin'), vol.data);
  writeFileSync(join(root, 'volume.json'), JSON.stringify({ ...vol, data: undefined }));
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>engine test</title>');

  await tryBackend('wasm');
  const analyzer = await Analyzer.create(await loadModel(folderReader(join(root, 'weights'))), 'wasm');
  const result = await analyzer.analyze(arraySource(vol), CENTER, { centerSpace: 'voxel' });
  analyzer.dispose();
  reference = { probability: result.probability as number, voxels: result.lesion.voxelCount };

  server = await serveFolder(root);
  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(`${server.url}/index.html`);
  // Loaded by the page itself: a dynamic import() inside page.evaluate would be rewritten by ts-jest.
  await page.addScriptTag({ type: 'module', content: "import * as engine from '/abus-engine.js'; window.abusEngine = engine;" });
  await page.waitForFunction(() => (window as unknown as { abusEngine?: unknown }).abusEngine);
}, 180000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** Runs one analysis in the browser; `where` is 'worker' or 'page'. */
async function analyzeInBrowser(where: 'worker' | 'page', backend: string) {
  return page.evaluate(async ({ where, backend, center }) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const engine = (window as any).abusEngine;
    const meta = await (await fetch('/volume.json')).json();
    const data = new Uint8Array(await (await fetch('/volume.bin')).arrayBuffer());
    const source = engine.arraySource({ ...meta, data });
    const wasmPath = `${location.origin}/`;
    const t0 = performance.now();
    if (where === 'worker') {
      const worker = new engine.EngineWorker(new Worker('/abus-worker.js'));
      const stages: string[] = [];
      await worker.init(`${location.origin}/weights/`, backend, wasmPath);
      const r = await worker.analyze(source, center, { centerSpace: 'voxel', onProgress: (p: { stage: string }) => stages.push(p.stage) });
      worker.terminate();
      return { probability: r.probability, voxels: r.lesion.voxelCount, backend: r.backend, reason: r.backendReason, stages, ms: performance.now() - t0 };
    }
    engine.setWasmPath(wasmPath);
    const model = await engine.loadModel(engine.urlReader(`${location.origin}/weights/`));
    const analyzer = await engine.Analyzer.create(model, backend);
    const r = await analyzer.analyze(source, center, { centerSpace: 'voxel' });
    analyzer.dispose();
    return { probability: r.probability, voxels: r.lesion.voxelCount, backend: r.backend, reason: r.backendReason, stages: [], ms: performance.now() - t0 };
  }, { where, backend, center: CENTER });
}

describe('engine in headless Chromium', () => {
  maybe('in a Web Worker on WebGPU (SwiftShader), with progress, equal to Node', async () => {
    const r = await analyzeInBrowser('worker', 'webgpu');
    console.log(`browser worker webgpu: ${r.ms.toFixed(0)} ms, ${r.reason}`);
    expect(r.backend).toBe('webgpu');
    expect(r.stages).toEqual(['reading VOI', 'iteration', 'iteration', 'post-processing']);
    expect(Math.abs(r.probability - reference.probability)).toBeLessThan(1e-4);
    expect(Math.abs(r.voxels - reference.voxels) / reference.voxels).toBeLessThan(0.005);
  });

  maybe('in a Web Worker on wasm, equal to Node', async () => {
    const r = await analyzeInBrowser('worker', 'wasm');
    console.log(`browser worker wasm: ${r.ms.toFixed(0)} ms`);
    expect(r.backend).toBe('wasm');
    expect(Math.abs(r.probability - reference.probability)).toBeLessThan(1e-5);
    expect(r.voxels).toBe(reference.voxels);
  });

  maybe('in the page on wasm, equal to Node', async () => {
    const r = await analyzeInBrowser('page', 'wasm');
    expect(Math.abs(r.probability - reference.probability)).toBeLessThan(1e-5);
    expect(r.voxels).toBe(reference.voxels);
  });

  maybe('the worker keeps the weight shards in Cache Storage, keyed by their checksum', async () => {
    const card = JSON.parse(fs.readFileSync(join(root, 'weights', 'model-card.json'), 'utf8'));
    const cached = await page.evaluate(async () => {
      const cache = await caches.open('abus-tumor-ai-weights');
      return (await cache.keys()).map((r) => { const u = new URL(r.url); return `${u.pathname}${u.search}`; });
    });
    expect(cached).toEqual([`/weights/group1-shard1of1.bin?sha256=${card.shards[0].sha256}`]);
  });

  maybe('a corrupt weights URL gives a clear error from the worker', async () => {
    const message = await page.evaluate(async () => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const engine = (window as any).abusEngine;
      const worker = new engine.EngineWorker(new Worker('/abus-worker.js'));
      try {
        await worker.init(`${location.origin}/no-such-weights/`, 'wasm', `${location.origin}/`);
        return 'no error';
      } catch (err) {
        return (err as Error).message;
      } finally {
        worker.terminate();
      }
    });
    expect(message).toMatch(/model-card.json could not be loaded: HTTP 404/);
  });
});
