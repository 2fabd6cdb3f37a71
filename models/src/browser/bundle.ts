/**
 * Builds the browser bundles with esbuild: abus-engine.js (an ES module for pages) and
 * abus-worker.js (the analysis worker), plus tfjs-wasm's binaries beside them.
 * Usage: node models/dist/browser/bundle.js <out dir>
 */
import { build } from 'esbuild';
import * as fs from 'fs';
import * as path from 'path';

// Node built-ins referenced on code paths that only run in Node (guarded at run time).
const NODE_ONLY = ['fs', 'path', 'os', 'zlib', 'crypto', 'worker_threads', 'perf_hooks', 'module', 'url'];

export async function bundleBrowser(outDir: string): Promise<string[]> {
  const src = path.join(__dirname, '..', '..', 'src', 'browser');
  fs.mkdirSync(outDir, { recursive: true });
  const common = { bundle: true, platform: 'browser' as const, target: 'es2022', external: NODE_ONLY, minify: true, sourcemap: true, logLevel: 'warning' as const };
  await build({ ...common, entryPoints: [path.join(src, 'engine-client.ts')], format: 'esm', outfile: path.join(outDir, 'abus-engine.js') });
  await build({ ...common, entryPoints: [path.join(src, 'worker.ts')], format: 'iife', outfile: path.join(outDir, 'abus-worker.js') });
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
