/**
 * Speed of the network's 3x3x3 convolutions, layer by layer, on every backend Node can start:
 * stock tf.conv3d against the project's own kernels, cold (first call: pipeline compile) and warm:
 * on webgpu its implicit-GEMM kernel (engine/webgpu), on wasm its SIMD kernel (engine/wasm) where
 * it fits, with XNNPACK conv2d (the engine's wasm path before that kernel) timed beside it.
 * Usage: npm run bench:kernels -- [--input 32x16x32] [--width 8] [--reps 5] [--backends webgpu,wasm,cpu]
 *   [--grad] [--skip-stock] [--staging direct|workgroup] [--layers-json <file>] [--sweep <tilings.json>] [--tilings <tilings.json>] [--profile]
 * --input is depth x height x width of the volume; --grad times the backward pass (dx and dW)
 * instead of the forward; --skip-stock leaves out stock tf.conv3d (on wasm it runs at about 1
 * GFLOP/s: minutes a layer at the paper's size); --staging forces one of our two kernels (default: the one
 * fastConv3x3 picks for the adapter, and stock tf.conv3d for layers below its MIN_VOXELS).
 * --sweep (webgpu) times every candidate tiling of the 'workgroup' kernel on each layer, writes
 * the fastest per shape to the file, and times the whole pass with them too; --tilings uses such
 * a file. The 2x2x2 down- and up-convolutions are timed against stock conv3d/conv3dTranspose.
 * --profile lists the GPU time of the whole pass by tfjs kernel (needs timestamp queries).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'fs';
import * as os from 'os';
import { BackendName } from '@abus-tumor-ai/engine';
import { conv3x3WebGPU, defaultStaging, fastConv3x3, foldBatchNorm, forwardPass, initWeights, layerSpecs, shapeKey, simdConvFits, Staging, Tiling, tryBackend, usesOwnKernel, variantConfig, workgroupBytes } from '@abus-tumor-ai/engine/lab';
import { profileKernels } from './profile';
import { installNodeWebGPU } from '@abus-tumor-ai/engine/node';
import * as ops from '@abus-tumor-ai/engine/lab';
import '@abus-tumor-ai/engine/lab';
import { arg } from './args';

interface Layer {
  /** The network's layer names with this shape. */
  names: string[];
  x: [number, number, number, number, number];
  cout: number;
}

/** The distinct 3x3x3 layer shapes of one pass, with how often each occurs. */
function convLayers(input: number[], width: number): Layer[] {
  const config = variantConfig('cmsvnetiter', { baseWidth: width });
  const layers = new Map<string, Layer>();
  for (const spec of layerSpecs(config)) {
    if (spec.kind !== 'conv3') continue;
    const stage = Number(spec.name.slice(5, spec.name.indexOf('/')));
    const level = stage <= 5 ? stage - 1 : 9 - stage;
    const [d, h, w] = input.map((n) => n / 2 ** level);
    const [, , , cin, cout] = spec.shape;
    const key = [d, h, w, cin, cout].join('x');
    const layer = layers.get(key) ?? { names: [], x: [1, d, h, w, cin], cout };
    layer.names.push(spec.name);
    layers.set(key, layer);
  }
  return [...layers.values()];
}

const macs = (l: Layer) => l.x.slice(0, 4).reduce((a, b) => a * b, 1) * 27 * l.x[4] * l.cout;

/**
 * Median wall time of fn. A sample runs fn `inner` times back to back and reads back one element
 * of the last result: queued GPU work is included, but not the copy of a large output
 * to the CPU (on an H200, reading back 64 MB took longer than the layer that made it), nor one
 * read-back's latency per call. cold is a single first call.
 */
