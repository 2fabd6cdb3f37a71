/**
 * npm run bench: click-to-result time of the VOI pipeline with the shipped model, in Node and in
 * headless Chromium (the analysis Web Worker the plugin uses), side by side in one run, split into
 * reading the VOI, resampling, each network pass, post-processing, the re-centring, writing the
 * labelmap and building the SEG + SR. Every backend is timed twice on the same phantom and click:
 * the click as the engine does it now (re-centred on the lesion: lesion-centre.ts, up to three
 * analyses) and a single analysis (recentre: false), alternating, so the cost of the re-centring
 * is a ratio measured in the same run. Every row's speed is against Node's wasm backend (one analysis).
 * Bundled by esbuild because it spans the engine (models/) and the plugin's DICOM export (extension/).
 *
 * The default run is sized for <= 10 minutes on 2 cores: Node wasm and Chromium's worker on wasm.
 * Opt-ins:
 *   --cpu              the cpu backend in Node and Chromium (a reference, about 5-10x slower than wasm)
 *   --software-webgpu  Node webgpu on a software adapter and Chromium's WebGPU and WebGL on SwiftShader
 *                      (software GPU emulation: they measure the CPU, not a GPU), capped by --software-limit
 *   --wasm-threads     the table of wasm threads (COOP/COEP) x convolution kernel in Chromium's worker
 *   --only-wasm-threads  only that table
 * Limits: --runs N (timed rounds of the four clicks after one cold click, default 3), --budget S (wall-clock
 * seconds for the bench after the build, default 480: a row that would start after it is skipped),
 * --row-limit S (seconds per row, default 150), --software-limit S (seconds per software GPU row, default 90).
 * --verbose prints every click.
 * A row that fails (an error, a time limit, a closed page or browser) prints its error in the table.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Browser, chromium, Page } from 'playwright-core';
import { AnalysisResult, load, Vec3, arraySource, BackendName, buildMeasurementReport, buildSeg, SourceSeries } from '@abus-tumor-ai/engine';
import { tryBackend } from '@abus-tumor-ai/engine/lab';
import { installNodeWebGPU } from '@abus-tumor-ai/engine/node';
import { generatePhantom } from '@abus-tumor-ai/research';
import { serveViewer } from '@abus-tumor-ai/viewer';

const ROOT = process.cwd();
const WEIGHTS = path.join(ROOT, 'models', 'weights', 'cmsvnetiter');
const WEB = path.join(ROOT, 'models', 'tools', 'release', 'dist', 'web');
const CHROMIUM = '/usr/bin/chromium';
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const flag = (name: string) => process.argv.includes(`--${name}`);
const RUNS = Math.max(1, Number(arg('runs', '3')));
const BUDGET_S = Number(arg('budget', '480'));
const ROW_LIMIT_S = Number(arg('row-limit', '150'));
const SOFTWARE_LIMIT_S = Number(arg('software-limit', '90'));
const SOFTWARE_GPU = flag('software-webgpu');
const CPU = flag('cpu');
const WASM_THREADS = flag('wasm-threads');
const VERBOSE = flag('verbose');
const SOFTWARE_SKIP = 'software GPU emulation: measures the CPU, not a GPU; --software-webgpu to include';
const CPU_SKIP = 'cpu backend: ~50x slower than wasm with the shipped width-16 model (a click took 1-2 min on 2 loaded cores); --cpu to include';

/** Wall clock of the whole bench (after the build), printed per section. */
const T0 = performance.now();
const elapsedS = () => (performance.now() - T0) / 1000;
const budgetLeftS = () => BUDGET_S - elapsedS();
function section<T>(name: string, run: () => Promise<T>): Promise<T> {
  const t = elapsedS();
  console.log(`[${t.toFixed(0)} s] ${name} ...`);
  return run().finally(() => console.log(`[${elapsedS().toFixed(0)} s] ${name}: ${(elapsedS() - t).toFixed(0)} s`));
}

