/**
 * Serves an OHIF dist folder on 127.0.0.1: the viewer's files (index.html for its client-side
 * routes), extra static folders (the demo study), and same-origin proxies to DICOMweb servers
 * that add the server's credentials, so the browser needs neither CORS nor the password.
 * Node's http module is enough for this; a web framework would add nothing.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as path from 'path';

const TYPES: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.png': 'image/png', '.woff2': 'font/woff2', '.bin': 'application/octet-stream',
  '.dcm': 'application/dicom', '.map': 'application/json',
};

export interface Proxy {
  /** Path prefix on the viewer's origin, e.g. '/dicomweb'. */
  prefix: string;
  /** Where it goes: the prefix is replaced by this URL. */
  target: string;
  /** An Authorization header value added to every request. */
  authorization?: string;
  /**
   * Keep the browser's Host header (Orthanc builds its BulkDataURIs from it, so they point back
   * through the proxy); otherwise the target's own host is sent.
   */
  keepHost?: boolean;
}

export interface ServeOptions {
  port?: number;
  proxies?: Proxy[];
  /** Extra static folders: URL prefix -> folder. */
  statics?: Record<string, string>;
  /** Headers on every response, e.g. COOP/COEP for a cross-origin isolated page. */
  headers?: Record<string, string>;
  /** Answers a request itself when it returns true (used to simulate a failing server). */
  intercept?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

export interface RunningServer {
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

function proxy(p: Proxy, req: http.IncomingMessage, res: http.ServerResponse): void {
  const target = new URL(p.target.replace(/\/+$/, '') + (req.url ?? '/').slice(p.prefix.length));
  const headers = { ...req.headers, ...(p.authorization ? { authorization: p.authorization } : {}) };
  if (!p.keepHost) headers.host = target.host;
  const client = target.protocol === 'https:' ? https : http;
  const upstream = client.request(target, { method: req.method, headers }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  });
  upstream.on('error', (err) => res.writeHead(502).end(`DICOMweb server unreachable: ${err.message}`));
  req.pipe(upstream);
}

function sendFile(res: http.ServerResponse, file: string): void {
  res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
  fs.createReadStream(file).pipe(res);
}

export async function serveViewer(root: string, options: ServeOptions = {}): Promise<RunningServer> {
  const statics = Object.entries(options.statics ?? {});
  const server = http.createServer((req, res) => {
    for (const [name, value] of Object.entries(options.headers ?? {})) res.setHeader(name, value);
    if (options.intercept?.(req, res)) return;
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const p = options.proxies?.find((x) => pathname === x.prefix || pathname.startsWith(`${x.prefix}/`));
    if (p) return proxy(p, req, res);
    for (const [prefix, folder] of statics) {
      if (!pathname.startsWith(prefix)) continue;
      const file = path.join(folder, pathname.slice(prefix.length));
      if (!file.startsWith(folder) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) return void res.writeHead(404).end();
      return sendFile(res, file);
    }
    let file = path.join(root, pathname);
    if (!file.startsWith(root)) return void res.writeHead(403).end();
    if (!fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      // A missing file is a 404 (a wrong weights URL must say so); only the viewer's own routes,
      // which have no file extension, get index.html.
      if (path.extname(pathname)) return void res.writeHead(404).end(`Not found: ${pathname}`);
      file = path.join(root, 'index.html');
    }
    sendFile(res, file);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
