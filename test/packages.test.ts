/**
 * The build-time install path: extension and mode are npm packages an OHIF source build can list
 * in its pluginConfig.json (id = package name, OHIF keywords, peers at OHIF 3.13's versions).
 */
import { execFileSync } from 'child_process';
import { join } from 'path';
import { ohifDist } from './e2e/ohif-dist';
import * as fs from 'fs';

const ROOT = join(__dirname, '..');
const pkg = (dir: string) => JSON.parse(fs.readFileSync(join(ROOT, dir, 'package.json'), 'utf8'));

test('the packages carry OHIF keywords, a built entry and peers at the versions OHIF 3.13 pins', () => {
  const ohif = JSON.parse(fs.readFileSync(join(ohifDist(), '..', 'package.json'), 'utf8'));
  const extension = pkg('extension');
  const mode = pkg('mode');
  expect(extension.keywords).toContain('ohif-extension');
  expect(mode.keywords).toContain('ohif-mode');
  for (const p of [extension, mode]) {
    expect(fs.existsSync(join(ROOT, p === extension ? 'extension' : 'mode', p.main))).toBe(true);
    expect(p.peerDependencies['@ohif/core']).toBe(`^${ohif.dependencies['@ohif/core']}`);
  }
  expect(extension.peerDependencies.react).toBe(`^${ohif.dependencies.react}`);
  expect(mode.peerDependencies[extension.name]).toBe(extension.version);
  // Optional peers: the OHIF host provides them, and this repository's own install must not fetch OHIF.
  for (const p of [extension, mode]) for (const name of Object.keys(p.peerDependencies)) expect(p.peerDependenciesMeta[name]).toEqual({ optional: true });
  // The extension's id is its package name (OHIF registers build-time extensions under it).
  expect(fs.readFileSync(join(ROOT, 'extension', extension.main), 'utf8')).toContain(`"${extension.name}"`);
});

test('the mode package imports as an ES module and, bundled at build time, names the extension by package name', () => {
  const main = join(ROOT, 'mode', pkg('mode').main);
  const script = `const m = await import(${JSON.stringify(`file://${main}`)});
const basic = { routes: [{ path: 'x', layoutInstance: { props: { rightPanels: [] } } }], extensions: {} };
const mode = await m.default.modeFactory({ loadModules: async () => [{ modeInstance: basic }] });
console.log(JSON.stringify({ id: m.default.id, extensions: Object.keys(mode.extensions), protocol: mode.hangingProtocol }));`;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
  expect(out).toEqual({ id: pkg('mode').name, extensions: [pkg('extension').name], protocol: ['abusThreeView', 'default'] });
});

test('npm pack of the extension ships the plugin folder: modules, worker, wasm and the model', () => {
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: join(ROOT, 'extension'), encoding: 'utf8' }));
  const files: string[] = packed.files.map((f: { path: string }) => f.path);
  for (const f of ['extension.js', 'mode.js', 'abus-worker.js', 'tfjs-backend-wasm-simd.wasm', 'weights/cmsvnetiter/model.json']) {
    expect(files).toContain(`dist/abus-tumor-ai/${f}`);
  }
});