type Mode = 'one VOI' | 're-centred';
interface Row {
  where: 'node' | 'chromium';
  backend: string;
  at?: ClickAt;
  mode?: Mode;
  /** ms: the first analysis (includes compiling kernels), re-centred. */
  cold?: number;
  /** ms: medians of the timed runs by stage. */
  stages?: Record<string, number>;
  /** VOIs analysed per click (median). */
  analyses?: number;
  runs?: number;
  skipped?: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function medianStages(timings: Record<string, number>[]): Record<string, number> {
  const keys = [...new Set(timings.flatMap((t) => Object.keys(t)))];
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = median(timings.map((t) => t[k] ?? 0));
  return out;
}

/** One click's measurement: its stage times (plus extras timed by the caller) and how many VOIs it analysed. */
interface Click {
  timings: Record<string, number>;
  analyses: number;
}

/**
 * Where the bench clicks: the lesion's centre, and a point inside it 0.35 of its radius off the
 * centre along the lateral axis (the off-centre distance of eval --click-robustness), where the
 * re-centring has to move the VOI and analyse again.
 */
type ClickAt = 'centre' | 'off-centre';
function clickPoints(phantom: ReturnType<typeof generatePhantom>): Record<ClickAt, Vec3> {
  const lesion = phantom.lesions[0];
  const c = lesion.centerIndex;
  const di = Math.max(1, Math.round((0.35 * lesion.extentMm[0]) / 2 / phantom.volume.spacing[0]));
  return { centre: c, 'off-centre': [c[0] + di, c[1], c[2]] };
}

/**
 * The protocol of every row: one cold click (re-centred at the centre, as the viewer's first click),
 * then RUNS rounds of the four clicks (centre and off-centre, each with one analysis and
 * re-centred, in an order that alternates between rounds) until the row's time limit; returns the
 * four rows, one-VOI and re-centred side by side.
 */
async function measure(where: Row['where'], backend: string, limitS: number, points: Record<ClickAt, Vec3>, click: (at: Vec3, recentre: boolean) => Promise<Click>): Promise<Row[]> {
  const start = performance.now();
  const left = () => limitS - (performance.now() - start) / 1000;
  const t0 = performance.now();
  const first = await click(points.centre, true);
  const cold = performance.now() - t0;
  console.log(`  ${where} ${backend}: cold click ${cold.toFixed(0)} ms (${first.analyses} VOIs)`);
  const kinds: [ClickAt, Mode][] = [['centre', 'one VOI'], ['centre', 're-centred'], ['off-centre', 'one VOI'], ['off-centre', 're-centred']];
  const runs = kinds.map((): Click[] => []);
  // Node cannot stop an analysis that runs, so the limit is checked before each click: past it, the rest are left out.
  // A click that fails (a time limit, a closed page) ends the row: what was timed before it stays.
  let stopped = `row time limit (${limitS.toFixed(0)} s) reached before this click`;
  rounds: for (let n = 0; n < RUNS; n++) {
    for (const q of n % 2 ? [3, 2, 1, 0] : [0, 1, 2, 3]) {
      if (left() <= 0) break rounds;
      let c: Click;
      try {
        c = await click(points[kinds[q][0]], kinds[q][1] === 're-centred');
      } catch (err) {
        stopped = rowError(err);
        break rounds;
      }
      runs[q].push(c);
      if (VERBOSE) console.log(`  ${where} ${backend}: ${kinds[q].join(', ')}: ${(c.timings.roundTrip ?? c.timings.total).toFixed(0)} ms (${c.analyses} VOIs)`);
    }
  }
  const timed = Math.min(...runs.map((r) => r.length));
  if (timed < RUNS) console.log(`${where} ${backend}: ${timed} of ${RUNS} rounds timed (${stopped})`);
  return kinds.map(([at, mode], q): Row => {
    const coldHere = at === 'centre' && mode === 're-centred' ? cold : undefined;
    if (!runs[q].length) return { where, backend, at, mode, cold: coldHere, skipped: stopped };
    const stages = medianStages(runs[q].map((c) => c.timings));
    return { where, backend, at, mode, cold: coldHere, analyses: median(runs[q].map((c) => c.analyses)), runs: runs[q].length, stages };
  });
}

const skipRows = (where: Row['where'], backend: string, skipped: string): Row[] => [{ where, backend, skipped }];

/** The row's own limit, never past the bench's budget. */
function rowLimit(limitS: number): number | string {
  const left = budgetLeftS();
  if (left <= 0) return `wall-clock budget (${BUDGET_S} s, --budget) spent before this row started`;
  return Math.min(limitS, left);
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

async function nodeRows(backend: BackendName, phantom: ReturnType<typeof generatePhantom>): Promise<Row[]> {
  if (backend === 'webgl') return skipRows('node', backend, 'no canvas in Node');
  if (backend === 'cpu' && !CPU) return skipRows('node', backend, CPU_SKIP);
  const software = backend === 'webgpu';
  const limit = rowLimit(software ? SOFTWARE_LIMIT_S : ROW_LIMIT_S);
  if (typeof limit === 'string') return skipRows('node', backend, limit);
  // Node's webgpu is Dawn: a real adapter is timed by default, a software one only with --software-webgpu.
  const why = await tryBackend(backend, !software || SOFTWARE_GPU);
  if (why) return skipRows('node', backend, software && !SOFTWARE_GPU ? `${SOFTWARE_SKIP} (${why})` : why);
  const analyzer = await load({ weights: WEIGHTS, backend, warmUp: false });
  try {
    const source = arraySource(phantom.volume);
    const series = sourceSeries(phantom.volume.dims, phantom.volume.spacing);
    return await measure('node', backend, limit, clickPoints(phantom), async (at, recentre) => {
      const r = await analyzer.analyze(source, at, { centerSpace: 'voxel', recentre });
      return { timings: { ...r.timingsMs, labelmap: writeLabelmap(r, phantom.volume.dims), export: exportFiles(r, series) }, analyses: r.analyses };
    });
  } catch (err) {
    return skipRows('node', backend, `error: ${(err as Error).message}`);
  } finally {
    analyzer.dispose();
  }
}

/** Rejects after `s` seconds (the promise it races keeps running: the caller closes what runs it). */
function withLimit<T>(p: Promise<T>, s: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), s * 1000);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** A page or browser that died under the bench (out of memory, a crashed GPU process) says so in its row. */
function rowError(err: unknown): string {
  const msg = (err as Error).message ?? String(err);
  if (/closed|crash|disconnected/i.test(msg)) return `browser or page closed during the row (${msg.split('\n')[0].slice(0, 80)})`;
  return msg.split('\n')[0];
}

async function newBenchPage(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`bench page error: ${e.message}`));
  await page.goto(`${url}/index.html`);
  await page.addScriptTag({ type: 'module', content: "import * as engine from '/web/abus-engine.js'; window.abusEngine = engine;" });
  await page.waitForFunction(() => (window as unknown as { abusEngine?: unknown }).abusEngine);
  return page;
}

