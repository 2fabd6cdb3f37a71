/**
 * abus-ai install-ohif on the real prebuilt OHIF 3.13.2: idempotent, exactly reversible, and the
 * installed plugin's mode and panel come up in the real viewer with a real Orthanc behind it.
 */
import { execFileSync } from 'child_process';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { variantConfig } from '../../models/src/engine/config';
import { initWeights } from '../../models/src/engine/network';
import { foldBatchNorm, serializeModel } from '../../models/src/engine/weights';
import { writeModelFolder } from '../../models/src/engine/weights-node';
import { writeDicomSeries } from '../../models/src/io/dicom';
import { generatePhantom } from '../../models/src/phantom/generate';
import { chromiumMissing, launchChromium } from '../browser/chromium';
import { copyOfOhifDist } from './ohif-dist';
import { orthancMissing, startOrthanc } from './orthanc';
import { serveViewer, testAppConfig } from './viewer-server';

const BIN = join(__dirname, '..', '..', 'models', 'bin', 'abus-ai.js');
const ARTIFACTS = join(__dirname, '..', 'artifacts');
const abusAi = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
const skipBrowser = chromiumMissing() ?? orthancMissing();
if (skipBrowser && process.env.CI === 'true') throw new Error(`CI needs Chromium and Orthanc: ${skipBrowser}`);
if (skipBrowser) console.warn(`SKIP OHIF plugin browser test: ${skipBrowser}`);

test('install twice changes nothing; --uninstall restores app-config.js byte for byte', () => {
  const dist = copyOfOhifDist(fs.mkdtempSync(join(tmpdir(), 'ohif-install-')));
  const original = fs.readFileSync(join(dist, 'app-config.js'));
  abusAi('install-ohif', '--viewer', dist);
  const once = fs.readFileSync(join(dist, 'app-config.js'));
  expect(once.toString()).toContain("/abus-tumor-ai/extension.js");
  expect(once.toString()).toContain('window.config.abusTumorAI = {');
  expect(fs.existsSync(join(dist, 'abus-tumor-ai', 'mode.js'))).toBe(true);
  abusAi('install-ohif', '--viewer', dist);
  expect(fs.readFileSync(join(dist, 'app-config.js'))).toEqual(once);
  abusAi('install-ohif', '--viewer', dist, '--uninstall');
  expect(fs.readFileSync(join(dist, 'app-config.js'))).toEqual(original);
  expect(fs.existsSync(join(dist, 'abus-tumor-ai'))).toBe(false);
  expect(abusAi('install-ohif', '--viewer', dist, '--uninstall')).toMatch(/was not installed/);
  expect(() => execFileSync(process.execPath, [BIN, 'install-ohif', '--viewer', tmpdir()], { stdio: 'pipe' })).toThrow(/not an OHIF dist folder/);
});

(skipBrowser ? test.skip : test)('the installed mode and panel load in the real viewer and the model loads in the worker', async () => {
  const study = '2.25.7700002';
  const phantom = generatePhantom({ seed: 8, spacing: [0.8, 0.4, 1.0] });
  const dicom = writeDicomSeries(phantom.volume, { uidSeed: 'e2e-8', studyInstanceUID: study, patientName: 'Phantom^Eight', patientId: 'PH8' }, 'single-frame');
  const dist = copyOfOhifDist(fs.mkdtempSync(join(tmpdir(), 'ohif-plugin-')));
  fs.writeFileSync(join(dist, 'app-config.js'), testAppConfig());
  // An untrained model in the viewer's folder: this test checks loading, not predictions.
  await tf.setBackend('cpu');
  const architecture = variantConfig('cmsvnetiter', { baseWidth: 4 });
  const raw = initWeights(architecture, 3);
  const folded = foldBatchNorm(architecture, raw);
  await writeModelFolder(join(dist, 'test-weights'), await serializeModel(folded, {
    name: 'untrained-test', version: '0', architecture, decisionThreshold: 0.5, training: { data: 'nothing (untrained test model)' }, metrics: {},
    input: { grid: [32, 16, 32], voxelMm: 2, voiMm: [64, 32, 64], normalization: 'zscore-voi' },
  }));
  tf.dispose([...Object.values(raw), ...Object.values(folded)]);
  abusAi('install-ohif', '--viewer', dist, '--weights-url', '/test-weights/', '--backend', 'wasm');
  const orthanc = await startOrthanc();
  const viewer = await serveViewer(dist, orthanc);
  const browser = await launchChromium();
  try {
    await orthanc.upload(dicom);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${viewer.url}/abus?StudyInstanceUIDs=${study}`);
    await page.getByText('Research use only, not for clinical diagnosis.').first().waitFor({ timeout: 90000 });
    const status = page.locator('[data-cy="abus-status"]');
    await page.waitForFunction(() => ['ready', 'error'].includes(document.querySelector('[data-cy="abus-status"]')?.getAttribute('data-status') ?? ''), undefined, { timeout: 90000 });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'ohif-abus-panel.png') });
    expect(await status.getAttribute('data-status')).toBe('ready');
    expect(await status.textContent()).toMatch(/Model untrained-test 0, trained on nothing \(untrained test model\)\. Backend: wasm \(forced\)/);
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
    await viewer.close();
    await orthanc.stop();
  }
}, 300000);
