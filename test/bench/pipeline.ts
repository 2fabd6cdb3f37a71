/**
 * npm run bench: click-to-result time of the VOI pipeline with the shipped model, per backend,
 * in Node and in headless Chromium (the analysis Web Worker the plugin uses), side by side in one
 * run, split into reading the VOI, resampling, each network pass, post-processing, writing the
 * labelmap and building the SEG + SR; every row's ratio is against Node's cpu backend.
 * Bundled by esbuild because it spans the engine (models/) and the plugin's DICOM export
 * (extension/). Then wasm in Chromium's worker side by side: 1 and 2 threads (tfjs-wasm's threaded
 * build, which needs a cross-origin isolated page: COOP/COEP headers) and without isolation, each
 * with the project's SIMD kernel and with XNNPACK conv2d.
 * Usage: npm run bench -- [--runs 3] [--software-webgpu] [--only-wasm-threads]
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { chromium } from 'playwright-core';
import { AnalysisResult, load, arraySource, BACKEND_ORDER, BackendName, buildMeasurementReport, buildSeg, folderReader, loadModel, SourceSeries, tryBackend } from '@abus-tumor-ai/engine';
import { installNodeWebGPU } from '@abus-tumor-ai/engine/node';
import { generatePhantom, serveViewer } from '@abus-tumor-ai/tools';

const ROOT = process.cwd();
const WEIGHTS = path.join(ROOT, 'models', 'weights', 'cmsvnetiter');
const WEB = path.join(ROOT, 'models', 'tools', 'dist', 'web');
const CHROMIUM = '/usr/bin/chromium';
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const RUNS = Number(arg('runs', '3'));
const SOFTWARE_WEBGPU = process.argv.includes('--software-webgpu');

interface Row {
  where: 'node' | 'chromium';
  backend: string;
  /** ms: first analysis (includes compiling kernels), then medians of the later ones by stage. */
  cold?: number;
  stages?: Record<string, number>;
  skipped?: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function medianStages(results: AnalysisResult[], extra: Record<string, number[]>): Record<string, number> {
  const keys = Object.keys(results[0].timingsMs);
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = median(results.map((r) => r.timingsMs[k] ?? 0));
  for (const [k, xs] of Object.entries(extra)) out[k] = median(xs);
  return out;
}

/** What the plugin does with a result in the viewer: the mask into per-slice label images. */
function writeLabelmap(result: AnalysisResult, dims: number[]): number {
  const t0 = performance.now();
  const { mask, min, max } = result.lesion;
  const slices = new Map<number, Uint8Array>();
  const sx = max[0] - min[0] + 1;
  const sy = max[1] - min[1] + 1;
  for (let k = min[2]; k <= max[2]; k++) {
    const out = new Uint8Array(dims[0] * dims[1]);
    for (let j = 0; j < sy; j++) for (let i = 0; i < sx; i++) if (mask[i + sx * (j + sy * (k - min[2]))]) out[min[0] + i + dims[0] * (min[1] + j)] = 1;
    slices.set(k, out);
  }
  return performance.now() - t0;
}

function exportFiles(result: AnalysisResult, series: SourceSeries): number {
  const t0 = performance.now();
  const seg = buildSeg(series, [{ label: 'Lesion 1', malignant: result.label === 'malignant', mask: result.lesion.mask, min: result.lesion.min, max: result.lesion.max }], { algorithmName: 'bench', algorithmVersion: '0' });
  buildMeasurementReport(series, [{ number: 1, probability: result.probability, verdict: result.verdict, volumeMl: result.size.volumeMl, longestDiameterMm: result.size.longestMm, segment: { sopInstanceUID: seg.sopInstanceUID, seriesInstanceUID: seg.seriesInstanceUID, segmentNumber: 1 } }], { algorithmName: 'bench', algorithmVersion: '0' });
  return performance.now() - t0;
}

