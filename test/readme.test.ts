/**
 * The README followed as written: every command of its ```sh blocks is either run here or listed
 * in NOT_RUN with the reason, so a command added to the README without a way to check it fails.
 *
 * - `npx abus-ai ...` runs inside the clone, as the README says; npx resolves it there to
 *   node_modules/.bin/abus-ai, which is what runs here, in a temporary folder (so the files the
 *   commands write land there, not in the clone).
 * - `npx --yes ./abus-tumor-ai-0.1.0.tgz ...` runs from a folder holding the tarball that the
 *   release step makes, with the viewer folder the README names (nginx's web root) replaced by a
 *   stand-in OHIF 3.13.2 dist: the test must not write into the machine's web root.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { nodeGzipCodec, parseNrrd } from '@abus-tumor-ai/engine/node';
import { fakeViewer } from './fixtures/fake-ohif';
import { releaseTarball } from './e2e/release-artifact';
import { prerequisites } from './prerequisites';

const ROOT = path.join(__dirname, '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const VERSION = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-readme-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** Every line of every ```sh block, with the section (## heading) it is in. */
function readmeCommands(): { section: string; command: string }[] {
  const out: { section: string; command: string }[] = [];
  let section = '';
  let inSh = false;
  for (const line of README.split('\n')) {
    if (line.startsWith('## ')) section = line.slice(3).trim();
    else if (line.trim() === '```sh') inSh = true;
    else if (line.trim() === '```') inSh = false;
    else if (inSh && line.trim()) out.push({ section, command: line.trim() });
  }
  return out;
}

/** Commands not run here, and why. */
const NOT_RUN: [RegExp, string][] = [
  [/^npm ci && npm start$/, 'starts a server and, on its first run, downloads OHIF (npm pack): test/e2e runs `abus-ai viewer`, what npm start starts'],
  [/^npm test$/, 'this test suite itself'],
  [/^sudo apt-get install /, 'installs system packages; test/system-packages.test.ts holds this line to .ci/system-packages'],
  [/^npx abus-ai (train .*\/path\/to\/data|calibrate --weights runs\/mine\/model|eval --data \/path\/to\/held-out|install-ohif --viewer \/path\/to\/ohif) /, 'the "Train on your own data" example: placeholders for the user\'s data and an hour of GPU training; test/train-eval.test.ts runs train, calibrate and eval on small settings'],
];

const commands = readmeCommands();
const cli = commands.filter((c) => c.command.startsWith('npx abus-ai ') && !NOT_RUN.some(([re]) => re.test(c.command)));
const release = commands.filter((c) => c.command.startsWith(`npx --yes ./abus-tumor-ai-${VERSION}.tgz `));

test('every README command is run here or listed, with the reason, as not run', () => {
  const unhandled = commands.filter((c) => !cli.includes(c) && !release.includes(c) && !NOT_RUN.some(([re]) => re.test(c.command)));
  expect(unhandled).toEqual([]);
  expect(cli.length).toBeGreaterThanOrEqual(4);
  expect(release.length).toBe(3);
});

const shipped = prerequisites(['wasm', 'shipped model'], "the README's command-line examples");
shipped.describe('"The command line", in a fresh folder, in order', () => {
  const bin = path.join(ROOT, 'node_modules', '.bin', 'abus-ai');
  const results: { command: string; status: number | null; stdout: string; stderr: string }[] = [];

  shipped.beforeAll(() => {
    // npx abus-ai inside the clone: npm ci links the tools' bin here.
    expect(fs.realpathSync(bin)).toBe(path.join(ROOT, 'models', 'tools', 'cli', 'bin', 'abus-ai.js'));
    for (const { command } of cli) {
      const r = spawnSync(process.execPath, [bin, ...command.split(/\s+/).slice(2)], { cwd: work, encoding: 'utf8', timeout: 150_000 });
      results.push({ command, status: r.status, stdout: r.stdout, stderr: r.stderr });
      if (r.status !== 0) break;
    }
  }, 300_000);

  test('each command exits 0 with no error line', () => {
    expect(results.map((r) => [r.command, r.status, r.stderr.split('\n').filter((l) => /error/i.test(l))])).toEqual(cli.map((c) => [c.command, 0, []]));
  });

  test("the infer centres are the phantom's lesion, as voxel indices and in patient mm, and infer finds it there", () => {
    const phantom = JSON.parse(fs.readFileSync(path.join(work, 'data', 'phantoms.json'), 'utf8')).cases[0];
    const centres = cli.filter((c) => c.command.includes(' infer ')).map((c) => /--center (\S+)/.exec(c.command)![1].split(',').map(Number));
    expect(centres[0]).toEqual(phantom.clickCenter);
    expect(centres[1]).toEqual(phantom.clickCenterMm);
    const mask = parseNrrd(fs.readFileSync(path.join(work, 'data', 'MASK_000.nrrd')), { codec: nodeGzipCodec() });
    const [i, j, k] = phantom.clickCenter;
    expect(mask.data[i + mask.dims[0] * (j + mask.dims[1] * k)]).toBe(1);
    const inferJson = JSON.parse(results.find((r) => r.command.includes('--out mask.nrrd'))!.stdout);
    expect(inferJson.found).toBe(true);
    expect(fs.existsSync(path.join(work, 'mask.nrrd'))).toBe(true);
    for (const f of ['seg.dcm', 'sr.dcm']) expect(fs.existsSync(path.join(work, f))).toBe(true);
    const detect = JSON.parse(results.find((r) => r.command.includes(' detect '))!.stdout);
    expect(detect.notice).toMatch(/not for clinical diagnosis/);
  });
});

