/**
 * The build-time install path: extension and mode are npm packages an OHIF source build can list
 * in its pluginConfig.json (id = package name, OHIF keywords, peers at OHIF 3.13's versions).
 */
import { execFileSync } from 'child_process';
import { dirname, join, relative, resolve } from 'path';
import { ohifDist } from './e2e/ohif-dist';
import * as fs from 'fs';

const ROOT = join(__dirname, '..');
const pkg = (dir: string) => JSON.parse(fs.readFileSync(join(ROOT, dir, 'package.json'), 'utf8'));
/** The workspace packages, as the root package.json lists them. */
const WORKSPACES: string[] = pkg('.').workspaces;

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

/**
 * The packages meet only at their entry points: no relative import leaves its package (or reaches
 * into one from test/), and a package name is imported only through an entry its package.json
 * exports. Test code may import the shared test helpers in test/.
 */
test('no import reaches into another package; packages are imported by their exported entries', () => {
  const packages = WORKSPACES;
  const packageOf = (file: string) => packages.find((p) => file.startsWith(`${p}/`)) ?? (file.startsWith('test/') ? 'test' : 'other');
  const exported = new Set<string>();
  for (const p of packages) {
    const { name, exports } = pkg(p);
    for (const entry of Object.keys(exports ?? { '.': null })) exported.add(entry === '.' ? name : `${name}/${entry.slice(2)}`);
  }
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '*.ts'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter((f) => f && !f.includes('/dist/'));
  const violations: string[] = [];
  for (const file of files) {
    const from = packageOf(file);
    const source = fs.readFileSync(join(ROOT, file), 'utf8');
    for (const m of source.matchAll(/(?:from|import|require)\s*\(?\s*'([^']+)'/g)) {
      const spec = m[1];
      if (spec.startsWith('.')) {
        const to = packageOf(relative(ROOT, resolve(ROOT, dirname(file), spec)));
        const testHelper = to === 'test' && (from === 'test' || file.endsWith('.test.ts'));
        if (to !== from && !testHelper) violations.push(`${file}: '${spec}' reaches into ${to}`);
      } else if (spec.startsWith('@abus-tumor-ai/') && !exported.has(spec)) {
        violations.push(`${file}: '${spec}' is not an entry point its package exports`);
      }
    }
  }
  expect(violations).toEqual([]);
});

test('the layering diagram in docs/architecture.md names exactly the imports between packages', () => {
  const doc = fs.readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
  const drawn = [...doc.matchAll(/^- (\w+) -> (\w+)$/gm)].map((m) => `${m[1]} -> ${m[2]}`).sort();
  const folders: Record<string, string> = Object.fromEntries(WORKSPACES.map((p) => [p.split('/').pop()!, p]));
  const short = (name: string) => name.replace('@abus-tumor-ai/', '').split('/')[0];
  const found = new Set<string>();
  for (const [from, folder] of Object.entries(folders)) {
    const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '*.ts'], { cwd: join(ROOT, folder), encoding: 'utf8' }).split('\n').filter((f) => f && !f.includes('dist/') && !f.endsWith('.test.ts'));
    for (const f of files) {
      for (const m of fs.readFileSync(join(ROOT, folder, f), 'utf8').matchAll(/from '(@abus-tumor-ai\/[^']+)'/g)) if (short(m[1]) !== from) found.add(`${from} -> ${short(m[1])}`);
    }
  }
  // mode names the extension by package name in its extensions map, not by an import.
  if (/@abus-tumor-ai\/extension/.test(fs.readFileSync(join(ROOT, 'mode', 'src', 'index.ts'), 'utf8'))) found.add('mode -> extension');
  expect(drawn).toEqual([...found].sort());
});

/**
 * One Node.js version is declared everywhere, and it is one every locked dependency accepts (so
 * `npm ci` on it prints no EBADENGINE): dcmjs 0.52 declares node >= 22.13, so that is the floor.
 */
test('the declared Node.js version is the same in every package.json and the lock file, and every locked package accepts it', () => {
  const semver: { minVersion(range: string): { version: string } | null; satisfies(version: string, range: string): boolean } = require('semver');
  const lock = JSON.parse(fs.readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  const declared = pkg('.').engines.node as string;
  for (const dir of WORKSPACES) {
    expect(pkg(dir).engines).toEqual({ node: declared });
    expect(lock.packages[dir].engines).toEqual({ node: declared });
  }
  expect(lock.packages[''].engines).toEqual({ node: declared });
  const lowest = semver.minVersion(declared)!.version;
  const refusing = Object.entries(lock.packages as Record<string, { engines?: { node?: string } }>)
    .filter(([, p]) => typeof p.engines?.node === 'string')
    // The lowest declared version and any later one (no locked package may cap the range).
    .filter(([, p]) => !semver.satisfies(lowest, p.engines!.node!) || !semver.satisfies('99.0.0', p.engines!.node!))
    .map(([name, p]) => `${name} (node ${p.engines!.node})`);
  expect(refusing).toEqual([]);
  // The floor is not lower than some locked package needs, nor arbitrarily higher than the highest floor among them.
  const floors = Object.entries(lock.packages as Record<string, { engines?: { node?: string }; link?: boolean }>)
    .filter(([name, p]) => name.startsWith('node_modules/') && !name.startsWith('node_modules/@abus-tumor-ai/') && typeof p.engines?.node === 'string')
    .map(([, p]) => semver.minVersion(p.engines!.node!)!.version);
  const highest = floors.sort((a, b) => (semver.satisfies(a, `>${b}`) ? 1 : -1)).pop();
  expect(lowest).toBe(highest);
});

/** Every relative import between a package's own source files (tests left out), file to file. */
function importGraph(folder: string): Map<string, string[]> {
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '*.ts'], { cwd: join(ROOT, folder), encoding: 'utf8' })
    .split('\n').filter((f) => f && !f.includes('dist/') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'));
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const targets: string[] = [];
    for (const m of fs.readFileSync(join(ROOT, folder, f), 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.[^']*)'/g)) {
      const base = join(dirname(f), m[1]);
      const target = [`${base}.ts`, join(base, 'index.ts')].find((t) => files.includes(t));
      if (target) targets.push(target);
    }
    graph.set(f, targets);
  }
  return graph;
}

/** The strongly connected components of more than one file (Tarjan): each is an import cycle. */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        component.push(w);
      } while (w !== v);
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

test('no package has an import cycle among its own files', () => {
  const found = WORKSPACES.flatMap((p) => cycles(importGraph(p)).map((c) => `${p}: ${c.join(' <-> ')}`));
  expect(found).toEqual([]);
});
