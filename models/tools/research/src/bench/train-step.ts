/**
 * Training-step speed per backend, side by side in one run: ms per step, samples/s and GFLOP/s,
 * and each backend's speed-up over stock tfjs-cpu (the only stock backend that can train this
 * network: tfjs-wasm has no Conv2DBackpropFilter, and its stock conv3dTranspose is wrong).
 * On webgpu it times stock tfjs-webgpu convolutions and the project's own kernels (engine/webgpu), on wasm
 * XNNPACK conv2d for every convolution and the engine with its SIMD kernel (engine/wasm).
 * 'torch' times the PyTorch trainer (models/torch, same network, loss and optimiser) in the same
 * run, on a CUDA GPU when it sees one (bf16 with --bf16), else on this machine's CPU cores.
 * Usage: npm run bench:train -- [--width 4] [--grid 32,16,32] [--batch 1] [--steps 2] [--backends cpu,wasm,webgpu,torch] [--software-webgpu] [--bf16]
 */
import { spawnSync } from 'child_process';
import { defaultPython, TORCH_DIR } from '../train/torch-run';
import { BackendName } from '@abus-tumor-ai/engine';
import { classWeights, forwardMacs, initWeights, toVariables, Trainer, tryBackend, variantConfig } from '@abus-tumor-ai/engine/lab';
import { installNodeWebGPU } from '@abus-tumor-ai/engine/node';
import { profileKernels } from './profile';
import * as tf from '@tensorflow/tfjs-core';
import * as os from 'os';
import { arg } from './args';

/** stock: tfjs's own 3x3x3 convolutions; xnnpack: the engine with its wasm SIMD kernel off; own: the engine. */
type Kernels = 'stock' | 'xnnpack' | 'own';

async function timeSteps(backend: BackendName, width: number, grid: number[], batch: number, steps: number, kernels: Kernels): Promise<number | string> {
  const why = await tryBackend(backend);
  if (why) return why;
  const stock = kernels === 'stock';
  const config = variantConfig('cmsvnetiter', { baseWidth: width });
  const trainer = new Trainer(config, toVariables(initWeights(config, 1)), tf.train.adam(1e-3), classWeights(1, 1), undefined, undefined, { stock: stock ? 'conv3x3' : false, simdConv: kernels !== 'xnnpack' });
  const [gx, gy, gz] = grid;
  const data = {
    voi: tf.randomNormal([batch, gz, gy, gx, 1], 0, 1, 'float32', 1) as tf.Tensor5D,
    mask: tf.cast(tf.greater(tf.randomUniform([batch, gz, gy, gx, 1], 0, 1, 'float32', 2), 0.7), 'float32') as tf.Tensor5D,
    label: tf.tensor2d(Array.from({ length: batch }, (_, i) => i % 2), [batch, 1]),
  };
  await trainer.step(data); // warm-up: kernel compilation and buffer allocation
  const times: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    await trainer.step(data);
    times.push(performance.now() - t0);
  }
  if (process.argv.includes('--profile') && !stock) {
    const p = await profileKernels(async () => {
      await trainer.step(data);
      return [];
    });
    const top = p.byName.slice(0, 15).map((e) => `${e.name} ${e.ms.toFixed(1)} ms`);
    console.log(`GPU time by tfjs kernel, one ${backend} step (own convolutions as 'unnamed scope'): ${p.calls} calls; ${top.join(', ')}`);
  }
  trainer.dispose();
  tf.dispose(Object.values(data));
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

/** One PyTorch timing, as abus_torch.bench_step prints it; a string says why it could not run. */
function timeTorch(width: number, grid: number[], batch: number, steps: number): { ms: number; device: string; paths: Record<string, { msPerStep: number }> } | string {
  const args = ['-m', 'abus_torch.bench_step', '--width', String(width), '--grid', grid.join(','), '--batch', String(batch), '--steps', String(steps), '--threads', String(os.cpus().length)];
  if (process.argv.includes('--bf16')) args.push('--bf16');
  const r = spawnSync(defaultPython(), args, { cwd: TORCH_DIR, encoding: 'utf8' });
  if (r.status !== 0) return `PyTorch did not run: ${(r.stderr || String(r.error)).trim().split('\n').pop()}`;
  const out = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { msPerStep: number; device: string; torch: string; bf16: boolean; paths?: Record<string, { msPerStep: number }> };
  return { ms: out.msPerStep, device: `${out.device}, torch ${out.torch}${out.bf16 ? ', bf16' : ''}`, paths: out.paths ?? {} };
}

