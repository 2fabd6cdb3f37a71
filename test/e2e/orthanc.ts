/**
 * A real Orthanc (Debian's package, with its DICOMweb plugin) for end-to-end tests: a fresh
 * storage folder, loopback only, basic auth, stopped by the test.
 */
import { ChildProcess, spawn } from 'child_process';
import { tmpdir } from 'os';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { PREREQUISITES } from '../prerequisites';

export const ORTHANC = PREREQUISITES.orthanc.file;
const DICOMWEB_PLUGIN = PREREQUISITES['orthanc-dicomweb'].file;

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

export interface OrthancServer {
  url: string;
  /** The value of an Authorization header that Orthanc accepts. */
  authorization: string;
  upload(files: Uint8Array[]): Promise<void>;
  get(pathname: string): Promise<Response>;
  stop(): Promise<void>;
}

export async function startOrthanc(): Promise<OrthancServer> {
  const dir = fs.mkdtempSync(path.join(tmpdir(), 'abus-orthanc-'));
  const port = await freePort();
  const user = 'abus';
  const password = 'abus-test';
  const config = {
    Name: 'abus-test',
    StorageDirectory: path.join(dir, 'storage'),
    IndexDirectory: path.join(dir, 'index'),
    HttpPort: port,
    DicomServerEnabled: false,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: true,
    RegisteredUsers: { [user]: password },
    Plugins: [DICOMWEB_PLUGIN],
    DicomWeb: { Enable: true, Root: '/dicom-web/', EnableWado: true, WadoRoot: '/wado' },
  };
  fs.writeFileSync(path.join(dir, 'orthanc.json'), JSON.stringify(config));
  fs.mkdirSync(path.join(dir, 'logs'));
  const proc: ChildProcess = spawn(ORTHANC, [`--logdir=${path.join(dir, 'logs')}`, path.join(dir, 'orthanc.json')], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const get = (pathname: string) => fetch(`${url}${pathname}`, { headers: { Authorization: authorization } });
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      if ((await get('/system')).ok) break;
    } catch {
      // not listening yet
    }
    if (proc.exitCode !== null) throw new Error(`Orthanc exited with code ${proc.exitCode}; see ${path.join(dir, 'logs')}`);
    if (Date.now() > deadline) throw new Error('Orthanc did not start within 20 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    authorization,
    get,
    async upload(files) {
      for (const f of files) {
        const r = await fetch(`${url}/instances`, { method: 'POST', headers: { Authorization: authorization, 'Content-Type': 'application/dicom' }, body: new Blob([f as Uint8Array<ArrayBuffer>]) });
        if (!r.ok) throw new Error(`Orthanc refused an instance: HTTP ${r.status} ${await r.text()}`);
      }
    },
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
