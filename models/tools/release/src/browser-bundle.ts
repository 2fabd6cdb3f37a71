/**
 * Builds the browser bundles with esbuild: abus-engine.js (an ES module for pages) and
 * abus-worker.js (the analysis worker), plus tfjs-wasm's binaries beside them.
 * Usage: node models/tools/release/dist/browser-bundle.js <out dir>
 */
import { build } from 'esbuild';
import * as fs from 'fs';
import * as path from 'path';

// Node built-ins referenced on code paths that only run in Node (guarded at run time).
const NODE_ONLY = ['fs', 'path', 'os', 'zlib', 'crypto', 'worker_threads', 'perf_hooks', 'module', 'url'];

export async function bundleBrowser(out: string): Promise<string[]> {
  const outDir = path.resolve(out);
  fs.mkdirSync(outDir, { recursive: true });
  // The engine's own TypeScript (its packages' 'source' condition), so the bundle tree-shakes ES modules.
  const common = { bundle: true, platform: 'browser' as const, target: 'es2022', external: NODE_ONLY, minify: true, sourcemap: true, logLevel: 'warning' as const, conditions: ['source'], absWorkingDir: __dirname };
  await build({ ...common, entryPoints: ['@abus-tumor-ai/engine'], format: 'esm', outfile: path.join(outDir, 'abus-engine.js') });
  await build({ ...common, entryPoints: ['@abus-tumor-ai/engine/worker'], format: 'iife', outfile: path.join(outDir, 'abus-worker.js') });
  const wasmDir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  for (const f of fs.readdirSync(wasmDir).filter((n) => n.endsWith('.wasm'))) fs.copyFileSync(path.join(wasmDir, f), path.join(outDir, f));
  return fs.readdirSync(outDir);
}

if (require.main === module) {
  bundleBrowser(process.argv[2] ?? 'dist/browser').then(
    (files) => console.log(`browser bundle: ${files.join(', ')}`),
    (err) => {
      console.error(`bundle: error: ${err.message}`);
      process.exit(1);
    },
  );
}