async function timeIt(fn: () => tf.Tensor | tf.Tensor[], reps: number, inner = INNER): Promise<{ cold: number; warm: number }> {
  const once = async (times: number) => {
    const t0 = performance.now();
    let list: tf.Tensor[] = [];
    for (let i = 0; i < times; i++) {
      tf.dispose(list);
      const out = fn();
      list = Array.isArray(out) ? out : [out];
    }
    // On webgpu, one element of each result: reading it waits for the work that made it, and
    // costs nothing next to a layer. wasm and cpu compute when called, so there is nothing to wait
    // for, and tfjs-wasm's Slice of one element copied the whole input (40 ms of a 64 MB output).
    if (tf.getBackend() === 'webgpu') {
      const probe = tf.tidy(() => tf.addN(list.map((t) => tf.slice(tf.reshape(t, [-1]), [0], [1]))));
      await probe.data();
      probe.dispose();
    }
    const ms = (performance.now() - t0) / times;
    tf.dispose(list);
    return ms;
  };
  const cold = await once(1);
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) samples.push(await once(inner));
  samples.sort((a, b) => a - b);
  return { cold, warm: samples[Math.floor(samples.length / 2)] };
}

/** The wasm SIMD kernel off: XNNPACK conv2d, the engine's wasm path before it, as the baseline. */
const XNNPACK: ops.KernelOptions = { simdConv: false };

/** Calls per timing sample: 10 on webgpu (see timeIt), 1 on the CPU backends, where a call is long. */
let INNER = 1;
let SKIP_STOCK = false;
/** --tilings: the WebGPU tilings every "ours" timing runs with. */
let GIVEN_TILINGS: Record<string, Tiling> | undefined;

/** Prints profileKernels' table for fn. */
async function printProfile(label: string, fn: () => tf.Tensor | tf.Tensor[]): Promise<void> {
  const p = await profileKernels(fn);
  console.log(`\nGPU time by tfjs kernel, ${label}: ${p.totalMs.toFixed(2)} ms in ${p.calls} kernel calls${p.untimed ? ` (${p.untimed} untimed: no timestamp queries?)` : ''}`);
  printTable(['kernel', 'calls', 'ms'], p.byName.slice(0, 15).map((e) => [e.name, String(e.calls), e.ms.toFixed(3)]), 1);
}

interface Row {
  backend: string;
  layer: string;
  count: number;
  gmac: number;
  kernel: string;
  stock?: { cold: number; warm: number };
  /** wasm: ops.conv3x3 with the SIMD kernel off (XNNPACK conv2d). */
  xnnpack?: { cold: number; warm: number };
  ours?: { cold: number; warm: number };
  /** ours against stock, max |diff| / max |stock|. */
  error?: number;
}

