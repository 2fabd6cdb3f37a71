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
import { bundleBrowser } from '@abus-tumor-ai/release';
import { serveViewer } from '@abus-tumor-ai/viewer';
import { arraySource, IDENTITY_DIRECTION, load, Vec3, Volume } from '@abus-tumor-ai/engine';
import { tryBackend } from '@abus-tumor-ai/engine/lab';
import { writeUntrainedModel } from '../fixtures/untrained-model';
import { launchChromium } from './chromium';
import { prerequisites } from '../prerequisites';

const { it: maybe, beforeAll: setUp } = prerequisites(['chromium'], 'browser engine tests');

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

setUp(async () => {
  await bundleBrowser(root);
  // An untrained net that marks voxels (positive segmentation bias), so the mask path runs.
  await writeUntrainedModel(join(root, 'weights'), { architecture: { encoderConvs: [1, 1, 1, 1, 1], decoderConvs: [1, 1, 1, 1], clsHidden: 8 }, seed: 21, segBias: 2 });
  const vol = volume();
  writeFileSync(join(root, 'volume.bin'), vol.data);
  writeFileSync(join(root, 'volume.json'), JSON.stringify({ ...vol, data: undefined }));
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>engine test</title>');

  await tryBackend('wasm');
  const analyzer = await load({ weights: join(root, 'weights'), backend: 'wasm', warmUp: false });
  const result = await analyzer.analyze(arraySource(vol), CENTER, { centerSpace: 'voxel' });
  analyzer.dispose();
  reference = { probability: result.probability as number, voxels: result.lesion.voxelCount };

  server = await serveViewer(root);
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
      const stages: string[] = [];
      const worker = await engine.load({ worker: new Worker('/abus-worker.js'), weights: `${location.origin}/weights/`, backend, wasmPath });
      const initMs = performance.now() - t0;
      const t1 = performance.now();
      const r = await worker.analyze(source, center, { centerSpace: 'voxel', onProgress: (p: { stage: string }) => stages.push(p.stage) });
      const firstMs = performance.now() - t1;
      const t2 = performance.now();
      await worker.analyze(source, center, { centerSpace: 'voxel' });
      const secondMs = performance.now() - t2;
      worker.dispose();
      return { probability: r.probability, voxels: r.lesion.voxelCount, backend: r.backend, reason: r.backendReason, stages, ms: performance.now() - t0, initMs, firstMs, secondMs };
    }
    const analyzer = await engine.load({ weights: `${location.origin}/weights/`, backend, wasmPath, warmUp: false });
    const r = await analyzer.analyze(source, center, { centerSpace: 'voxel' });
    analyzer.dispose();
    return { probability: r.probability, voxels: r.lesion.voxelCount, backend: r.backend, reason: r.backendReason, stages: [], ms: performance.now() - t0, initMs: 0, firstMs: 0, secondMs: 0 };
  }, { where, backend, center: CENTER });
}

/**
 * In a worker on webgpu: analyses once, loses the GPU device while a second analysis runs, waits
 * for the worker's backend change, then analyses again. The worker is loaded through a test
 * wrapper (the product has no test hook): it keeps the GPU device the engine asks for, destroys
 * it on a 'test-lose-device' message, as a driver reset would lose it, and with
 * `refuseNewAdapters` makes requestAdapter() return null from then on, as when a browser gives up
 * on its GPU, so the fallback path runs.
 */
