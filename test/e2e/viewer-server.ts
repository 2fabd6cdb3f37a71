/**
 * The viewer served for tests (see models/tools/viewer/src/server.ts) with a same-origin DICOMweb proxy
 * to Orthanc, and a switch that makes the "PACS" refuse stores.
 */
import { serveViewer as serve } from '@abus-tumor-ai/viewer';

export interface ViewerServer {
  url: string;
  /** While set, DICOMweb stores (POST) are answered 503, as by a PACS that is down. */
  refuseStores: boolean;
  close(): Promise<void>;
}

export async function serveViewer(root: string, orthanc?: { url: string; authorization: string }): Promise<ViewerServer> {
  const state = { refuseStores: false };
  const proxies = orthanc ? ['/dicom-web', '/wado'].map((prefix) => ({ prefix, target: `${orthanc.url}${prefix}`, authorization: orthanc.authorization, keepHost: true })) : [];
  const running = await serve(root, {
    proxies,
    intercept: (req, res) => {
      if (!(state.refuseStores && req.method === 'POST')) return false;
      res.writeHead(503).end('PACS unavailable');
      return true;
    },
  });
  return {
    url: running.url,
    get refuseStores() {
      return state.refuseStores;
    },
    set refuseStores(v: boolean) {
      state.refuseStores = v;
    },
    close: running.close,
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
