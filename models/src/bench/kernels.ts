/**
 * Speed of the network's 3x3x3 convolutions, layer by layer, on every backend Node can start:
 * stock tf.conv3d against the engine's current path (ops.conv3x3) and, on webgpu, the project's
 * own implicit-GEMM kernel (engine/webgpu), cold (first call: pipeline compile) and warm.
 * Usage: npm run bench:kernels -- [--input 32x16x32] [--width 8] [--reps 5] [--backends webgpu,wasm,cpu]
 *   [--grad] [--staging direct|workgroup] [--layers-json <file>]
 * --input is depth x height x width of the volume; --grad times the backward pass (dx and dW)
 * instead of the forward; --staging forces one of our two kernels (default: the one
 * fastConv3x3 picks for the adapter, and stock tf.conv3d for layers below its MIN_VOXELS).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'fs';
import * as os from 'os';
import { BackendName, tryBackend } from '../engine/backend';
import { variantConfig } from '../engine/config';
import { forwardPass, initWeights, layerSpecs } from '../engine/network';
import { foldBatchNorm } from '../engine/weights';
import { installNodeWebGPU } from '../engine/node-webgpu';
import * as ops from '../engine/ops';
import '../engine/register-gradients';
import { Staging } from '../engine/webgpu/conv3d-program';
import { conv3x3WebGPU, defaultStaging, fastConv3x3, usesOwnKernel } from '../engine/webgpu/fast-conv';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

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

/** Median wall time of fn, each sample ending with a read-back so queued GPU work is included. */
async function timeIt(fn: () => tf.Tensor | tf.Tensor[], reps: number): Promise<{ cold: number; warm: number }> {
  const once = async () => {
    const t0 = performance.now();
    const out = fn();
    const list = Array.isArray(out) ? out : [out];
    await Promise.all(list.map((t) => t.data()));
    const ms = performance.now() - t0;
    tf.dispose(list);
    return ms;
  };
  const cold = await once();
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) samples.push(await once());
  samples.sort((a, b) => a - b);
  return { cold, warm: samples[Math.floor(samples.length / 2)] };
}

interface Row {
  backend: string;
  layer: string;
  count: number;
  gmac: number;
  kernel: string;
  stock?: { cold: number; warm: number };
  engine?: { cold: number; warm: number };
  ours?: { cold: number; warm: number };
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
    const kernel = backend !== 'webgpu' ? '' : own ? (staging ?? defaultStaging()) : 'stock';
    const row: Row = { backend, layer: `${l.x.slice(1, 4).join('x')} ${l.x[4]}->${l.cout}`, count: l.names.length, gmac: macs(l) / 1e9, kernel };
    if (grad) {
      // The forward and both gradients (dx, dW) of sum(dy * conv(x, k)), as a training step runs them.
      const backward = (conv: (a: tf.Tensor5D, b: tf.Tensor5D) => tf.Tensor5D) => () =>
        tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a as tf.Tensor5D, b as tf.Tensor5D), dy)))([x, k]);
      row.gmac *= 3; // forward + two backward GEMMs of the same size
      // Stock tfjs-wasm has no 3-D convolution gradient kernels; the engine's own gradient is timed there.
      row.stock = await timeIt(backward((a, b) => tf.conv3d(a, b, 1, 'same')), reps).catch(() => undefined);
      if (backend === 'wasm') row.engine = await timeIt(backward((a, b) => ops.conv3x3(a, b)), reps);
      if (backend === 'webgpu') row.ours = await timeIt(backward((a, b) => fastConv3x3(a, b)), reps);
    } else {
      row.stock = await timeIt(() => tf.conv3d(x, k, 1, 'same'), reps);
      if (backend === 'wasm') row.engine = await timeIt(() => ops.conv3x3(x, k), reps);
      if (backend === 'webgpu') row.ours = await timeIt(() => (staging ? conv3x3WebGPU(x, k, { staging }) : fastConv3x3(x, k)), reps);
    }
    tf.dispose([x, k, dy]);
    rows.push(row);
    console.error(`  ${backend} ${row.layer}: stock ${row.stock ? `${row.stock.warm.toFixed(1)} ms` : 'failed'}${row.ours ? `, ours ${row.ours.warm.toFixed(1)} ms (cold ${row.ours.cold.toFixed(0)} ms)` : ''}`);
  }
  return rows;
}

/**
 * One forward pass of the whole network with stock tfjs kernels for every convolution (conv3d,
 * strided conv3d, conv3dTranspose) against the engine's own paths, cold and warm.
 */