function sourceSeries(dims: number[], spacing: number[]): SourceSeries {
  return {
    studyInstanceUID: '2.25.1', seriesInstanceUID: '2.25.2', frameOfReferenceUID: '2.25.3', patientName: 'Bench', patientId: 'BENCH',
    rows: dims[1], columns: dims[0], pixelSpacing: [spacing[1], spacing[0]], imageOrientationPatient: [1, 0, 0, 0, 1, 0], sliceSpacing: spacing[2],
    images: Array.from({ length: dims[2] }, (_, k) => ({ sopClassUID: '1.2.840.10008.5.1.4.1.1.6.1', sopInstanceUID: `2.25.4.${k}`, imagePositionPatient: [0, 0, k * spacing[2]] as [number, number, number] })),
  } as SourceSeries;
}

async function nodeRow(backend: BackendName, phantom: ReturnType<typeof generatePhantom>): Promise<Row> {
  if (backend === 'webgl') return { where: 'node', backend, skipped: 'no canvas in Node' };
  const why = await tryBackend(backend, backend !== 'webgpu' || SOFTWARE_WEBGPU);
  if (why) return { where: 'node', backend, skipped: why };
  const analyzer = await load({ weights: WEIGHTS, backend, warmUp: false });
  const source = arraySource(phantom.volume);
  const center = phantom.lesions[0].centerIndex;
  const t0 = performance.now();
  await analyzer.analyze(source, center, { centerSpace: 'voxel' });
  const cold = performance.now() - t0;
  const results: AnalysisResult[] = [];
  const extra: Record<string, number[]> = { labelmap: [], export: [] };
  const series = sourceSeries(phantom.volume.dims, phantom.volume.spacing);
  for (let n = 0; n < RUNS; n++) {
    const r = await analyzer.analyze(source, center, { centerSpace: 'voxel' });
    results.push(r);
    extra.labelmap.push(writeLabelmap(r, phantom.volume.dims));
    extra.export.push(exportFiles(r, series));
  }
  analyzer.dispose();
  return { where: 'node', backend, cold, stages: medianStages(results, extra) };
}