async function benchBackend(backend: BackendName, layers: Layer[], reps: number, grad: boolean, staging?: Staging): Promise<Row[] | string> {
  const why = await tryBackend(backend);
  if (why) return why;
  const rows: Row[] = [];
  for (const l of layers) {
    const x = tf.randomNormal(l.x, 0, 1, 'float32', 1) as tf.Tensor5D;
    const k = tf.mul(tf.randomNormal([3, 3, 3, l.x[4], l.cout], 0, 1, 'float32', 2), Math.sqrt(2 / (27 * l.x[4]))) as tf.Tensor5D;
    const dy = tf.randomNormal([l.x[0], l.x[1], l.x[2], l.x[3], l.cout], 0, 1, 'float32', 3) as tf.Tensor5D;
    const own = backend === 'webgpu' && (staging !== undefined || usesOwnKernel(l.x));
    const kernel = backend === 'wasm' ? (simdConvFits(x, k) ? 'simd' : 'xnnpack') : backend !== 'webgpu' ? '' : own ? (staging ?? defaultStaging()) : 'stock';
    const row: Row = { backend, layer: `${l.x.slice(1, 4).join('x')} ${l.x[4]}->${l.cout}`, count: l.names.length, gmac: macs(l) / 1e9, kernel };
    if (grad) {
      // The forward and both gradients (dx, dW) of sum(dy * conv(x, k)), as a training step runs them.
      const backward = (conv: (a: tf.Tensor5D, b: tf.Tensor5D) => tf.Tensor5D) => () =>
        tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a as tf.Tensor5D, b as tf.Tensor5D), dy)))([x, k]);
      row.gmac *= 3; // forward + two backward GEMMs of the same size
      // Stock tfjs-wasm has no 3-D convolution gradient kernels; the engine's own gradient is timed there.
      if (!SKIP_STOCK) row.stock = await timeIt(backward((a, b) => tf.conv3d(a, b, 1, 'same')), reps).catch(() => undefined);
      if (backend === 'wasm') {
        row.xnnpack = await timeIt(backward((a, b) => ops.conv3x3(a, b, XNNPACK)), reps);
        row.ours = await timeIt(backward((a, b) => ops.conv3x3(a, b)), reps);
      }
      if (backend === 'webgpu') row.ours = await timeIt(backward((a, b) => fastConv3x3(a, b, undefined, false, GIVEN_TILINGS)), reps);
    } else {
      if (!SKIP_STOCK) row.stock = await timeIt(() => tf.conv3d(x, k, 1, 'same'), reps);
      if (backend === 'wasm') row.xnnpack = await timeIt(() => ops.conv3x3(x, k, XNNPACK), reps);
      const ours = backend === 'webgpu' ? () => (staging ? conv3x3WebGPU(x, k, { staging }) : fastConv3x3(x, k, undefined, false, GIVEN_TILINGS)) : backend === 'wasm' ? () => ops.conv3x3(x, k) : undefined;
      if (ours) {
        row.ours = await timeIt(ours, reps);
        // Checked against stock conv3d, or where that is skipped against XNNPACK's result.
        const [a, b] = [ours(), SKIP_STOCK ? ops.conv3x3(x, k, XNNPACK) : tf.conv3d(x, k, 1, 'same')];
        row.error = await relativeError(a, b);
        tf.dispose([a, b]);
      }
    }
    tf.dispose([x, k, dy]);
    rows.push(row);
    console.error(`  ${backend} ${row.layer}: stock ${row.stock ? `${row.stock.warm.toFixed(1)} ms` : SKIP_STOCK ? 'skipped' : 'failed'}${row.ours ? `, ours ${row.ours.warm.toFixed(1)} ms (cold ${row.ours.cold.toFixed(0)} ms)` : ''}`);
  }
  return rows;
}

/** Candidate 'workgroup' tilings for a layer: register blocks of 4x4 to 8x8, 64-256 threads, split-K where tiles are few. */
function candidateTilings(l: Layer): Tiling[] {
  const voxels = l.x.slice(0, 4).reduce((a, b) => a * b, 1);
  const blocks: [number, number, number, number, number][] = [
    // tileM, tileN, tileK, rowsPerThread, colsPerThread
    [64, 32, 16, 4, 4],
    [64, 32, 32, 4, 4],
    [128, 32, 16, 8, 4],
    [256, 32, 8, 8, 4],
    [64, 64, 16, 8, 8],
    [128, 64, 16, 8, 8],
    [128, 64, 8, 8, 8],
    [128, 128, 8, 8, 8],
    [256, 64, 8, 8, 8],
    [64, 16, 16, 4, 4],
    [128, 16, 16, 8, 4],
    [32, 32, 32, 4, 4],
  ];
  const out: Tiling[] = [];
  for (const [tileM, tileN, tileK, rowsPerThread, colsPerThread] of blocks) {
    if (tileN > Math.max(16, 2 ** Math.ceil(Math.log2(l.cout)))) continue;
    if (tileK > 27 * l.x[4]) continue;
    const tiling = { tileM, tileN, tileK, rowsPerThread, colsPerThread };
    if (workgroupBytes(tiling) > 16384) continue; // WebGPU's guaranteed workgroup memory
    out.push(tiling);
    const tiles = Math.ceil(voxels / tileM) * Math.ceil(l.cout / tileN);
    if (l.cout % 4 === 0 && tiles < 1024) for (const splitK of [2, 4, 8, 16]) out.push({ ...tiling, splitK });
  }
  return out;
}

const tilingLabel = (t: Tiling) => `${t.tileM}x${t.tileN}x${t.tileK} ${t.rowsPerThread}x${t.colsPerThread}${(t.splitK ?? 1) > 1 ? ` split${t.splitK}` : ''}`;