async function wholePass(backend: BackendName, input: number[], width: number, reps: number) {
  await tryBackend(backend);
  const config = variantConfig('cmsvnetiter', { baseWidth: width });
  const raw = initWeights(config, 1);
  const weights = foldBatchNorm(config, raw);
  const voi = tf.randomNormal([1, input[0], input[1], input[2], 1], 0, 1, 'float32', 4) as tf.Tensor5D;
  const pass = () => {
    // Every output is read back and disposed, so queued GPU work is timed and nothing leaks; one
    // of them can be the input itself (no prior), which must stay.
    return Object.values(forwardPass(config, weights, voi, undefined)).filter((t): t is tf.Tensor => t instanceof tf.Tensor && t !== voi);
  };
  ops.useStockKernels(true);
  const stock = await timeIt(pass, reps);
  ops.useStockKernels(false);
  const ours = await timeIt(pass, reps);
  tf.dispose([voi, ...Object.values(raw), ...Object.values(weights)]);
  console.error(`  ${backend} whole pass: stock ${stock.warm.toFixed(1)} ms, ours ${ours.warm.toFixed(1)} ms`);
  return { stock, ours };
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
  const backends = arg('backends', 'webgpu,wasm,cpu').split(',') as BackendName[];
  const staging = process.argv.includes('--staging') ? (arg('staging', '') as Staging) : undefined;
  if (staging && staging !== 'direct' && staging !== 'workgroup') throw new Error(`--staging must be direct or workgroup, got ${staging}`);
  if (staging && grad) throw new Error('--staging applies to the forward only');
  if (input.length !== 3 || input.some((n) => !(n > 0) || n % 16)) throw new Error(`--input must be DxHxW with multiples of 16, got ${arg('input', '')}`);
  const layers = convLayers(input, width);
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
  console.log("stock = tf.conv3d; engine = ops.conv3x3 (wasm: conv2d slices); ours = fastConv3x3 (webgpu only; 'kernel' says which ran)\n");

  const all: Row[] = [];
  for (const backend of backends) {
    const rows = await benchBackend(backend, layers, reps, grad, staging);
    if (typeof rows === 'string') console.log(`${backend}: skipped (${rows})`);
    else all.push(...rows);
  }

  const gflops = (gmac: number, ms?: number) => (ms ? ((2 * gmac) / (ms / 1000)).toFixed(2) : '');
  const ms = (t?: { warm: number }) => (t ? t.warm.toFixed(1) : '');
  printTable(
    ['backend', 'layer (DxHxW cin->cout)', 'kernel', 'x', 'GMAC', 'stock ms', 'stock GFLOP/s', 'engine ms', 'engine GFLOP/s', 'ours ms', 'ours GFLOP/s', 'vs stock', 'ours cold ms'],
    all.map((r) => [
      r.backend,
      r.layer,
      r.kernel,
      String(r.count),
      r.gmac.toFixed(3),
      ms(r.stock),
      gflops(r.gmac, r.stock?.warm),
      ms(r.engine),
      gflops(r.gmac, r.engine?.warm),
      ms(r.ours),
      gflops(r.gmac, r.ours?.warm),
      r.ours && r.stock ? `${(r.stock.warm / r.ours.warm).toFixed(1)}x` : '',
      r.ours ? r.ours.cold.toFixed(0) : '',
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
    const engine = sum((r) => r.engine);
    const ours = sum((r) => r.ours);
    const oursCold = sum((r) => r.ours, true);
    totals.push([
      backend,
      gmac.toFixed(3),
      stock?.toFixed(1) ?? '',
      gflops(gmac, stock),
      engine?.toFixed(1) ?? '',
      ours?.toFixed(1) ?? '',
      gflops(gmac, ours),
      stock && ours ? `${(stock / ours).toFixed(1)}x` : '',
      oursCold?.toFixed(0) ?? '',
    ]);
  }
  printTable(['backend', 'GMAC', 'stock ms', 'stock GFLOP/s', 'engine ms', 'ours ms', 'ours GFLOP/s', 'vs stock', 'ours cold ms'], totals, 1);

  if (!grad) {
    console.log('\nWhole forward pass (every layer: convolutions, batch norm folded, skips, classification branch):');
    const whole: string[][] = [];
    for (const backend of new Set(all.map((r) => r.backend)) as Set<BackendName>) {
      const t = await wholePass(backend, input, width, reps);
      whole.push([backend, t.stock.cold.toFixed(0), t.stock.warm.toFixed(1), t.ours.cold.toFixed(0), t.ours.warm.toFixed(1), `${(t.stock.warm / t.ours.warm).toFixed(1)}x`]);
    }
    printTable(['backend', 'stock cold ms', 'stock ms', 'ours cold ms', 'ours ms', 'vs stock'], whole, 1);
  }
  delete (globalThis as { navigator?: unknown }).navigator;
  process.exit(0);
}

main().catch((err) => {
  console.error(`bench: error: ${err.message}`);
  process.exit(1);
});
