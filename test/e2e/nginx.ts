/**
 * Debian's nginx serving an OHIF dist with the repository's configuration
 * (extension/deploy/nginx/), as its own instance: a prefix folder with the pid, logs and temp
 * files, a free port, stopped by the test. Only the lines marked EDIT are changed, each checked to
 * be found, so the test serves what an administrator installs.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import { tmpdir } from 'os';
import * as path from 'path';
import { PREREQUISITES } from '../prerequisites';

export const NGINX = PREREQUISITES.nginx.file;
const DEPLOY = path.join(__dirname, '..', '..', 'extension', 'deploy', 'nginx');
export const SITE_CONF = path.join(DEPLOY, 'ohif-abus-tumor-ai.conf');
export const HEADERS_CONF = path.join(DEPLOY, 'security-headers.conf.inc');


async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function edit(text: string, from: RegExp, to: string): string {
  const count = (text.match(new RegExp(from.source, 'gm')) ?? []).length;
  if (!count) throw new Error(`${SITE_CONF} no longer has a line matching ${from}`);
  return text.replace(new RegExp(from.source, 'gm'), to);
}

export interface NginxServer {
  url: string;
  prefix: string;
  stop(): Promise<void>;
}

export async function startNginx(options: { root: string; orthanc: { url: string; authorization: string }; isolation: boolean }): Promise<NginxServer> {
  const prefix = fs.mkdtempSync(path.join(tmpdir(), 'abus-nginx-'));
  const port = await freePort();
  fs.mkdirSync(path.join(prefix, 'conf.d'));
  fs.mkdirSync(path.join(prefix, 'temp'));
  let site = fs.readFileSync(SITE_CONF, 'utf8');
  site = edit(site, /^(\s*)listen 80;.*$/, `$1listen 127.0.0.1:${port};`);
  site = edit(site, /^(\s*)root \/usr\/share\/nginx\/html;.*$/, `$1root ${options.root};`);
  site = edit(site, /^(\s*)set \$abus_coop "";.*$/, `$1set $abus_coop "${options.isolation ? 'same-origin' : ''}";`);
  site = edit(site, /^(\s*)set \$abus_coep "";.*$/, `$1set $abus_coep "${options.isolation ? 'require-corp' : ''}";`);
  site = edit(site, /^(\s*)set \$abus_orthanc_auth "";.*$/, `$1set $abus_orthanc_auth "${options.orthanc.authorization}";`);
  site = edit(site, /http:\/\/127\.0\.0\.1:8042\//, `${options.orthanc.url}/`);
  fs.writeFileSync(path.join(prefix, 'conf.d', 'ohif-abus-tumor-ai.conf'), site);
  fs.copyFileSync(HEADERS_CONF, path.join(prefix, 'conf.d', 'security-headers.conf.inc'));
  const temp = (name: string) => `${name}_temp_path ${path.join(prefix, 'temp', name)};`;
  // The frame Debian's /etc/nginx/nginx.conf gives a conf.d file, with everything inside the prefix.
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), [
    // Workers run as the test's user (root here), who can read the dist in its private temp folder.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    'daemon off;',
    'worker_processes 1;',
    `pid ${path.join(prefix, 'nginx.pid')};`,
    `error_log ${path.join(prefix, 'error.log')} warn;`,
    'events { worker_connections 256; }',
    'http {',
    '  include /etc/nginx/mime.types;',
    '  default_type application/octet-stream;',
    '  sendfile on;',
    `  access_log ${path.join(prefix, 'access.log')};`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((n) => `  ${temp(n)}`),
    '  include conf.d/*.conf;',
    '}',
    '',
  ].join('\n'));
  const args = ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-e', path.join(prefix, 'error.log')];
  const test = spawnSync(NGINX, [...args, '-t'], { encoding: 'utf8' });
  if (test.status !== 0) throw new Error(`nginx -t failed: ${test.stderr}`);
  const proc: ChildProcess = spawn(NGINX, args, { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      if ((await fetch(`${url}/app-config.js`)).ok) break;
    } catch {
      // not listening yet
    }
    if (proc.exitCode !== null) throw new Error(`nginx exited with code ${proc.exitCode}: ${fs.readFileSync(path.join(prefix, 'error.log'), 'utf8').slice(-2000)}`);
    if (Date.now() > deadline) throw new Error('nginx did not start within 20 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    prefix,
    async stop() {
      // SIGQUIT: a graceful stop of the master and its worker.
      proc.kill('SIGQUIT');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
      fs.rmSync(prefix, { recursive: true, force: true });
    },
  };
}