/** max |a - b| / max |b| on the GPU: a kernel that races or misses a tile edge shows here. */
async function relativeError(actual: tf.Tensor, expected: tf.Tensor): Promise<number> {
  const r = tf.tidy(() => tf.div(tf.max(tf.abs(tf.sub(actual, expected))), tf.maximum(tf.max(tf.abs(expected)), 1e-12)));
  const [value] = await r.data();
  r.dispose();
  return value;
}

/** Every candidate tiling on every layer (forward, webgpu), each checked against stock tf.conv3d; returns the fastest correct one per shape. */
async function sweep(layers: Layer[], reps: number): Promise<Record<string, Tiling>> {
  const best: Record<string, Tiling> = {};
  const lines: string[][] = [];
  for (const l of layers) {
    if (!usesOwnKernel(l.x)) continue;
    const x = tf.randomNormal(l.x, 0, 1, 'float32', 1) as tf.Tensor5D;
    const k = tf.mul(tf.randomNormal([3, 3, 3, l.x[4], l.cout], 0, 1, 'float32', 2), Math.sqrt(2 / (27 * l.x[4]))) as tf.Tensor5D;
    const key = shapeKey({ batch: l.x[0], depth: l.x[1], height: l.x[2], width: l.x[3], inChannels: l.x[4], outChannels: l.cout });
    let fastest = Infinity;
    const expected = tf.conv3d(x, k, 1, 'same');
    for (const tiling of candidateTilings(l)) {
      const t = await timeIt(() => conv3x3WebGPU(x, k, { staging: 'workgroup', tiling }), reps).catch((err: Error) => {
        console.error(`  ${key} ${tilingLabel(tiling)}: failed (${err.message})`);
        return undefined;
      });
      if (!t) continue;
      const y = conv3x3WebGPU(x, k, { staging: 'workgroup', tiling });
      const error = await relativeError(y, expected);
      y.dispose();
      lines.push([`${l.x.slice(1, 4).join('x')} ${l.x[4]}->${l.cout}`, tilingLabel(tiling), t.warm.toFixed(2), ((2 * macs(l)) / 1e9 / (t.warm / 1000)).toFixed(0), t.cold.toFixed(0), error.toExponential(1)]);
      if (!(error < 1e-4)) continue;
      if (t.warm < fastest) {
        fastest = t.warm;
        best[key] = tiling;
      }
    }
    tf.dispose([x, k, expected]);
    console.error(`  sweep ${key}: fastest ${tilingLabel(best[key])} ${fastest.toFixed(2)} ms`);
  }
  console.log('\nTiling sweep (webgpu, forward, no bias):');
  printTable(['layer', 'tiling (MxNxK, per thread)', 'ms', 'GFLOP/s', 'cold ms', 'error vs stock'], lines, 2);
  return best;
}

/** The 2x2x2 stride-2 layers of one pass: stock conv3d / conv3dTranspose against the engine's space/depth + matmul. */
async function benchStrided(backend: BackendName, input: number[], width: number, reps: number): Promise<string[][]> {
  const config = variantConfig('cmsvnetiter', { baseWidth: width });
  const lines: string[][] = [];
  for (const spec of layerSpecs(config)) {
    if (spec.kind !== 'down' && spec.kind !== 'up') continue;
    const down = spec.kind === 'down';
    const s = Number(spec.name.replace(/^(down|up)/, ''));
    // down s reads stage s's level (s - 1); up s reads the level below decoder stage s (10 - s).
    const level = down ? s - 1 : 10 - s;
    const [d, h, w] = input.map((n) => n / 2 ** level);
    const [rows, cols] = spec.shape;
    const cin = down ? rows / 8 : rows;
    const cout = down ? cols : cols / 8;
    const x = tf.randomNormal([1, d, h, w, cin], 0, 1, 'float32', 5) as tf.Tensor5D;
    const kernel = tf.randomNormal(spec.shape as [number, number], 0, 0.1, 'float32', 6) as tf.Tensor2D;
    const run = (stock: boolean) => () => (down ? ops.downConv(x, kernel, { stock }) : ops.upConv(x, kernel, { stock }));
    const stock = await timeIt(run(true), reps);
    const ours = await timeIt(run(false), reps);
    const gmac = (d * h * w * cin * cout * (down ? 1 : 8)) / 1e9;
    lines.push([backend, `${spec.name} ${d}x${h}x${w} ${cin}->${cout}`, gmac.toFixed(3), stock.warm.toFixed(2), ours.warm.toFixed(2), `${(stock.warm / ours.warm).toFixed(1)}x`]);
    tf.dispose([x, kernel]);
  }
  return lines;
}