const built = prerequisites(['built plugin'], "the README's install-ohif commands (the release tarball)");
built.describe('"Install into your OHIF", with the release tarball', () => {
  test('npm run release leaves the tarball the README names in the root folder; its three commands work in order', () => {
    // What `npm run release` does after the build (models/tools/release/dist/release.js, whose default also copies the file to the root).
    const script = fs.readFileSync(path.join(ROOT, 'models', 'tools', 'release', 'src', 'release.ts'), 'utf8');
    expect(script).toContain('fs.copyFileSync(file, path.join(ROOT, path.basename(file)))');
    const tarball = releaseTarball();
    expect(path.basename(tarball)).toBe(`abus-tumor-ai-${VERSION}.tgz`);
    const folder = path.join(work, 'admin');
    fs.mkdirSync(folder, { recursive: true });
    fs.copyFileSync(tarball, path.join(folder, path.basename(tarball)));
    const viewer = path.join(work, 'nginx-html');
    fakeViewer(viewer, '3.13.2');
    const before = fs.readFileSync(path.join(viewer, 'app-config.js'));
    const outputs = release.map(({ command }) => {
      const [npx, ...args] = command.split(/\s+/);
      args[args.indexOf('--viewer') + 1] = viewer;
      // As written, with an npm cache of its own (as test/e2e/release-artifact.ts runs it).
      const r = spawnSync(npx, args, { cwd: folder, encoding: 'utf8', env: { ...process.env, npm_config_cache: path.join(folder, '.npm-cache'), npm_config_update_notifier: 'false' } });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    });
    expect(outputs.map((o) => o.status)).toEqual([0, 0, 0]);
    expect(outputs[0].stdout).toMatch(/OHIF 3\.13\.2 .*supported/);
    expect(outputs[1].stdout).toMatch(/installed ABUS Tumor AI/);
    expect(outputs[2].stdout).toMatch(/removed ABUS Tumor AI/);
    expect(fs.readFileSync(path.join(viewer, 'app-config.js'))).toEqual(before);
  }, 300_000);
});

test("the train example, as written but for the data folder, reaches the PyTorch trainer in models/torch with every option, its relative --out made absolute", () => {
  // The README's own line, its placeholder replaced by a small TDSC-ABUS-layout folder; Python is
  // a stand-in that records where it runs and what it is given (the real trainer's tests are
  // test/torch-parity.test.ts and models/tools/research/src/train/torch-train.test.ts). The line runs for
  // an hour on a GPU and calibrate then makes 600 phantoms, so the rest of the block is not run here.
  const line = commands.find((c) => c.command.startsWith('npx abus-ai train '))!.command;
  const folder = path.join(work, 'train');
  fs.mkdirSync(folder, { recursive: true });
  const data = path.join(folder, 'data');
  expect(spawnSync(process.execPath, [path.join(ROOT, 'models', 'tools', 'cli', 'bin', 'abus-ai.js'), 'phantom', '--out', data, '--count', '2', '--size-mm', '40,20,40'], { encoding: 'utf8' }).status).toBe(0);
  const python = path.join(folder, 'python');
  fs.writeFileSync(python, `#!/bin/sh\necho "$(pwd)" > "${path.join(folder, 'seen')}"\necho "$@" >> "${path.join(folder, 'seen')}"\n`, { mode: 0o755 });
  const args = line.replace('/path/to/data', data).split(/\s+/).slice(2);
  const r = spawnSync(process.execPath, [path.join(ROOT, 'models', 'tools', 'cli', 'bin', 'abus-ai.js'), ...args, '--python', python], { cwd: folder, encoding: 'utf8', timeout: 120_000 });
  expect(r.stderr).not.toMatch(/error/);
  expect(r.status).toBe(0);
  const [cwd, given] = fs.readFileSync(path.join(folder, 'seen'), 'utf8').split('\n');
  expect(cwd).toBe(path.join(ROOT, 'models', 'torch'));
  expect(given).toContain(`--out ${path.join(folder, 'runs', 'mine')} `);
  expect(given).toContain(`--samples ${path.join(folder, 'runs', 'mine', 'samples')} `);
  expect(given).toMatch(/--minutes 60\b/);
  expect(given).toMatch(/--bf16\b/);
}, 150_000);