async function loseDeviceInWorker(refuseNewAdapters: boolean) {
  return page.evaluate(async ({ center, refuseNewAdapters }) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const engine = (window as any).abusEngine;
    const meta = await (await fetch('/volume.json')).json();
    const data = new Uint8Array(await (await fetch('/volume.bin')).arrayBuffer());
    const source = engine.arraySource({ ...meta, data });
    const wrapper = `
      let refuse = false;
      let device;
      const requestDevice = GPUAdapter.prototype.requestDevice;
      GPUAdapter.prototype.requestDevice = async function (...args) { device = await requestDevice.apply(this, args); return device; };
      self.addEventListener('message', (e) => {
        if (!e.data || e.data.type !== 'test-lose-device') return;
        e.stopImmediatePropagation();
        refuse = ${refuseNewAdapters};
        self.postMessage({ type: 'test-device-destroyed', destroyed: Boolean(device) });
        device?.destroy();
      });
      const gpu = self.navigator.gpu;
      const real = gpu.requestAdapter.bind(gpu);
      gpu.requestAdapter = (options) => (refuse ? Promise.resolve(null) : real(options));
      importScripts('${location.origin}/abus-worker.js');`;
    const raw = new Worker(URL.createObjectURL(new Blob([wrapper], { type: 'text/javascript' })));
    const destroyedReply = new Promise<boolean>((resolve) => raw.addEventListener('message', (e) => e.data?.type === 'test-device-destroyed' && resolve(e.data.destroyed)));
    const changes: unknown[] = [];
    let changed!: () => void;
    const backendChanged = new Promise<void>((resolve) => (changed = resolve));
    const summary = (r: { probability: number; lesion: { voxelCount: number }; backend: string; backendReason: string }) =>
      ({ probability: r.probability, voxels: r.lesion.voxelCount, backend: r.backend, reason: r.backendReason });
    let worker: any; // eslint-disable-line @typescript-eslint/no-explicit-any
    try {
      worker = await engine.load({ worker: raw, weights: `${location.origin}/weights/`, backend: 'webgpu', wasmPath: `${location.origin}/` });
      worker.onBackendChange = (change: unknown) => {
        changes.push(change);
        changed();
      };
      const tFirst = performance.now();
      const first = summary(await worker.analyze(source, center, { centerSpace: 'voxel' }));
      const firstMs = performance.now() - tFirst;
      let destroyed: Promise<boolean> | undefined;
      let lostAt = 0;
      let inFlightError = 'no error';
      try {
        await worker.analyze(source, center, {
          centerSpace: 'voxel',
          onProgress: (p: { stage: string; step?: number }) => {
            if (p.stage !== 'iteration' || p.step !== 1) return;
            lostAt = performance.now();
            raw.postMessage({ type: 'test-lose-device' });
            destroyed = destroyedReply;
          },
        });
      } catch (err) {
        inFlightError = (err as Error).message;
      }
      const failedMs = performance.now() - lostAt;
      await backendChanged;
      const restartMs = performance.now() - lostAt;
      const tAfter = performance.now();
      const after = summary(await worker.analyze(source, center, { centerSpace: 'voxel' }));
      return { firstMs, first, after, afterMs: performance.now() - tAfter, destroyed: await destroyed, inFlightError, failedMs, restartMs, changes, backend: worker.backend };
    } finally {
      raw.terminate();
    }
  }, { center: CENTER, refuseNewAdapters });
}