/**
 * One forward pass of the whole network with stock tfjs kernels for every convolution (conv3d,
 * strided conv3d, conv3dTranspose) against the engine's own paths, cold and warm.
 */
async function wholePass(backend: BackendName, input: number[], width: number, reps: number, tuned?: Record<string, Tiling>) {
  await tryBackend(backend);
  const config = variantConfig('cmsvnetiter', { baseWidth: width });
  const raw = initWeights(config, 1);
  const weights = foldBatchNorm(config, raw);
  const voi = tf.randomNormal([1, input[0], input[1], input[2], 1], 0, 1, 'float32', 4) as tf.Tensor5D;
  const pass = (kernels: ops.KernelOptions) => () =>
    tf.tidy(() => {
      // One scalar that depends on every output is read back, so all queued GPU work is timed
      // but not the copy of megabytes of output; one output can be the input itself (no prior).
      const outputs = Object.values(forwardPass(config, weights, voi, undefined, { kernels })).filter((t): t is tf.Tensor => t instanceof tf.Tensor && t !== voi);
      return tf.addN(outputs.map((t) => tf.sum(t)));
    });
  let stock: { cold: number; warm: number } | undefined;
  let stockSingle: { cold: number; warm: number } | undefined;
  if (!SKIP_STOCK) {
    stock = await timeIt(pass({ stock: true }), reps);
    stockSingle = await timeIt(pass({ stock: true }), reps, 1);
    if (process.argv.includes('--profile')) await printProfile('whole pass, stock', pass({ stock: true }));
  }
  let xnnpack: { cold: number; warm: number } | undefined;
  if (backend === 'wasm') xnnpack = await timeIt(pass(XNNPACK), reps);
  const given = { tilings: GIVEN_TILINGS };
  const ours = await timeIt(pass(given), reps);
  const oursSingle = await timeIt(pass(given), reps, 1);
  if (process.argv.includes('--profile')) await printProfile('whole pass, ours (its own convolution programs show as "unnamed scope")', pass(given));
  const oursTuned = tuned ? await timeIt(pass({ tilings: tuned }), reps) : undefined;
  tf.dispose([voi, ...Object.values(raw), ...Object.values(weights)]);
  console.error(`  ${backend} whole pass: stock ${stock?.warm.toFixed(1) ?? 'skipped'}, ours ${ours.warm.toFixed(1)} ms${oursTuned ? `, tuned ${oursTuned.warm.toFixed(1)} ms` : ''}`);
  return { stock, xnnpack, ours, oursTuned, stockSingle, oursSingle };
}

