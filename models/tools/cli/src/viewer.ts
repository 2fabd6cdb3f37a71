/**
 * abus-ai viewer (what `npm start` runs): the real prebuilt OHIF 3.13 viewer with this plugin
 * installed by the same code as `abus-ai install-ohif`, showing a generated ABUS study from an
 * embedded DICOM JSON source (no server to install; SEG and SR then download), or the studies of
 * an existing DICOMweb server (`--dicomweb`; SEG and SR are then stored there by STOW-RS).
 */
import { Command, Option } from 'commander';
import type { AbusSettings } from '@abus-tumor-ai/extension/install';
import { BACKEND_ORDER } from '@abus-tumor-ai/engine/lab';
import { DEMO_PREFIX, DemoAnswer, demoAnswer, DemoStudy, ensureDemoStudy, MANIFEST_PATH, Proxy, serveViewer } from '@abus-tumor-ai/viewer';
import { installIntoViewer, OHIF_VERSION, ohifDistIn, PLUGIN_FOLDER } from '@abus-tumor-ai/extension/install';
import { PLUGIN_DIR, SHIPPED_WEIGHTS, WASM_DIR } from './layout';
import * as fs from 'fs';
import * as path from 'path';

const DICOMWEB_PREFIX = '/dicomweb';

/** app-config.js with one data source: the demo's DICOM JSON manifest, or the proxied DICOMweb server. */
export function viewerConfig(dicomweb: boolean): string {
  const source = dicomweb
    ? {
        namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
        sourceName: 'dicomweb',
        configuration: {
          friendlyName: 'DICOMweb server', name: 'dicomweb',
          wadoUriRoot: DICOMWEB_PREFIX, qidoRoot: DICOMWEB_PREFIX, wadoRoot: DICOMWEB_PREFIX,
          qidoSupportsIncludeField: false, supportsReject: false, imageRendering: 'wadors', thumbnailRendering: 'wadors',
          enableStudyLazyLoad: true, supportsFuzzyMatching: false, supportsWildcard: true, omitQuotationForMultipartRequest: true,
          bulkDataURI: { enabled: true },
        },
      }
    : {
        namespace: '@ohif/extension-default.dataSourcesModule.dicomjson',
        sourceName: 'dicomjson',
        configuration: { friendlyName: 'ABUS Tumor AI demo study', name: 'json' },
      };
  return `window.config = ${JSON.stringify({ routerBasename: null, extensions: [], modes: [], showStudyList: true, defaultDataSourceName: source.sourceName, dataSources: [source] }, null, 2)};\n`;
}

export interface ViewerOptions {
  dir: string;
  port: number;
  seed: number;
  small: boolean;
  backend: AbusSettings['backend'];
  dicomweb?: string;
  authorization?: string;
}

/** Prepares the viewer folder and starts serving it; resolves with what to tell the user. */
export async function startViewer(opts: ViewerOptions) {
  const dist = ohifDistIn(path.join(opts.dir, 'ohif'));
  const root = path.resolve(opts.dir, 'viewer');
  // The copy (about 230 MB) is made once: later runs rewrite only app-config.js and the plugin.
  if (!fs.existsSync(path.join(root, 'index.html'))) fs.cpSync(dist, root, { recursive: true });
  fs.writeFileSync(path.join(root, 'app-config.js'), viewerConfig(opts.dicomweb !== undefined));
  const study = opts.dicomweb ? undefined : ensureDemoStudy(path.resolve(opts.dir, opts.small ? 'study-small' : 'study'), { seed: opts.seed, small: opts.small });
  installIntoViewer(root, PLUGIN_DIR, '', {
    weightsUrl: `/${PLUGIN_FOLDER}/weights/cmsvnetiter/`,
    backend: opts.backend,
    segFlavour: 'binary',
    exportTarget: opts.dicomweb ? 'dicomweb' : 'download',
    ...(study ? { demoLesion: { centreMm: study.lesion.centreMm, radiusMm: 1.4 * study.lesion.radiusMm, label: DEMO_LABEL } } : {}),
  });
  if (opts.dicomweb) {
    const proxies: Proxy[] = [{ prefix: DICOMWEB_PREFIX, target: opts.dicomweb, authorization: opts.authorization }];
    const server = await serveViewer(root, { port: opts.port, proxies });
    return { server, study: undefined, answer: undefined, url: `${server.url}/`, serves: `the studies of ${opts.dicomweb} (through ${server.url}${DICOMWEB_PREFIX}); SEG and SR are stored there by STOW-RS` };
  }
  const answer = await demoAnswer(study!, SHIPPED_WEIGHTS, WASM_DIR);
  const server = await serveViewer(root, { port: opts.port, statics: { [DEMO_PREFIX]: study!.folder } });
  const url = `${server.url}/abus/dicomjson?url=${encodeURIComponent(`${server.url}${MANIFEST_PATH}`)}&StudyInstanceUIDs=${study!.studyInstanceUID}`;
  return { server, study, answer, url, serves: `a synthetic ABUS study (${study!.dims.join(' x ')} voxels) from ${study!.folder}; SEG and SR are downloaded` };
}

