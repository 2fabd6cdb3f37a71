/**
 * Serves an OHIF dist folder on 127.0.0.1 with a same-origin DICOMweb proxy to Orthanc that adds
 * Orthanc's credentials and keeps the Host header (Orthanc builds BulkDataURIs from it), and
 * falls back to index.html for the viewer's client-side routes.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';

const TYPES: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.png': 'image/png', '.woff2': 'font/woff2', '.bin': 'application/octet-stream',
};

export interface ViewerServer {
  url: string;
  /** While set, DICOMweb stores (POST) are answered 503, as by a PACS that is down. */
  refuseStores: boolean;
  close(): Promise<void>;
}

export async function serveViewer(root: string, orthanc?: { url: string; authorization: string }): Promise<ViewerServer> {
  const state = { refuseStores: false };
  const server = http.createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (orthanc && (pathname.startsWith('/dicom-web/') || pathname.startsWith('/wado'))) {
      if (state.refuseStores && req.method === 'POST') return void res.writeHead(503).end('PACS unavailable');
      const target = new URL(req.url ?? '/', orthanc.url);
      const upstream = http.request(target, { method: req.method, headers: { ...req.headers, authorization: orthanc.authorization } }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', (err) => res.writeHead(502).end(`DICOMweb server unreachable: ${err.message}`));
      req.pipe(upstream);
      return;
    }
    let file = path.join(root, pathname);
    if (!file.startsWith(root)) return void res.writeHead(403).end();
    if (!fs.existsSync(file) || fs.statSync(file).isDirectory()) file = path.join(root, 'index.html');
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    get refuseStores() {
      return state.refuseStores;
    },
    set refuseStores(v: boolean) {
      state.refuseStores = v;
    },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** An app-config.js whose only data source is the proxied Orthanc, for tests. */
export function testAppConfig(extra = ''): string {
  return `window.config = {
  routerBasename: null,
  extensions: [],
  modes: [],
  showStudyList: true,
  defaultDataSourceName: 'orthanc',
  dataSources: [{
    namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
    sourceName: 'orthanc',
    configuration: {
      friendlyName: 'Orthanc (test)', name: 'orthanc',
      wadoUriRoot: '/wado', qidoRoot: '/dicom-web', wadoRoot: '/dicom-web',
      qidoSupportsIncludeField: false, supportsReject: false, imageRendering: 'wadors', thumbnailRendering: 'wadors',
      enableStudyLazyLoad: true, supportsFuzzyMatching: false, supportsWildcard: true, omitQuotationForMultipartRequest: true,
      bulkDataURI: { enabled: true },
    },
  }],
};
${extra}`;
}
