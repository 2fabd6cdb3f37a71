/** The release tarball (`npm run release`), built once per test process from the current build. */
import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import { tmpdir } from 'os';
import { join, relative } from 'path';

const ROOT = join(__dirname, '..', '..');
let built: string | undefined;

/** Path of abus-tumor-ai-<version>.tgz (needs `npm run build` done, as the whole suite does). */
export function releaseTarball(): string {
  if (built) return built;
  const out = fs.mkdtempSync(join(tmpdir(), 'abus-release-'));
  const line = execFileSync(process.execPath, [join(ROOT, 'models', 'tools', 'release', 'dist', 'release.js'), out], { encoding: 'utf8' });
  built = /release: (\S+\.tgz)/.exec(line)![1];
  return built;
}

/** Runs the tarball's abus-ai the way an administrator does: `npx --yes ./<tarball> ...`, in `cwd`, with an npm cache of its own. */
export function npxRelease(cwd: string, tarball: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const local = join(cwd, 'abus-tumor-ai.tgz');
  if (!fs.existsSync(local)) fs.copyFileSync(tarball, local);
  const r = require('child_process').spawnSync('npx', ['--yes', './abus-tumor-ai.tgz', ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_cache: join(cwd, '.npm-cache'), npm_config_update_notifier: 'false' },
  });
  // npm's own warnings (EBADENGINE on a Node.js older than the declared one) are npm's, not the CLI's lines.
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l: string) => !l.startsWith('npm warn')).join('\n') };
}

/** Every file of a folder by relative path, with its SHA-256: "byte for byte" as a value. */
export function treeHash(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}