async function main() {
  tf.env().set('PROD', true);
  installNodeWebGPU();
  const width = Number(arg('width', '4'));
  const grid = arg('grid', '32,16,32').split(',').map(Number) as [number, number, number];
  const batch = Number(arg('batch', '1'));
  const steps = Number(arg('steps', '2'));
  const flopPerStep = 3 * 2 * forwardMacs(variantConfig('cmsvnetiter', { baseWidth: width }), grid) * batch;
  console.log(`CMSVNetIter training step, width ${width}, grid ${grid.join('x')}, batch ${batch}, median of ${steps} after one warm-up`);
  console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model}; ${(flopPerStep / 1e9).toFixed(1)} GFLOP per step (3x forward)\n`);
  const rows: { name: string; ms: number | string }[] = [];
  let torchSpeedup = '';
  const software = Boolean((globalThis as { __abusSoftwareWebGPU?: string }).__abusSoftwareWebGPU);
  // --torch alone: only the PyTorch trainer (its plain and fast paths).
  const wanted = process.argv.includes('--torch') && !process.argv.includes('--backends') ? ['torch'] : arg('backends', 'cpu,wasm,webgpu,torch').split(',');
  const candidates = [
    ['cpu (stock tfjs kernels)', 'cpu', 'stock'],
    ['wasm (XNNPACK conv2d for every convolution, own gradient)', 'wasm', 'xnnpack'],
    ['wasm (engine: SIMD kernel where it fits, else XNNPACK; own gradient)', 'wasm', 'own'],
    ['webgpu (stock tfjs-webgpu convolutions)', 'webgpu', 'stock'],
    ['webgpu (engine: own kernels)', 'webgpu', 'own'],
  ] as const;
  for (const [name, backend, kernels] of candidates.filter(([, b]) => wanted.includes(b))) {
    // SwiftShader emulates a GPU on the same cores: minutes per step, and it says nothing about GPU speed.
    const ms = backend === 'webgpu' && software && !process.argv.includes('--software-webgpu')
      ? 'only a software WebGPU adapter (SwiftShader); pass --software-webgpu to time it anyway'
      : await timeSteps(backend, width, grid, batch, steps, kernels);
    console.error(`  ${name}: ${typeof ms === 'number' ? `${ms.toFixed(0)} ms/step` : ms}`);
    rows.push({ name, ms });
  }
  if (wanted.includes('torch')) {
    const t = timeTorch(width, grid, batch, steps);
    if (typeof t === 'string') rows.push({ name: 'PyTorch trainer (models/torch)', ms: t });
    // On a CPU: the plain path (before issue #21) and the fast one (oneDNN layouts), timed in turn.
    else for (const [path, p] of Object.entries(t.paths)) rows.push({ name: `PyTorch trainer (models/torch, ${path} path; ${t.device})`, ms: p.msPerStep });
    const { plain, fast } = typeof t === 'string' ? ({} as Record<string, undefined>) : t.paths;
    if (plain && fast) torchSpeedup = `PyTorch fast path vs plain path, same run: ${((batch * 1000) / plain.msPerStep).toFixed(3)} -> ${((batch * 1000) / fast.msPerStep).toFixed(3)} samples/s, ${(plain.msPerStep / fast.msPerStep).toFixed(2)}x`;
    console.error(`  PyTorch: ${typeof t === 'string' ? t : Object.entries(t.paths).map(([k, p]) => `${k} ${p.msPerStep.toFixed(0)} ms/step`).join(', ')}`);
  }
  const base = rows[0].ms;
  console.log(`| backend | ms/step | samples/s | GFLOP/s | vs ${rows[0]?.name} |`);
  console.log('|---|---|---|---|---|');
  for (const r of rows) {
    if (typeof r.ms === 'string') {
      console.log(`| ${r.name} | skipped: ${r.ms} | | | |`);
      continue;
    }
    const ratio = typeof base === 'number' ? `${(base / r.ms).toFixed(1)}x` : 'n/a';
    console.log(`| ${r.name} | ${r.ms.toFixed(0)} | ${((batch * 1000) / r.ms).toFixed(2)} | ${(flopPerStep / 1e6 / r.ms).toFixed(2)} | ${ratio} |`);
  }
  const tfjsBest = Math.min(...rows.filter((r) => !r.name.startsWith('PyTorch') && typeof r.ms === 'number').map((r) => r.ms as number));
  if (torchSpeedup) console.log(`\n${torchSpeedup}`);
  const torch = rows.filter((r) => r.name.startsWith('PyTorch') && typeof r.ms === 'number').sort((x, y) => (x.ms as number) - (y.ms as number))[0];
  if (torch && typeof torch.ms === 'number' && Number.isFinite(tfjsBest)) console.log(`\nPyTorch trainer vs the fastest tfjs trainer here: ${(tfjsBest / torch.ms).toFixed(1)}x the samples/s`);
  delete (globalThis as { navigator?: unknown }).navigator;
}

main().catch((err) => {
  console.error(`bench: error: ${err.message}`);
  process.exit(1);
});
