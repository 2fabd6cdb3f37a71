/**
 * install-ohif on a stand-in viewer (test/e2e/install-ohif.test.ts uses the real OHIF): all or
 * nothing when a step fails, the lock, and --check of every installed file's SHA-256.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { installIntoViewer, LOCK_FILE, PLUGIN_FOLDER } from '@abus-tumor-ai/extension/install';
import { main } from '@abus-tumor-ai/cli';
import { fakePlugin, fakeViewer } from './fixtures/fake-ohif';

// The module object itself (not an import's namespace copy), so a spy reaches the installer's calls.
const realFs: typeof fs = require('fs');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-install-'));
const plugin = path.join(dir, 'plugin');
fakePlugin(plugin);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = jest.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    return { status: await main(['node', 'abus-ai', 'install-ohif', '--plugin', plugin, ...args]), stdout: out.join('\n'), stderr: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

/** Every file under a folder (hidden ones too) with its SHA-256. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(root, p)] = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    }
  };
  walk(root);
  return out;
}

function viewer(name: string): string {
  const folder = path.join(dir, name);
  fakeViewer(folder, '3.13.2');
  return folder;
}

test('install, --check verifies every file, --uninstall restores the viewer; no lock or temporary file is left', async () => {
  const v = viewer('plain');
  const before = snapshot(v);
  expect((await run('--viewer', v)).status).toBe(0);
  const check = await run('--viewer', v, '--check');
  expect(check.status).toBe(0);
  // extension.js, mode.js, weights/model.json, plugin.json (install.json records them, not itself).
  expect(check.stdout).toContain('4 of 4 installed files match their SHA-256 in abus-tumor-ai/install.json');
  expect(fs.readdirSync(v).filter((n) => n.startsWith('.'))).toEqual([]);
  expect((await run('--viewer', v, '--uninstall')).status).toBe(0);
  expect(snapshot(v)).toEqual(before);
});

test('--check names a missing installed file', async () => {
  const v = viewer('missing');
  expect((await run('--viewer', v)).status).toBe(0);
  fs.rmSync(path.join(v, PLUGIN_FOLDER, 'weights', 'model.json'));
  const check = await run('--viewer', v, '--check');
  expect(check.status).toBe(1);
  expect(check.stderr).toMatch(/^abus-ai: error: the installed plugin is damaged: abus-tumor-ai\/weights\/model\.json is missing \(install again\)$/);
});

describe('a step that fails leaves the viewer exactly as it was', () => {
  const settings = { weightsUrl: '/w/', backend: 'auto' as const, segFlavour: 'binary' as const, exportTarget: 'dicomweb' as const };
  afterEach(() => jest.restoreAllMocks());

  test.each<[string, () => void]>([
    ['app-config.js cannot be replaced (EPERM)', () => {
      const rename = realFs.renameSync;
      jest.spyOn(realFs, 'renameSync').mockImplementation((from, to) => {
        if (String(to).endsWith('app-config.js')) throw Object.assign(new Error(`EPERM: operation not permitted, rename '${from}' -> '${to}'`), { code: 'EPERM', syscall: 'rename', path: String(from), dest: String(to) });
        return rename(from, to);
      });
    }],
    ['the plugin cannot be copied (ENOSPC)', () => {
      jest.spyOn(realFs, 'cpSync').mockImplementation(() => {
        throw Object.assign(new Error('ENOSPC: no space left on device, copyfile'), { code: 'ENOSPC', syscall: 'copyfile', path: plugin });
      });
    }],
  ])('%s, over an earlier install', async (_name, fail) => {
    const v = viewer(`fail-${_name.split(' ')[0]}`);
    installIntoViewer(v, plugin, '', settings);
    const before = snapshot(v);
    fail();
    const r = await run('--viewer', v, '--backend', 'wasm');
    jest.restoreAllMocks();
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^abus-ai: error: .*(operation not permitted \(EPERM\)|no space left on the device \(ENOSPC\))$/);
    expect(snapshot(v)).toEqual(before);
  });
});

test('a lock left by a process that is gone is taken over', async () => {
  const v = viewer('stale-lock');
  fs.writeFileSync(path.join(v, LOCK_FILE), '2147483646\n'); // no such process
  expect((await run('--viewer', v)).status).toBe(0);
  expect(fs.existsSync(path.join(v, LOCK_FILE))).toBe(false);
  expect(fs.existsSync(path.join(v, PLUGIN_FOLDER, 'extension.js'))).toBe(true);
});
