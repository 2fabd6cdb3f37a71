/**
 * npm run release: ONE tarball an administrator installs from with only Node.js (no clone, no
 * build): `npx --yes ./abus-tumor-ai-<version>.tgz install-ohif --viewer <dist>`.
 * It holds bin/abus-ai.js (the CLI bundled with the engine inside: no dependencies to install),
 * plugin/abus-tumor-ai/ (the built plugin: extension, mode, worker, tfjs-wasm binaries, the
 * shipped model) and docs/deploy.md as its README. Run after `npm run build`.
 * Usage: node models/tools/release/dist/release.js [out dir, default models/tools/release/dist/release, and
 * then a copy in the repository's root, where the README's commands are run]
 */
import { build } from 'esbuild';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..', '..', '..');
/** This package's TypeScript (from dist/ or, under jest, src/). */
const SRC = path.join(__dirname, '..', 'src');

export async function release(outDir: string): Promise<string> {
  const root = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const plugin = path.join(ROOT, 'extension', 'dist', 'abus-tumor-ai');
  if (!fs.existsSync(path.join(plugin, 'extension.js'))) throw new Error(`The plugin is not built (${plugin}); run \`npm run build\` first`);
  const stage = path.join(path.resolve(outDir), 'package');
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(path.join(stage, 'bin'), { recursive: true });
  const common = {
    bundle: true, platform: 'node' as const, target: 'node20', format: 'cjs' as const, logLevel: 'warning' as const,
    // The packages' TypeScript (their 'source' export condition), so the bundle needs nothing from node_modules.
    conditions: ['source'], absWorkingDir: ROOT, legalComments: 'linked' as const,
    // Dawn's native addon cannot be bundled: without the `webgpu` package, WebGPU is skipped with its reason.
    external: ['webgpu'],
    define: { ABUS_RELEASE: 'true' },
    // tfjs-backend-cpu's sideEffects list names its browser files only, so its Node entry's
    // registration would be dropped; and the engine's require.resolve of tfjs-wasm is never
    // reached here (WASM_DIR is set instead).
    ignoreAnnotations: true,
    logOverride: { 'require-resolve-not-external': 'silent' as const },
  };
  await build({ ...common, entryPoints: [path.join(SRC, 'release-bin.ts')], outfile: path.join(stage, 'bin', 'abus-ai.js'), banner: { js: '#!/usr/bin/env node' } });
  // The training sampler's worker thread is loaded from beside the CLI (see research's train/sampler.ts).
  await build({ ...common, entryPoints: ['@abus-tumor-ai/research/sampler-worker'], outfile: path.join(stage, 'bin', 'sampler-worker.js') });
  fs.chmodSync(path.join(stage, 'bin', 'abus-ai.js'), 0o755);
  fs.cpSync(plugin, path.join(stage, 'plugin', 'abus-tumor-ai'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'docs', 'deploy.md'), path.join(stage, 'README.md'));
  const pkg = {
    name: root.name,
    version: root.version,
    description: root.description,
    license: root.license,
    bin: { 'abus-ai': 'bin/abus-ai.js' },
    engines: root.engines,
    files: ['bin', 'plugin', 'README.md'],
  };
  fs.writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  const name = execFileSync('npm', ['pack', '--silent', '--pack-destination', path.resolve(outDir)], { cwd: stage, encoding: 'utf8' }).trim().split('\n').pop() as string;
  return path.join(path.resolve(outDir), name);
}

if (require.main === module) {
  release(process.argv[2] ?? path.join(ROOT, 'models', 'tools', 'release', 'dist', 'release')).then(
    (file) => {
      console.log(`release: ${file} (${(fs.statSync(file).size / 2 ** 20).toFixed(1)} MB)`);
      // `npm run release` also leaves it in the repository's root, where the README's `npx --yes ./abus-tumor-ai-<version>.tgz` finds it.
      if (!process.argv[2]) {
        fs.copyFileSync(file, path.join(ROOT, path.basename(file)));
        console.log(`release: copied to ${path.join(ROOT, path.basename(file))}`);
      }
    },
    (err) => {
      console.error(`release: error: ${err.message}`);
      process.exit(1);
    },
  );
}