describe('engine in headless Chromium', () => {
  maybe('in a Web Worker on WebGPU (SwiftShader), with progress, equal to Node', async () => {
    const r = await analyzeInBrowser('worker', 'webgpu');
    console.log(`browser worker webgpu: init (with kernel warm-up) ${r.initMs.toFixed(0)} ms, first analysis ${r.firstMs.toFixed(0)} ms, second ${r.secondMs.toFixed(0)} ms; ${r.reason}`);
    expect(r.backend).toBe('webgpu');
    // The kernels are compiled during init, so the first click is not much slower than the next.
    expect(r.firstMs).toBeLessThan(2 * r.secondMs);
    // The click's analysis, or its first pass (a look that moved) and the analysis at the lesion's centre; then each re-centring's (lesion-centre.ts).
    expect(r.stages.join(',')).toMatch(/^reading VOI,iteration,(iteration,post-processing|post-processing,re-centring,reading VOI,iteration,iteration,post-processing(,reading VOI,iteration,iteration,post-processing)?)(,re-centring,reading VOI,iteration,iteration,post-processing){0,2}$/);
    expect(Math.abs(r.probability - reference.probability)).toBeLessThan(1e-4);
    expect(Math.abs(r.voxels - reference.voxels) / reference.voxels).toBeLessThan(0.005);
  });

  maybe('a lost GPU device fails the analysis in flight, the worker restarts on a new WebGPU device, and the next result is the same', async () => {
    const r = await loseDeviceInWorker(false);
    console.log(`GPU loss, recovered: in-flight analysis failed ${r.failedMs.toFixed(0)} ms and the worker restarted ${r.restartMs.toFixed(0)} ms after the loss; next analysis ${r.afterMs.toFixed(0)} ms, first ${r.firstMs.toFixed(0)} ms\n${JSON.stringify(r.changes)}\n${r.inFlightError}`);
    expect(r.destroyed).toBe(true);
    expect(r.first.backend).toBe('webgpu');
    expect(r.inFlightError).toMatch(/^The GPU was lost \(destroyed: .*\); this analysis was stopped/);
    expect(r.changes).toEqual([expect.objectContaining({ backend: 'webgpu', lost: expect.stringMatching(/^destroyed/), message: expect.stringMatching(/^The GPU was lost \(destroyed.*restarted on a new WebGPU device/) })]);
    expect(r.backend).toEqual({ backend: 'webgpu', reason: expect.stringMatching(/^webgpu, on a new GPU device after the GPU was lost \(destroyed/) });
    expect(r.after.backend).toBe('webgpu');
    expect(r.after.reason).toBe(r.backend?.reason);
    expect(Math.abs(r.after.probability - r.first.probability)).toBeLessThan(1e-4);
    expect(r.after.voxels).toBe(r.first.voxels);
  });

  maybe('a lost GPU device with no new adapter falls back along the backend order, and the next result is the same', async () => {
    const r = await loseDeviceInWorker(true);
    console.log(`GPU loss, fallback: in-flight analysis failed ${r.failedMs.toFixed(0)} ms and the worker restarted ${r.restartMs.toFixed(0)} ms after the loss; next analysis ${r.afterMs.toFixed(0)} ms, first ${r.firstMs.toFixed(0)} ms\n${JSON.stringify(r.changes)}`);
    expect(r.destroyed).toBe(true);
    expect(r.inFlightError).toMatch(/^The GPU was lost \(destroyed: .*\); this analysis was stopped/);
    expect(r.changes).toHaveLength(1);
    const change = r.changes[0] as { backend: string; reason: string; message: string };
    // The worker's WebGL here is SwiftShader's, skipped as slower than wasm (it says so).
    expect(change.backend).toBe('wasm');
    expect(change.reason).toMatch(/webgl: (only a software WebGL renderer \(.*SwiftShader.*\)|no canvas in this runtime)/i);
    expect(change.reason).toMatch(/because the GPU was lost \(destroyed.*webgpu: navigator.gpu.requestAdapter\(\) returned no adapter/);
    expect(change.message).toMatch(new RegExp(`^The GPU was lost \\(destroyed.*now running on ${change.backend} `));
    expect(r.after.backend).toBe(change.backend);
    expect(Math.abs(r.after.probability - r.first.probability)).toBeLessThan(1e-4);
    expect(r.after.voxels).toBe(r.first.voxels);
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

  maybe('Find lesions in a Web Worker on wasm: progress per window, the candidates Node finds, no main-thread task of 200 ms or more', async () => {
    // A wider volume than the click tests' (128 x 30 x 100 mm), so the scan has several windows.
    const wide = (): Volume => {
      const dims: Vec3 = [160, 60, 100];
      const data = new Uint8Array(dims[0] * dims[1] * dims[2]).map((_, v) => 60 + ((v * 2654435761) >>> 24) % 120);
      return { dims, spacing: [0.8, 0.5, 1.0], origin: [0, 0, 0], direction: IDENTITY_DIRECTION, data };
    };
    writeFileSync(join(root, 'wide.bin'), wide().data);
    writeFileSync(join(root, 'wide.json'), JSON.stringify({ ...wide(), data: undefined }));
    const params = { windowGrid: [32, 16, 32] as Vec3, strideMm: [32, 16, 32] as Vec3, maxCandidates: 2 };
    const node = await load({ weights: join(root, 'weights'), backend: 'wasm', warmUp: false });
    const expected = await node.scan(arraySource(wide()), { params });
    node.dispose();
    const r = await page.evaluate(async ({ params }) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const engine = (window as any).abusEngine;
      // A heartbeat of timer tasks: the largest gap between two beats is the longest task that ran
      // on the page meanwhile (headless Chromium reports no 'longtask' entries).
      const gaps: number[] = [];
      let last = performance.now();
      let beating = true;
      const beat = () => {
        const t = performance.now();
        gaps.push(t - last);
        last = t;
        if (beating) setTimeout(beat, 0);
      };
      setTimeout(beat, 0);
      // A deliberate 120 ms task first: the heartbeat must see it.
      await new Promise((resolve) => setTimeout(resolve, 20));
      const busy = performance.now();
      while (performance.now() - busy < 120);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const busyGap = Math.max(...gaps);
      gaps.length = 0;
      const meta = await (await fetch('/wide.json')).json();
      const data = new Uint8Array(await (await fetch('/wide.bin')).arrayBuffer());
      const source = engine.arraySource({ ...meta, data });
      const worker = await engine.load({ worker: new Worker('/abus-worker.js'), weights: `${location.origin}/weights/`, backend: 'wasm', wasmPath: `${location.origin}/` });
      const stages: string[] = [];
      const t0 = performance.now();
      const result = await worker.scan(source, { params, onProgress: (p: { stage: string; step: number; of: number }) => stages.push(`${p.stage} ${p.step}/${p.of}`) });
      const ms = performance.now() - t0;
      worker.dispose();
      await new Promise((resolve) => setTimeout(resolve, 20));
      beating = false;
      const longest = Math.max(...gaps);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const candidates: { rank: number; found: boolean; center: number[] }[] = result.candidates.map((c: any) => ({ rank: c.rank, found: c.found, center: c.centerIndex }));
      return { ms, stages, busyGap, longest, windows: result.windows as number, candidates };
    }, { params });
    console.log(`browser worker scan (wasm): ${r.ms.toFixed(0)} ms, ${r.windows} windows, longest main-thread task ${r.longest.toFixed(0)} ms (a deliberate 120 ms task measured ${r.busyGap.toFixed(0)} ms)`);
    expect(r.windows).toBe(expected.windows);
    expect(r.windows).toBeGreaterThan(1);
    expect(r.stages.slice(0, r.windows)).toEqual(Array.from({ length: r.windows }, (_, i) => `window ${i + 1}/${r.windows}`));
    expect(r.candidates.map((c) => [c.rank, c.found])).toEqual(expected.candidates.map((c) => [c.rank, c.found]));
    r.candidates.forEach((c, n) => c.center.forEach((v, a) => expect(v).toBeCloseTo(expected.candidates[n].centerIndex[a], 3)));
    // The heartbeat saw the deliberate task; nothing during loading and scanning reached 200 ms.
    expect(r.busyGap).toBeGreaterThanOrEqual(115);
    expect(r.longest).toBeLessThan(200);
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
      const raw = new Worker('/abus-worker.js');
      try {
        await engine.load({ worker: raw, weights: `${location.origin}/no-such-weights/`, backend: 'wasm', wasmPath: `${location.origin}/` });
        return 'no error';
      } catch (err) {
        return (err as Error).message;
      } finally {
        raw.terminate();
      }
    });
    expect(message).toMatch(/model-card.json could not be loaded: HTTP 404/);
  });
});