async function chromiumRows(phantom: ReturnType<typeof generatePhantom>): Promise<Row[]> {
  if (!fs.existsSync(CHROMIUM)) return BACKEND_ORDER.map((backend) => ({ where: 'chromium', backend, skipped: `${CHROMIUM} is not installed` }));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-bench-'));
  fs.writeFileSync(path.join(dir, 'volume.bin'), phantom.volume.data as Uint8Array);
  fs.writeFileSync(path.join(dir, 'volume.json'), JSON.stringify({ ...phantom.volume, data: undefined }));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>bench</title>');
  const server = await serveViewer(dir, { statics: { '/web/': WEB, '/weights/': WEIGHTS } });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--enable-unsafe-webgpu'] });
  const rows: Row[] = [];
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/index.html`);
    await page.addScriptTag({ type: 'module', content: "import * as engine from '/web/abus-engine.js'; window.abusEngine = engine;" });
    await page.waitForFunction(() => (window as unknown as { abusEngine?: unknown }).abusEngine);
    // Which GPU the browser has: with no GPU, Chromium's WebGPU and WebGL are SwiftShader on the CPU.
    const gpu = await page.evaluate(async () => {
      const nav = navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info?: { vendor?: string; architecture?: string; description?: string } } | null> } };
      const adapter = await nav.gpu?.requestAdapter();
      const gl = document.createElement('canvas').getContext('webgl2');
      const ext = gl?.getExtension('WEBGL_debug_renderer_info');
      return { webgpu: adapter ? Object.values(adapter.info ?? {}).filter(Boolean).join(' ') : 'none', webgl: gl ? String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER)) : 'none' };
    });
    console.log(`Chromium: WebGPU adapter ${gpu.webgpu}; WebGL renderer ${gpu.webgl}.`);
    const software = (backend: string) => (backend === 'webgpu' && /swiftshader/i.test(gpu.webgpu)) || (backend === 'webgl' && /swiftshader/i.test(gpu.webgl));
    for (const backend of BACKEND_ORDER) {
      const r = await page.evaluate(async ({ backend, center, runs }) => {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const engine = (window as any).abusEngine;
        const meta = await (await fetch('/volume.json')).json();
        const source = engine.arraySource({ ...meta, data: new Uint8Array(await (await fetch('/volume.bin')).arrayBuffer()) });
        const raw = new Worker('/web/abus-worker.js');
        try {
          const worker = await engine.load({ worker: raw, weights: `${location.origin}/weights/`, backend, wasmPath: `${location.origin}/web/` });
          const t0 = performance.now();
          await worker.analyze(source, center, { centerSpace: 'voxel' });
          const cold = performance.now() - t0;
          const timings: Record<string, number>[] = [];
          for (let n = 0; n < runs; n++) {
            const t = performance.now();
            const res = await worker.analyze(source, center, { centerSpace: 'voxel' });
            timings.push({ ...res.timingsMs, roundTrip: performance.now() - t });
          }
          return { cold, timings };
        } catch (err) {
          return { error: (err as Error).message };
        } finally {
          raw.terminate();
        }
      }, { backend, center: phantom.lesions[0].centerIndex, runs: RUNS });
      if ('error' in r) rows.push({ where: 'chromium', backend, skipped: String(r.error) });
      else {
        const stages: Record<string, number> = {};
        for (const k of Object.keys(r.timings[0])) stages[k] = median(r.timings.map((t) => t[k] ?? 0));
        rows.push({ where: 'chromium', backend: `${backend}${software(backend) ? ' (SwiftShader)' : ''}`, cold: r.cold, stages });
      }
    }
  } finally {
    await browser.close();
    await server.close();
  }
  return rows;
}

/** COOP/COEP: the page and its workers are cross-origin isolated, so SharedArrayBuffer and wasm threads exist. */
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

async function wasmThreadRows(phantom: ReturnType<typeof generatePhantom>): Promise<Record<string, string>[]> {
  if (!fs.existsSync(CHROMIUM)) return [{ skipped: `${CHROMIUM} is not installed` }];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-bench-threads-'));
  fs.writeFileSync(path.join(dir, 'volume.bin'), phantom.volume.data as Uint8Array);
  fs.writeFileSync(path.join(dir, 'volume.json'), JSON.stringify({ ...phantom.volume, data: undefined }));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>bench</title>');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  const rows: Record<string, string>[] = [];
  try {
    for (const isolated of [false, true]) {
      const server = await serveViewer(dir, { statics: { '/web/': WEB, '/weights/': WEIGHTS }, headers: isolated ? ISOLATION : {} });
      try {
        const page = await browser.newPage();
        page.on('pageerror', (e) => console.error(`bench page error: ${e.message}`));
        page.on('console', (m) => m.type() === 'error' && console.error(`bench page: ${m.text()}`));
        await page.goto(`${server.url}/index.html`);
        await page.addScriptTag({ type: 'module', content: "import * as engine from '/web/abus-engine.js'; window.abusEngine = engine;" });
        await page.waitForFunction(() => (window as unknown as { abusEngine?: unknown }).abusEngine);
        for (const wasmThreads of isolated ? [1, 2] : [1]) {
          for (const simdConv of [true, false]) {
            const r = await page.evaluate(async ({ center, runs, wasmThreads, simdConv }) => {
              // eslint-disable-next-line @typescript-eslint/no-explicit-any
              const engine = (window as any).abusEngine;
              const meta = await (await fetch('/volume.json')).json();
              const source = engine.arraySource({ ...meta, data: new Uint8Array(await (await fetch('/volume.bin')).arrayBuffer()) });
              const raw = new Worker('/web/abus-worker.js');
              try {
                const worker = await engine.load({ worker: raw, weights: `${location.origin}/weights/`, backend: 'wasm', wasmPath: `${location.origin}/web/`, wasmThreads, simdConv });
                const t0 = performance.now();
                await worker.analyze(source, center, { centerSpace: 'voxel' });
                const cold = performance.now() - t0;
                const times: number[] = [];
                for (let n = 0; n < runs; n++) {
                  const t = performance.now();
                  await worker.analyze(source, center, { centerSpace: 'voxel' });
                  times.push(performance.now() - t);
                }
                return { cold, times, reason: worker.backend.reason as string, isolated: crossOriginIsolated };
              } catch (err) {
                return { error: (err as Error).message };
              } finally {
                raw.terminate();
              }
            }, { center: phantom.lesions[0].centerIndex, runs: RUNS, wasmThreads, simdConv });
            const setting = { 'COOP/COEP': isolated ? 'on' : 'off', 'threads asked': String(wasmThreads), conv: simdConv ? 'SIMD kernel' : 'XNNPACK' };
            if ('error' in r) rows.push({ ...setting, skipped: String(r.error).slice(0, 90) });
            else rows.push({ ...setting, 'click to result ms (median)': median(r.times).toFixed(0), 'first ms': r.cold.toFixed(0), crossOriginIsolated: String(r.isolated), log: r.reason.replace(/^wasm \(forced\); /, '') });
          }
        }
        await page.close();
      } finally {
        await server.close();
      }
    }
  } finally {
    await browser.close();
  }
  return rows;
}

async function main() {
  // PROD silences tfjs's advice to install tfjs-node, which cannot be installed here.
  tf.env().set('PROD', true);
  installNodeWebGPU();
  const phantom = generatePhantom({ seed: 7, lesionCount: 1 });
  console.log(`ABUS Tumor AI pipeline benchmark: shipped model, one click on a ${phantom.volume.dims.join(' x ')} phantom, ${RUNS} timed runs after one cold run, medians in ms.`);
  console.log(`Machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.`);
  if (process.argv.includes('--only-wasm-threads')) {
    console.table(await wasmThreadRows(phantom));
    return;
  }
  const rows: Row[] = [];
  for (const b of BACKEND_ORDER) rows.push(await nodeRow(b, phantom));
  rows.push(...(await chromiumRows(phantom)));
  const baseline = rows.find((r) => r.where === 'node' && r.backend === 'cpu')?.stages?.total;
  const cols = ['readVoi', 'resample', 'iteration1', 'iteration2', 'download', 'postprocess', 'total', 'roundTrip', 'labelmap', 'export'];
  const table = rows.map((r) => {
    if (r.skipped) return { where: r.where, backend: r.backend, skipped: r.skipped.slice(0, 90) };
    const s = r.stages ?? {};
    const line: Record<string, string> = { where: r.where, backend: r.backend, cold: (r.cold ?? 0).toFixed(0) };
    for (const c of cols) line[c] = s[c] === undefined ? '' : s[c].toFixed(c === 'labelmap' || c === 'export' ? 1 : 0);
    line['vs node cpu'] = baseline && s.total ? `${(baseline / s.total).toFixed(2)}x` : '';
    return line;
  });
  console.table(table);
  console.log('labelmap and export (the plugin writing the mask into label images and building the SEG + SR) are timed in Node; in Chromium, roundTrip adds reading the VOI on the page and the worker messages.');
  const fallback = rows.filter((r) => r.where === 'chromium' && !r.skipped && !r.backend.startsWith('webgpu'));
  const worst = Math.max(...fallback.map((r) => r.cold ?? 0));
  console.log(`No-WebGPU fallback in Chromium: slowest first analysis ${(worst / 1000).toFixed(1)} s (bar: 60 s on 2 cores).`);
  console.log('wasm in Chromium\'s analysis worker: threads (need COOP/COEP) and the convolution kernel.');
  console.table(await wasmThreadRows(phantom));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench: error: ${err.message}`);
    process.exit(1);
  },
);