function benchDir(phantom: ReturnType<typeof generatePhantom>, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.writeFileSync(path.join(dir, 'volume.bin'), phantom.volume.data as Uint8Array);
  fs.writeFileSync(path.join(dir, 'volume.json'), JSON.stringify({ ...phantom.volume, data: undefined }));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>bench</title>');
  return dir;
}

/**
 * One backend in Chromium's analysis worker, in a browser of its own (so one that dies takes only
 * its row); each click is its own page.evaluate under the row's time limit.
 */
async function chromiumRow(backend: BackendName, url: string, points: Record<ClickAt, Vec3>): Promise<Row[]> {
  const software = backend === 'webgpu' || backend === 'webgl';
  if (software && !SOFTWARE_GPU) return skipRows('chromium', backend, SOFTWARE_SKIP);
  if (backend === 'cpu' && !CPU) return skipRows('chromium', backend, CPU_SKIP);
  const limit = rowLimit(software ? SOFTWARE_LIMIT_S : ROW_LIMIT_S);
  if (typeof limit === 'string') return skipRows('chromium', backend, limit);
  const deadline = performance.now() + limit * 1000;
  const left = () => Math.max(1, (deadline - performance.now()) / 1000);
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', ...(backend === 'webgpu' ? ['--enable-unsafe-webgpu'] : [])] });
    const page = await newBenchPage(browser, url);
    let label: string = backend;
    if (software) {
      // With --disable-gpu (and on a machine with no GPU) Chromium's WebGPU and WebGL are SwiftShader on the CPU.
      const renderer = await page.evaluate(async (backend) => {
        if (backend === 'webgpu') {
          const nav = navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info?: Record<string, string> } | null> } };
          const adapter = await nav.gpu?.requestAdapter();
          return adapter ? Object.values(adapter.info ?? {}).filter(Boolean).join(' ') : 'none';
        }
        const gl = document.createElement('canvas').getContext('webgl2');
        const ext = gl?.getExtension('WEBGL_debug_renderer_info');
        return gl ? String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER)) : 'none';
      }, backend);
      console.log(`Chromium ${backend}: ${renderer || 'adapter without info'}`);
      // With --disable-gpu Chromium has no hardware GPU: what it offers is software on the same cores.
      label = `${backend} (${/swiftshader/i.test(renderer) ? 'SwiftShader' : 'software'})`;
    }
    const loaded = await withLimit(
      page.evaluate(async ({ backend }) => {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const w = window as any;
        const meta = await (await fetch('/volume.json')).json();
        w.benchSource = w.abusEngine.arraySource({ ...meta, data: new Uint8Array(await (await fetch('/volume.bin')).arrayBuffer()) });
        w.benchRaw = new Worker('/web/abus-worker.js');
        try {
          w.benchWorker = await w.abusEngine.load({ worker: w.benchRaw, weights: `${location.origin}/weights/`, backend, wasmPath: `${location.origin}/web/` });
          return '';
        } catch (err) {
          return (err as Error).message;
        }
      }, { backend }),
      left(),
      `row time limit (${limit.toFixed(0)} s) reached loading the model`,
    );
    if (loaded) return skipRows('chromium', label, loaded);
    return await measure('chromium', label, left(), points, (center, recentre) =>
      withLimit(
        page.evaluate(async ({ center, recentre }) => {
          // eslint-disable-next-line @typescript-eslint/no-explicit-any
          const w = window as any;
          const t = performance.now();
          const res = await w.benchWorker.analyze(w.benchSource, center, { centerSpace: 'voxel', recentre });
          return { timings: { ...res.timingsMs, roundTrip: performance.now() - t } as Record<string, number>, analyses: res.analyses as number };
        }, { center, recentre }),
        left(),
        `row time limit (${limit.toFixed(0)} s) reached during a click`,
      ),
    );
  } catch (err) {
    return skipRows('chromium', backend, rowError(err));
  } finally {
    // Closing kills the browser, with a worker that is still computing past a time limit.
    await browser?.close().catch(() => undefined);
  }
}