const percent = ([a, b]: [number, number]) => (Math.round(a * 100) === Math.round(b * 100) ? `${Math.round(a * 100)}%` : `${Math.round(a * 100)}-${Math.round(b * 100)}%`);

function modelWords(answer: DemoAnswer): string {
  const parts = [answer.verdicts.join(' or ')];
  if (answer.probability) parts.push(`P(malignant) ${percent(answer.probability)}`);
  if (answer.volumeMl) {
    const [low, high] = answer.volumeMl.map((v) => v.toFixed(2));
    parts.push(`${low === high ? low : `${low}-${high}`} mL`);
  }
  return parts.join(', ');
}

/** The ring's label in the views. */
export const DEMO_LABEL = 'demo lesion';

/**
 * The terminal's words on the demo lesion: where it is, in what OHIF shows (the axial view's image
 * number and the ring drawn there), what the phantom's files say it is, and what the model answers.
 */
export function demoDescription(study: DemoStudy, answer: DemoAnswer): string {
  const l = study.lesion;
  return [
    `The study has one phantom lesion, inside the dashed ring labelled "${DEMO_LABEL}" on image I:${l.slice} of ${l.of} in the axial view.`,
    `Its truth, from the generator: ${l.malignant ? 'malignant' : 'benign'}, ${l.volumeMl.toFixed(2)} mL.`,
    `What ${answer.model} answers there (run here on wasm, at its centre and 6 clicks around it): ${modelWords(answer)}. Model and truth can disagree: research use only, not for clinical diagnosis.`,
  ].join('\n');
}

export function registerViewer(program: Command): void {
  program
    .command('viewer')
    .description('serve the real OHIF 3.13 viewer with ABUS Tumor AI installed, on a generated ABUS study or an existing DICOMweb server')
    .option('--dir <folder>', 'working folder (viewer copy, OHIF download, generated study)', '.abus-demo')
    .option('--port <n>', 'port on 127.0.0.1 (0: any free port)', '3000')
    .option('--seed <n>', 'seed of the generated study', '7')
    .option('--small', 'a small crop instead of a full-size ABUS volume (865 x 608 x 330 voxels)')
    .option('--dicomweb <url>', 'use this DICOMweb server (its root, e.g. https://pacs.example/dicom-web) instead of the generated study')
    .option('--user <name>', 'user name for --dicomweb (basic auth)')
    .option('--password <secret>', 'password for --dicomweb (basic auth; or set ABUS_DICOMWEB_PASSWORD)')
    .option('--token <bearer>', 'bearer token for --dicomweb (or set ABUS_DICOMWEB_TOKEN)')
    .addOption(new Option('--backend <name>', 'preferred backend in the browser').choices(['auto', ...BACKEND_ORDER]).default('auto'))
    .action(async (opts) => {
      const password = opts.password ?? process.env.ABUS_DICOMWEB_PASSWORD;
      const token = opts.token ?? process.env.ABUS_DICOMWEB_TOKEN;
      const authorization = token ? `Bearer ${token}` : opts.user ? `Basic ${Buffer.from(`${opts.user}:${password ?? ''}`).toString('base64')}` : undefined;
      if (!opts.dicomweb && !opts.small) console.log('Preparing the viewer and, on the first run, a full-size synthetic ABUS study (about a minute)...');
      const running = await startViewer({ dir: opts.dir, port: Number(opts.port), seed: Number(opts.seed), small: opts.small === true, backend: opts.backend, dicomweb: opts.dicomweb, authorization });
      console.log(`\nABUS Tumor AI in OHIF ${OHIF_VERSION}: research use only, not for clinical diagnosis.`);
      console.log(`Serving ${running.serves}.`);
      if (running.study && running.answer) console.log(demoDescription(running.study, running.answer));
      console.log(`\nOpen ${running.url}\nChoose the "ABUS tumor" tool (toolbar or panel) and click the lesion.\nStop with Ctrl+C.`);
      const stop = () => void running.server.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await new Promise(() => undefined);
    });
}
