// Builds the self-contained plugin folder extension/dist/abus-tumor-ai/ for `abus-ai install-ohif`:
// extension.js and mode.js (ES modules the viewer imports by URL), the analysis worker, tfjs-wasm's
// binaries, the shipped model, and a short install text.
const { build } = require('esbuild');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const out = path.join(__dirname, 'dist', 'abus-tumor-ai');
// Node built-ins referenced only on Node code paths of the engine (guarded at run time).
const NODE_ONLY = ['fs', 'path', 'os', 'zlib', 'crypto', 'worker_threads', 'perf_hooks', 'module', 'url'];
// The engine's TypeScript itself (its 'source' export condition), as ES modules that tree-shake.
const common = { bundle: true, platform: 'browser', target: 'es2022', external: NODE_ONLY, minify: true, sourcemap: true, logLevel: 'warning', conditions: ['source'], absWorkingDir: __dirname };

async function main() {
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  await build({ ...common, entryPoints: [path.join(__dirname, 'src', 'index.ts')], format: 'esm', outfile: path.join(out, 'extension.js') });
  await build({ ...common, entryPoints: [path.join(root, 'mode', 'src', 'index.ts')], format: 'esm', outfile: path.join(out, 'mode.js') });
  // The mode's own npm package (build-time installs) ships the same module.
  fs.mkdirSync(path.join(root, 'mode', 'dist'), { recursive: true });
  fs.copyFileSync(path.join(out, 'mode.js'), path.join(root, 'mode', 'dist', 'mode.js'));
  await build({ ...common, entryPoints: ['@abus-tumor-ai/engine/worker'], format: 'iife', outfile: path.join(out, 'abus-worker.js') });
  const wasmDir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  for (const f of fs.readdirSync(wasmDir).filter((n) => n.endsWith('.wasm'))) fs.copyFileSync(path.join(wasmDir, f), path.join(out, f));
  const weights = path.join(root, 'models', 'weights', 'cmsvnetiter');
  if (fs.existsSync(weights)) fs.cpSync(weights, path.join(out, 'weights', 'cmsvnetiter'), { recursive: true });
  // Which release this folder is: install-ohif records it, --check reports it.
  const { version } = require(path.join(root, 'package.json'));
  fs.writeFileSync(path.join(out, 'plugin.json'), `${JSON.stringify({ name: 'abus-tumor-ai', version }, null, 2)}\n`);
  fs.writeFileSync(path.join(out, 'INSTALL.txt'), [
    'ABUS Tumor AI plugin for OHIF 3.13 (research use only, not for clinical diagnosis).',
    '',
    'Install into a prebuilt viewer (its dist folder), no rebuild needed (see docs/deploy.md):',
    '  npx --yes ./abus-tumor-ai-<version>.tgz install-ohif --viewer <OHIF dist folder> [--base-url <path the viewer is served under>]',
    'Check which OHIF a folder is and whether the plugin is installed:',
    '  npx --yes ./abus-tumor-ai-<version>.tgz install-ohif --viewer <OHIF dist folder> --check',
    'Remove it again (the viewer is restored byte for byte):',
    '  npx --yes ./abus-tumor-ai-<version>.tgz install-ohif --viewer <OHIF dist folder> --uninstall',
    '',
    'Settings (window.config.abusTumorAI in app-config.js): weightsUrl, backend (auto, webgpu,',
    'webgl, wasm, cpu), decisionThreshold, segFlavour (binary or labelmap), exportTarget',
    '(dicomweb or download), assetsUrl (where this folder is served, for build-time installs).',
    '',
    'Build-time install (OHIF source tree): list @abus-tumor-ai/extension and @abus-tumor-ai/mode in',
    "pluginConfig.json, copy this folder into the viewer's public folder and set assetsUrl to it.",
    '',
  ].join('\n'));
  console.log(`plugin: ${fs.readdirSync(out).join(', ')}`);
}

main().catch((err) => {
  console.error(`extension build: error: ${err.message}`);
  process.exit(1);
});