async function chromiumRows(phantom: ReturnType<typeof generatePhantom>, backends: BackendName[]): Promise<Row[]> {
  if (!fs.existsSync(CHROMIUM)) return backends.map((backend) => ({ where: 'chromium', backend, skipped: `${CHROMIUM} is not installed` }));
  const server = await serveViewer(benchDir(phantom, 'abus-bench-'), { statics: { '/web/': WEB, '/weights/': WEIGHTS } });
  const rows: Row[] = [];
  try {
    for (const backend of backends) rows.push(...(await section(`chromium ${backend}`, () => chromiumRow(backend, server.url, clickPoints(phantom)))));
  } finally {
    await server.close();
  }
  return rows;
}

/** COOP/COEP: the page and its workers are cross-origin isolated, so SharedArrayBuffer and wasm threads exist. */
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

async function wasmThreadRows(phantom: ReturnType<typeof generatePhantom>): Promise<Record<string, string>[]> {
  if (!fs.existsSync(CHROMIUM)) return [{ skipped: `${CHROMIUM} is not installed` }];
  const dir = benchDir(phantom, 'abus-bench-threads-');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  const rows: Record<string, string>[] = [];
  try {
    for (const isolated of [false, true]) {
      const server = await serveViewer(dir, { statics: { '/web/': WEB, '/weights/': WEIGHTS }, headers: isolated ? ISOLATION : {} });
      try {
        const page = await newBenchPage(browser, server.url);
        page.on('console', (m) => m.type() === 'error' && console.error(`bench page: ${m.text()}`));
        for (const wasmThreads of isolated ? [1, 2] : [1]) {
          for (const simdConv of [true, false]) {
            const setting = { 'COOP/COEP': isolated ? 'on' : 'off', 'threads asked': String(wasmThreads), conv: simdConv ? 'SIMD kernel' : 'XNNPACK' };
            const limit = rowLimit(ROW_LIMIT_S);
            if (typeof limit === 'string') {
              rows.push({ ...setting, skipped: limit });
              continue;
            }
            const r = await withLimit(page.evaluate(async ({ center, runs, wasmThreads, simdConv }) => {
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
            }, { center: phantom.lesions[0].centerIndex, runs: RUNS, wasmThreads, simdConv }), limit, `time limit (${limit.toFixed(0)} s) reached`).catch((err) => ({ error: rowError(err) }));
            if ('error' in r) rows.push({ ...setting, skipped: String(r.error).slice(0, 90) });
            else rows.push({ ...setting, 'click to result ms (median)': median(r.times).toFixed(0), 'first ms': r.cold.toFixed(0), crossOriginIsolated: String(r.isolated), log: r.reason.replace(/^wasm \(forced\); /, '') });
          }
        }
        await page.close().catch(() => undefined);
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
  const points = clickPoints(phantom);
  if (flag('only-wasm-threads')) console.log(`ABUS Tumor AI pipeline benchmark, wasm threads x convolution kernel in Chromium's worker: shipped model, a ${phantom.volume.dims.join(' x ')} phantom clicked at its lesion's centre; per setting one cold click, then ${RUNS} timed re-centred clicks, medians in ms.`);
  else console.log(`ABUS Tumor AI pipeline benchmark: shipped model, a ${phantom.volume.dims.join(' x ')} phantom clicked at its lesion's centre ${JSON.stringify(points.centre)} and off-centre ${JSON.stringify(points['off-centre'])}; per backend one cold click, then ${RUNS} timed round(s) of the four clicks (each point with one analysis and re-centred), medians in ms.`);
  console.log(`Machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, ${new Date().toISOString().slice(0, 10)}.`);
  console.log(`Budget: ${BUDGET_S} s for the bench (after the build), ${ROW_LIMIT_S} s per row, ${SOFTWARE_LIMIT_S} s per software GPU row.`);
  if (flag('only-wasm-threads')) {
    console.table(await section('chromium wasm threads x kernels', () => wasmThreadRows(phantom)));
    return;
  }
  const rows: Row[] = [];
  // Most useful first: the budget skips from the end.
  rows.push(...(await section('node wasm', () => nodeRows('wasm', phantom))));
  rows.push(...(await chromiumRows(phantom, ['wasm'])));
  rows.push(...(await section('node cpu', () => nodeRows('cpu', phantom))));
  rows.push(...(await chromiumRows(phantom, ['cpu'])));
  rows.push(...(await section('node webgpu', () => nodeRows('webgpu', phantom))));
  rows.push(...(await nodeRows('webgl', phantom)));
  rows.push(...(await chromiumRows(phantom, ['webgpu', 'webgl'])));

  const baseline = rows.find((r) => r.where === 'node' && r.backend === 'wasm' && r.mode === 'one VOI')?.stages?.total;
  const single = (r: Row) => rows.find((o) => o.where === r.where && o.backend === r.backend && o.at === r.at && o.mode === 'one VOI');
  const cols: [string, string, number][] = [
    ['readVoi', 'read VOI', 0], ['resample', 'resample', 0], ['iteration1', 'pass 1', 0], ['iteration2', 'pass 2', 0], ['flips', 'flipped views', 0], ['download', 'download', 0],
    ['postprocess', 'post', 0], ['recentre', 're-centring', 0], ['total', 'total', 0], ['roundTrip', 'round trip', 0], ['labelmap', 'labelmap', 1], ['export', 'SEG+SR', 1],
  ];
  /** The click as the viewer sees it: the worker's round trip in Chromium, the engine's total plus labelmap and SEG+SR in Node. */
  const clickMs = (r: Row) => (r.stages ? (r.stages.roundTrip ?? r.stages.total + (r.stages.labelmap ?? 0) + (r.stages.export ?? 0)) : 0);
  const table = rows.filter((r) => !r.skipped).map((r) => {
    const s = r.stages ?? {};
    const line: Record<string, string> = { where: r.where, backend: r.backend, 'click at': r.at ?? '', analysis: r.mode ?? '', VOIs: String(r.analyses ?? ''), cold: r.cold === undefined ? '' : r.cold.toFixed(0) };
    for (const [k, name, digits] of cols) line[name] = s[k] === undefined ? '' : s[k].toFixed(digits);
    const one = single(r);
    line['re-centred / one VOI'] = r.mode === 're-centred' && one?.stages ? `${(clickMs(r) / clickMs(one)).toFixed(2)}x` : '';
    line['vs node wasm'] = baseline && s.total ? `${(baseline / s.total).toFixed(2)}x` : '';
    return line;
  });
  console.table(table);
  for (const r of rows.filter((o) => o.skipped)) {
    const what = [r.where, r.backend, r.at, r.mode].filter(Boolean).join(' ');
    console.log(`not timed: ${what}${r.cold === undefined ? '' : ` (cold click ${r.cold.toFixed(0)} ms)`}: ${r.skipped}`);
  }
  console.log('ms; both analyses average the test-time flips the card sets (the shipped card: lateral and sweep, 4 views; "flipped views" is their time); "one VOI": a single analysis at the click (recentre: false); "re-centred": the engine\'s default, a one-pass look at the click, then the analysis at the lesion\'s centroid on the 1 mm lattice, again until it stays on the same lattice point, at most 2 more (VOIs = network runs per click, the look included, median); cold: the first click, re-centred at the centre.');
  console.log('With re-centring the stage columns are the last analysis\' and "re-centring" is the analyses before it. labelmap and SEG+SR are timed in Node; in Chromium, "round trip" (the click as the page sees it) adds reading the VOI on the page and the worker messages.');
  console.log('"re-centred / one VOI" compares whole clicks (Chromium: round trip; Node: total + labelmap + SEG+SR); "vs node wasm" is speed against Node wasm\'s one-VOI total.');
  for (const r of rows.filter((o) => o.mode === 're-centred' && o.backend === 'wasm')) {
    const one = single(r);
    if (!one?.stages || !r.stages) continue;
    const ratio = clickMs(r) / clickMs(one);
    console.log(`Re-centring cost, ${r.where} wasm, click at the ${r.at === 'centre' ? "lesion's centre" : 'off-centre point'}: ${ratio.toFixed(2)}x (${clickMs(one).toFixed(0)} -> ${clickMs(r).toFixed(0)} ms, ${r.analyses} VOI(s) per click; bar: <= 1.5x) ${ratio <= 1.5 ? 'within the bar' : 'OVER the bar'}.`);
  }
  const fallback = rows.filter((r) => r.where === 'chromium' && !r.skipped && !r.backend.startsWith('webgpu') && r.cold !== undefined);
  if (fallback.length) console.log(`No-WebGPU fallback in Chromium: slowest first click ${(Math.max(...fallback.map((r) => r.cold ?? 0)) / 1000).toFixed(1)} s over ${fallback.map((r) => r.backend).join(', ')} (bar: 60 s on 2 cores).`);
  if (WASM_THREADS) {
    console.log('wasm in Chromium\'s analysis worker: threads (need COOP/COEP) and the convolution kernel; re-centred clicks.');
    console.table(await section('chromium wasm threads x kernels', () => wasmThreadRows(phantom)));
  } else console.log('wasm threads x convolution kernel table: skipped (minutes on 2 cores); --wasm-threads to include, --only-wasm-threads for it alone.');
  console.log(`Bench wall clock: ${elapsedS().toFixed(0)} s (budget ${BUDGET_S} s; the build before it is not counted); load average now ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}.`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench: error: ${err.message}`);
    process.exit(1);
  },
);