/** A Markdown table, aligned for reading in a terminal too; the first `textColumns` are left-aligned. */
function printTable(header: string[], lines: string[][], textColumns: number): void {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => (i < textColumns ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  console.log(fmt(header));
  console.log(`|${widths.map((w, i) => (i < textColumns ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const l of lines) console.log(fmt(l));
}

async function main() {
  tf.env().set('PROD', true);
  const webgpuWhy = installNodeWebGPU();
  const input = arg('input', '32x16x32').split('x').map(Number);
  const width = Number(arg('width', '8'));
  const reps = Number(arg('reps', '5'));
  const grad = process.argv.includes('--grad');
  SKIP_STOCK = process.argv.includes('--skip-stock');
  const backends = arg('backends', 'webgpu,wasm,cpu').split(',') as BackendName[];
  INNER = backends.length === 1 && backends[0] === 'webgpu' ? 10 : 1;
  const staging = process.argv.includes('--staging') ? (arg('staging', '') as Staging) : undefined;
  if (staging && staging !== 'direct' && staging !== 'workgroup') throw new Error(`--staging must be direct or workgroup, got ${staging}`);
  if (staging && grad) throw new Error('--staging applies to the forward only');
  if (input.length !== 3 || input.some((n) => !(n > 0) || n % 16)) throw new Error(`--input must be DxHxW with multiples of 16, got ${arg('input', '')}`);
  const layers = convLayers(input, width);
  const sweepOut = process.argv.includes('--sweep') ? arg('sweep', '') : '';
  const tilingsIn = process.argv.includes('--tilings') ? arg('tilings', '') : '';
  let tuned: Record<string, Tiling> | undefined = tilingsIn ? JSON.parse(fs.readFileSync(tilingsIn, 'utf8')) : undefined;
  GIVEN_TILINGS = tuned;
  const layersJson = process.argv.includes('--layers-json') ? arg('layers-json', '') : '';
  if (layersJson) {
    // The same layer list for the PyTorch/cuDNN reference (bench/gpu/torch_reference.py).
    fs.writeFileSync(layersJson, JSON.stringify(layers.map((l) => ({ x: l.x, cout: l.cout, count: l.names.length }))));
    console.log(`wrote ${layers.length} layer shapes to ${layersJson}`);
    process.exit(0);
  }
  const software = (globalThis as { __abusSoftwareWebGPU?: string }).__abusSoftwareWebGPU;
  console.log(`3x3x3 convolutions of one CMSVNetIter pass (one of its ${variantConfig('cmsvnetiter').iterations} iterations), input ${input.join('x')}, width ${width}, ${grad ? 'backward (dx + dW)' : 'forward'}`);
  console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model}; webgpu adapter: ${webgpuWhy ?? software ?? 'hardware'}; median of ${reps} after one cold call`);
  console.log("stock = tf.conv3d; ours = fastConv3x3 on webgpu, ops.conv3x3 on wasm; xnnpack = ops.conv3x3 on wasm with the SIMD kernel off; 'kernel' says which of ours ran\n");

  if (sweepOut) {
    const why = await tryBackend('webgpu');
    if (why) throw new Error(`--sweep needs webgpu: ${why}`);
    tuned = await sweep(layers, reps);
    fs.writeFileSync(sweepOut, JSON.stringify(tuned, null, 1));
    console.log(`wrote the fastest tiling of ${Object.keys(tuned).length} shapes to ${sweepOut}`);
  }

  const all: Row[] = [];
  for (const backend of backends) {
    const rows = await benchBackend(backend, layers, reps, grad, staging);
    if (typeof rows === 'string') console.log(`${backend}: skipped (${rows})`);
    else all.push(...rows);
  }

  const gflops = (gmac: number, ms?: number) => (ms ? ((2 * gmac) / (ms / 1000)).toFixed(2) : '');
  const ms = (t?: { warm: number }) => (t ? t.warm.toFixed(1) : '');
  printTable(
    ['backend', 'layer (DxHxW cin->cout)', 'kernel', 'x', 'GMAC', 'stock ms', 'stock GFLOP/s', 'xnnpack ms', 'xnnpack GFLOP/s', 'ours ms', 'ours GFLOP/s', 'vs stock', 'vs xnnpack', 'ours cold ms', 'error vs stock'],
    all.map((r) => [
      r.backend,
      r.layer,
      r.kernel,
      String(r.count),
      r.gmac.toFixed(3),
      ms(r.stock),
      gflops(r.gmac, r.stock?.warm),
      ms(r.xnnpack),
      gflops(r.gmac, r.xnnpack?.warm),
      ms(r.ours),
      gflops(r.gmac, r.ours?.warm),
      r.ours && r.stock ? `${(r.stock.warm / r.ours.warm).toFixed(1)}x` : '',
      r.ours && r.xnnpack ? `${(r.xnnpack.warm / r.ours.warm).toFixed(2)}x` : '',
      r.ours ? r.ours.cold.toFixed(0) : '',
      r.error !== undefined ? r.error.toExponential(1) : '',
    ]),
    3,
  );

  // Whole pass: each shape's time times how often it occurs.
  console.log('\nAll 3x3x3 layers of one pass (sum of count x median):');
  const totals: string[][] = [];
  for (const backend of new Set(all.map((r) => r.backend))) {
    const rows = all.filter((r) => r.backend === backend);
    // Cold: a pass that compiles each shape's pipeline once, at its first occurrence.
    const sum = (pick: (r: Row) => { warm: number; cold: number } | undefined, cold = false) =>
      rows.every((r) => pick(r)) ? rows.reduce((s, r) => s + (cold ? pick(r)!.cold - pick(r)!.warm : 0) + r.count * pick(r)!.warm, 0) : undefined;
    const gmac = rows.reduce((s, r) => s + r.count * r.gmac, 0);
    const stock = sum((r) => r.stock);
    const xnn = sum((r) => r.xnnpack);
    const ours = sum((r) => r.ours);
    const oursCold = sum((r) => r.ours, true);
    totals.push([
      backend,
      gmac.toFixed(3),
      stock?.toFixed(1) ?? '',
      gflops(gmac, stock),
      xnn?.toFixed(1) ?? '',
      gflops(gmac, xnn),
      ours?.toFixed(1) ?? '',
      gflops(gmac, ours),
      stock && ours ? `${(stock / ours).toFixed(1)}x` : '',
      xnn && ours ? `${(xnn / ours).toFixed(2)}x` : '',
      oursCold?.toFixed(0) ?? '',
    ]);
  }
  printTable(['backend', 'GMAC', 'stock ms', 'stock GFLOP/s', 'xnnpack ms', 'xnnpack GFLOP/s', 'ours ms', 'ours GFLOP/s', 'vs stock', 'vs xnnpack', 'ours cold ms'], totals, 1);

  if (!grad) {
    console.log('\n2x2x2 stride-2 layers: stock conv3d / conv3dTranspose vs space/depth + matmul:');
    const strided: string[][] = [];
    for (const backend of new Set(all.map((r) => r.backend)) as Set<BackendName>) {
      await tryBackend(backend);
      strided.push(...(await benchStrided(backend, input, width, reps)));
    }
    printTable(['backend', 'layer (DxHxW of the input, cin->cout)', 'GMAC', 'stock ms', 'ours ms', 'vs stock'], strided, 2);

    console.log('\nWhole forward pass (every layer: convolutions, batch norm folded, skips, classification branch):');
    const whole: string[][] = [];
    for (const backend of new Set(all.map((r) => r.backend)) as Set<BackendName>) {
      // With --sweep the default tilings and the swept ones are both timed, in the same run.
      const t = await wholePass(backend, input, width, reps, backend === 'webgpu' && sweepOut ? tuned : undefined);
      const single = `${t.stockSingle?.warm.toFixed(1) ?? '-'} / ${t.oursSingle.warm.toFixed(1)}`;
      const ratio = (base: { warm: number } | undefined, mine: { warm: number }) => (base ? `${(base.warm / mine.warm).toFixed(2)}x` : '');
      const stockCols = [t.stock?.cold.toFixed(0) ?? '', t.stock?.warm.toFixed(1) ?? ''];
      whole.push([backend, ...stockCols, t.xnnpack?.warm.toFixed(1) ?? '', t.ours.cold.toFixed(0), t.ours.warm.toFixed(1), ratio(t.stock, t.ours), ratio(t.xnnpack, t.ours), single]);
      if (t.oursTuned) whole.push([`${backend} (swept tilings)`, ...stockCols, '', t.oursTuned.cold.toFixed(0), t.oursTuned.warm.toFixed(1), ratio(t.stock, t.oursTuned), '', '']);
    }
    // 'ms' is the mean of back-to-back passes (see timeIt); 'one pass' also waits for each pass's read-back.
    printTable(['backend', 'stock cold ms', 'stock ms', 'xnnpack ms', 'ours cold ms', 'ours ms', 'vs stock', 'vs xnnpack', 'one pass at a time: stock / ours ms'], whole, 1);
  }
  delete (globalThis as { navigator?: unknown }).navigator;
  process.exit(0);
}

main().catch((err) => {
  console.error(`bench: error: ${err.message}`);
  process.exit(1);
});
