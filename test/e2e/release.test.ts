/**
 * The release tarball on a machine with only Node.js: installed with `npx --yes ./<tarball>` from
 * a folder with no repository around it into a pristine OHIF 3.13.2 dist, checked, removed
 * (the viewer byte for byte as before), refused on another OHIF version, and re-installed after
 * an OHIF upgrade without an old app-config.js coming back.
 */
import * as fs from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { copyOfOhifDist, OHIF_VERSION } from './ohif-dist';
import { npxRelease, releaseTarball, treeHash } from './release-artifact';

const ROOT = join(__dirname, '..', '..');
let work: string;
let tarball: string;

beforeAll(() => {
  tarball = releaseTarball();
  work = fs.mkdtempSync(join(tmpdir(), 'abus-admin-'));
}, 180000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const abusAi = (...args: string[]) => npxRelease(work, tarball, args);

/** A copy of the dist whose About bundle says another version. */
function withVersion(dist: string, version: string): void {
  const bundle = fs.readdirSync(dist).find((n) => n.endsWith('.js') && fs.readFileSync(join(dist, n), 'latin1').includes(`versionNumber = "${OHIF_VERSION}"`))!;
  const file = join(dist, bundle);
  fs.writeFileSync(file, fs.readFileSync(file, 'latin1').replace(`versionNumber = "${OHIF_VERSION}"`, `versionNumber = "${version}"`), 'latin1');
}

test('the tarball is one self-contained package: the bundled CLI, the plugin and the model, no dependencies', () => {
  expect(work.startsWith(ROOT)).toBe(false);
  expect(fs.statSync(tarball).size).toBeGreaterThan(20 * 2 ** 20);
  const listing: string[] = require('child_process').execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
  for (const f of ['package/package.json', 'package/bin/abus-ai.js', 'package/README.md', 'package/plugin/abus-tumor-ai/extension.js', 'package/plugin/abus-tumor-ai/mode.js',
    'package/plugin/abus-tumor-ai/abus-worker.js', 'package/plugin/abus-tumor-ai/tfjs-backend-wasm-threaded-simd.wasm', 'package/plugin/abus-tumor-ai/weights/cmsvnetiter/model.json']) {
    expect(listing).toContain(f);
  }
  const pkg = JSON.parse(require('child_process').execFileSync('tar', ['xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
  expect(pkg.dependencies).toBeUndefined();
  expect(pkg.bin).toEqual({ 'abus-ai': 'bin/abus-ai.js' });
  expect(pkg.engines).toEqual(JSON.parse(fs.readFileSync(join(ROOT, 'package.json'), 'utf8')).engines);
});

test('install-ohif from the tarball into a pristine OHIF 3.13.2; --check; --uninstall restores the viewer byte for byte', () => {
  const dist = copyOfOhifDist(join(work, 'viewer'));
  const pristine = treeHash(dist);
  const check = abusAi('install-ohif', '--viewer', dist, '--check');
  expect(check.stderr).not.toMatch(/error/);
  expect(check.status).toBe(0);
  expect(check.stdout).toMatch(new RegExp(`^OHIF ${OHIF_VERSION.replace(/\./g, '\\.')} \\(read from \\S+\\.js\\): supported; this plugin \\(\\d+\\.\\d+\\.\\d+\\) supports OHIF 3\\.13\\.x\\nABUS Tumor AI is not installed\\nindex.html's inline scripts, for a Content-Security-Policy script-src: ('sha256-[A-Za-z0-9+/=]+' ?)+\\n$`));
  // The nginx CSP in the repository lists exactly those.
  const listed = check.stdout.match(/'sha256-[^']+'/g)!;
  for (const hash of listed) expect(fs.readFileSync(join(ROOT, 'extension', 'deploy', 'nginx', 'security-headers.conf.inc'), 'utf8')).toContain(hash);
  const install = abusAi('install-ohif', '--viewer', dist);
  expect(install.status).toBe(0);
  expect(install.stdout).toMatch(/^installed ABUS Tumor AI \d+\.\d+\.\d+ into .* \(OHIF 3\.13\.2, served at \/abus-tumor-ai\/\)/);
  for (const f of ['extension.js', 'mode.js', 'abus-worker.js', 'tfjs-backend-wasm-simd.wasm', 'weights/cmsvnetiter/model-card.json', 'install.json']) expect(fs.existsSync(join(dist, 'abus-tumor-ai', f))).toBe(true);
  expect(fs.readFileSync(join(dist, 'app-config.js'), 'utf8')).toContain("'/abus-tumor-ai/extension.js'");
  expect(abusAi('install-ohif', '--viewer', dist, '--check').stdout).toMatch(/\nABUS Tumor AI \d+\.\d+\.\d+ is installed \(onto OHIF 3\.13\.2, \d{4}-\d\d-\d\d\)\n/);
  const uninstall = abusAi('install-ohif', '--viewer', dist, '--uninstall');
  expect(uninstall.status).toBe(0);
  expect(treeHash(dist)).toEqual(pristine);
});

test('another OHIF version: --check says which and exits 1; install refuses and changes nothing', () => {
  const dist = copyOfOhifDist(join(work, 'viewer-3.14'));
  withVersion(dist, '3.14.0');
  const before = treeHash(dist);
  const check = abusAi('install-ohif', '--viewer', dist, '--check');
  expect(check.status).toBe(1);
  expect(check.stdout).toMatch(/^OHIF 3\.14\.0 \(read from \S+\.js\): not supported/);
  expect(check.stderr.trim()).toMatch(/^abus-ai: error: .*viewer-3\.14 is OHIF 3\.14\.0 \(read from \S+\.js\); this plugin supports OHIF 3\.13\.x only\./);
  const install = abusAi('install-ohif', '--viewer', dist);
  expect(install.status).toBe(1);
  expect(install.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^abus-ai: error: .* is OHIF 3\.14\.0 .*supports OHIF 3\.13\.x only.*\(or pass --any-version to try anyway\)$/)]);
  expect(treeHash(dist)).toEqual(before);
  // A dist with no version anywhere is refused too, rather than guessed.
  fs.writeFileSync(join(dist, fs.readdirSync(dist).find((n) => fs.readFileSync(join(dist, n), 'latin1').includes('versionNumber = "3.14.0"'))!), 'tampered');
  expect(abusAi('install-ohif', '--viewer', dist).stderr).toMatch(/no OHIF version found/);
});

test('after an OHIF upgrade (a new dist copied over the old one) the install works again and the old app-config.js never comes back', () => {
  const dist = copyOfOhifDist(join(work, 'viewer-upgraded'));
  expect(abusAi('install-ohif', '--viewer', dist).status).toBe(0);
  // The next OHIF release, pristine: another version and another app-config.js.
  const next = copyOfOhifDist(join(work, 'next-release'));
  withVersion(next, '3.13.3');
  fs.appendFileSync(join(next, 'app-config.js'), '\n// the site\'s settings for the new release\n');
  const upgraded = treeHash(next);
  fs.cpSync(next, dist, { recursive: true });
  expect(abusAi('install-ohif', '--viewer', dist, '--check').stdout).toMatch(/OHIF 3\.13\.3 .*supported.*\nthe abus-tumor-ai\/ folder is there but app-config\.js does not load it \(the viewer was replaced or upgraded since the install\): run install-ohif again\n/);
  const again = abusAi('install-ohif', '--viewer', dist);
  expect(again.status).toBe(0);
  expect(again.stdout).toMatch(/\(OHIF 3\.13\.3, served at/);
  expect(JSON.parse(fs.readFileSync(join(dist, 'abus-tumor-ai', 'install.json'), 'utf8')).ohif).toBe('3.13.3');
  expect(fs.readFileSync(join(dist, 'app-config.js'), 'utf8')).toContain("the site's settings for the new release");
  expect(abusAi('install-ohif', '--viewer', dist, '--uninstall').status).toBe(0);
  expect(treeHash(dist)).toEqual(upgraded);
  // Uninstalling straight after the upgrade (no re-install) also leaves the new release as it came.
  expect(abusAi('install-ohif', '--viewer', dist).status).toBe(0);
  fs.cpSync(next, dist, { recursive: true });
  expect(abusAi('install-ohif', '--viewer', dist, '--uninstall').stdout).toMatch(/^removed ABUS Tumor AI/);
  expect(treeHash(dist)).toEqual(upgraded);
});
