/**
 * One list of the Debian packages the tests need (.ci/system-packages): every prerequisite of a
 * test (test/prerequisites.ts) comes from a package on it, .ci/run installs that list, and the
 * README's install command names exactly it. A machine that has only what .ci/run installs can
 * then run every test.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { PREREQUISITES, PYTHON } from './prerequisites';

const ROOT = path.join(__dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** The package names of a list file: one a line, `#` starts a comment. */
export function packageList(text: string): string[] {
  return text.split('\n').map((line) => line.replace(/#.*/, '').trim()).filter(Boolean);
}

const LIST = packageList(read('.ci/system-packages'));

/** The package names the README's `apt-get install` command names, as a shell in the root expands them. */
function readmeInstall(readme: string): string[] {
  const found = readme.match(/apt-get install -y ([^`\n]*)/);
  if (!found) throw new Error('the README has no `apt-get install -y ...` command');
  const expanded = spawnSync('sh', ['-c', `printf '%s\\n' ${found[1]}`], { cwd: ROOT, encoding: 'utf8' });
  return expanded.stdout.split(/\s+/).filter(Boolean);
}

/** The Debian package that owns a file, by dpkg's own record, or undefined where it is not installed. */
function owner(file: string): string | undefined {
  if (!fs.existsSync(file)) return undefined;
  const r = spawnSync('dpkg', ['-S', fs.realpathSync(file)], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split(':')[0] : undefined;
}

test('every prerequisite of a test comes from a package on the list', () => {
  const off = Object.entries(PREREQUISITES).flatMap(([name, p]) => p.debian.filter((d) => !LIST.includes(d)).map((d) => `${name} needs ${d}`));
  expect(off).toEqual([]);
});

test('the list has no repeats and nothing no prerequisite needs', () => {
  expect(new Set(LIST).size).toBe(LIST.length);
  const needed = new Set(Object.values(PREREQUISITES).flatMap((p) => p.debian));
  expect(LIST.filter((d) => !needed.has(d))).toEqual([]);
});

test("each prerequisite's file and Python module belong to the package it names, where installed", () => {
  const checked: string[] = [];
  for (const [name, p] of Object.entries(PREREQUISITES)) {
    let file = 'file' in p ? p.file : undefined;
    if ('python' in p && p.python && !p.missing()) {
      file = spawnSync(PYTHON, ['-c', `import ${p.python}; print(${p.python}.__file__)`], { encoding: 'utf8' }).stdout.trim();
    }
    const pkg = file && p.debian.length ? owner(file) : undefined;
    if (!pkg) continue;
    expect(`${name}: ${pkg}`).toBe(`${name}: ${p.debian[0]}`);
    checked.push(name);
  }
  // Under CI=true everything is installed, so every package-provided prerequisite was checked.
  if (process.env.CI === 'true') expect(checked.length).toBe(Object.values(PREREQUISITES).filter((p) => p.debian.length && ('file' in p || 'python' in p)).length);
});

test("the README's install command names exactly the list", () => {
  expect(readmeInstall(read('README.md')).sort()).toEqual([...LIST].sort());
});

test('.ci/run installs the list, then checks each tool it relies on', () => {
  const run = read('.ci/run');
  expect(run).toContain('.ci/system-packages');
  for (const tool of ['node', 'torch', 'chromium', 'Orthanc', 'nginx', 'dciodvfy']) expect(run).toContain(tool);
});

test('no test names a system program outside the table of prerequisites', () => {
  // Debian's python3 comes with python3-torch.
  const known = new Set([PYTHON, ...Object.values(PREREQUISITES).map((p) => ('file' in p ? p.file : undefined))]);
  const files = spawnSync('git', ['ls-files', '*.test.ts', 'test/*.ts', 'test/**/*.ts'], { cwd: ROOT, encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  expect(files.length).toBeGreaterThan(20);
  const strays = files.flatMap((f) => [...read(f).matchAll(/['"`](\/usr\/(?:s?bin|lib|share)\/[\w./-]+)['"`]/g)].map((m) => m[1]).filter((p) => !known.has(p)).map((p) => `${f}: ${p}`));
  // The Vulkan driver's manifest is Chromium's (jest.config.js sets it), not a program a test runs.
  expect(strays.filter((s) => !s.endsWith('vk_swiftshader_icd.json'))).toEqual([]);
});

test('the CI check of a missing prerequisite is written once, in test/prerequisites.ts', () => {
  const hits = spawnSync('git', ['grep', '-l', "process.env.CI === 'true'", '--', '*.ts', '*.js'], { cwd: ROOT, encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  expect(hits.filter((f) => f !== 'test/prerequisites.ts' && f !== 'test/system-packages.test.ts')).toEqual([]);
});
