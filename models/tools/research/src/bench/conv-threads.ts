/**
 * How the project's WebAssembly SIMD 3x3x3 convolution scales with threads, as it runs in a
 * cross-origin isolated browser (conv-threads.ts there): threads on one shared WebAssembly.Memory,
 * each computing a slab of output planes. Node's worker_threads stand in for the browser's
 * workers, so this runs where there is no browser, e.g. on a many-core machine.
 * Usage: node models/tools/research/dist/bench/conv-threads.js [--max-threads n] [--runs 10]
 */
import * as os from 'os';
import { isMainThread, parentPort, Worker, workerData } from 'worker_threads';
import { instantiateConvKernel } from '@abus-tumor-ai/engine/lab';
import { arg } from './args';

/** The network's 3x3x3 layers on its 64 x 32 x 64 grid, width 16 (the shipped model): [d, h, w, cin, cout]. */
const LAYERS: [number, number, number, number, number][] = [
  [64, 32, 64, 1, 16],
  [64, 32, 64, 16, 16],
  [32, 16, 32, 32, 32],
  [16, 8, 16, 64, 64],
];

/** Int32 control words per thread: go, done, then z0, z1 and the layer index. */
const SLOT = 8;

if (!isMainThread) {
  const { memory, control, base, at } = workerData as { memory: WebAssembly.Memory; control: SharedArrayBuffer; base: number; at: number[][] };
  const kernel = instantiateConvKernel(memory);
  const c = new Int32Array(control);
  let seen = 0;
  parentPort!.postMessage('ready');
  for (;;) {
    Atomics.wait(c, base, seen);
    seen = Atomics.load(c, base);
    if (seen < 0) break;
    const [z0, z1, l] = [c[base + 2], c[base + 3], c[base + 4]];
    const [d, h, w, cin, cout] = LAYERS[l];
    kernel.conv3x3_planes(at[l][0], at[l][1], at[l][2], at[l][3], d, h, w, cin, cout, 1, z0, z1);
    Atomics.store(c, base + 1, seen);
    Atomics.notify(c, base + 1);
  }
  parentPort!.close();
} else {
  void (async () => {
    const maxThreads = Number(arg('max-threads', String(os.cpus().length)));
    const runs = Number(arg('runs', '10'));
    // One shared memory holding every layer's padded input, weights, bias and output.
    let bytes = 0;
    const at = LAYERS.map(([d, h, w, cin, cout]) => {
      const sizes = [(d + 2) * (h + 2) * (w + 2) * cin + 16, 27 * cin * cout, cout, d * h * w * cout];
      const offsets = sizes.map((n) => {
        const o = bytes;
        bytes += 4 * n + 64;
        return o;
      });
      return offsets;
    });
    const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) + 1, maximum: 65536, shared: true });
    const f32 = new Float32Array(memory.buffer);
    for (let i = 0; i < f32.length; i++) f32[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
    const main = instantiateConvKernel(memory);
    const control = new SharedArrayBuffer(4 * SLOT * maxThreads);
    const c = new Int32Array(control);
    const helpers = await Promise.all(Array.from({ length: maxThreads - 1 }, (_, i) => new Promise<Worker>((resolve) => {
      const worker = new Worker(__filename, { workerData: { memory, control, base: (i + 1) * SLOT, at } });
      worker.once('message', () => resolve(worker));
    })));
    let call = 0;
    const conv = (l: number, threads: number) => {
      const [d, h, w, cin, cout] = LAYERS[l];
      const step = Math.ceil(d / threads);
      call++;
      const started: number[] = [];
      for (let t = 1, z = step; t < threads && z < d; t++, z += step) {
        const base = t * SLOT;
        c.set([z, Math.min(d, z + step), l], base + 2);
        Atomics.store(c, base, call);
        Atomics.notify(c, base);
        started.push(base);
      }
      main.conv3x3_planes(at[l][0], at[l][1], at[l][2], at[l][3], d, h, w, cin, cout, 1, 0, Math.min(step, d));
      for (const base of started) for (let v = Atomics.load(c, base + 1); v !== call; v = Atomics.load(c, base + 1)) Atomics.wait(c, base + 1, v);
    };
    console.log(`SIMD 3x3x3 convolution on threads sharing one WebAssembly.Memory (Node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model}); median of ${runs}, GFLOP/s (speed-up over 1 thread)`);
    const counts = [1, 2, 4, 8, 16, 32].filter((n) => n <= maxThreads);
    console.log(`| layer [d,h,w,cin,cout] | ${counts.map((n) => `${n} thread${n > 1 ? 's' : ''}`).join(' | ')} |`);
    console.log(`|---|${counts.map(() => '--:').join('|')}|`);
    const totals = counts.map(() => 0);
    LAYERS.forEach((layer, l) => {
      const flops = 2 * 27 * layer.reduce((a, b) => a * b, 1);
      const cells = counts.map((n, k) => {
        conv(l, n);
        const times: number[] = [];
        for (let r = 0; r < runs; r++) {
          const t0 = performance.now();
          conv(l, n);
          times.push(performance.now() - t0);
        }
        const ms = times.sort((a, b) => a - b)[Math.floor(runs / 2)];
        totals[k] += ms;
        return ms;
      });
      console.log(`| ${layer.join(',')} | ${cells.map((ms) => `${(flops / ms / 1e6).toFixed(1)} (${(cells[0] / ms).toFixed(2)}x)`).join(' | ')} |`);
    });
    console.log(`| all four, ms | ${totals.map((ms) => `${ms.toFixed(1)} (${(totals[0] / ms).toFixed(2)}x)`).join(' | ')} |`);
    for (let t = 1; t < maxThreads; t++) {
      Atomics.store(c, t * SLOT, -1);
      Atomics.notify(c, t * SLOT);
    }
    await Promise.all(helpers.map((h) => new Promise((r) => h.once('exit', r))));
  })();
}
