/**
 * The real thing, end to end: phantom DICOM stored in a real Orthanc (DICOMweb plugin), shown by
 * the real prebuilt OHIF 3.13.2 viewer in headless Chromium. Screenshots go to test/artifacts/.
 */
import * as fs from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { PNG } from 'pngjs';
import { writeDicomSeries } from '@abus-tumor-ai/engine';
import { generatePhantom } from '@abus-tumor-ai/research';
import { launchChromium } from '../browser/chromium';
import { copyOfOhifDist } from './ohif-dist';
import { startOrthanc } from './orthanc';
import { prerequisites } from '../prerequisites';
import { serveViewer, testAppConfig } from './viewer-server';

const { it: maybe } = prerequisites(['chromium', 'orthanc', 'orthanc-dicomweb'], 'OHIF end-to-end tests');
const ARTIFACTS = join(__dirname, '..', 'artifacts');

/** Standard deviation of the grey levels of a PNG: a blank viewport is ~0, an image is not. */
function greyStd(png: Buffer): number {
  const { data } = PNG.sync.read(png);
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < data.length; i += 4) {
    const g = (data[i] + data[i + 1] + data[i + 2]) / 3;
    n++;
    sum += g;
    sumSq += g * g;
  }
  return Math.sqrt(sumSq / n - (sum / n) ** 2);
}

maybe('OHIF 3.13.2 shows a phantom US series stored in Orthanc', async () => {
  const orthanc = await startOrthanc();
  const phantom = generatePhantom({ seed: 7, spacing: [0.8, 0.4, 1.0] });
  const study = '2.25.7700001';
  const files = writeDicomSeries(phantom.volume, { uidSeed: 'e2e-7', studyInstanceUID: study, patientName: 'Phantom^Seven', patientId: 'PH7' }, 'single-frame');
  await orthanc.upload(files);
  const stored = await (await orthanc.get(`/dicom-web/studies/${study}/series`)).json();
  expect(stored).toHaveLength(1);

  const dist = copyOfOhifDist(fs.mkdtempSync(join(tmpdir(), 'ohif-')));
  fs.writeFileSync(join(dist, 'app-config.js'), testAppConfig());
  const viewer = await serveViewer(dist, orthanc);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${viewer.url}/viewer?StudyInstanceUIDs=${study}`);
    const viewport = page.locator('[data-viewportid]').first();
    await viewport.waitFor({ timeout: 60000 });
    // Wait until the image is drawn: the viewport stops being uniformly black.
    let std = 0;
    for (let i = 0; i < 60 && std < 5; i++) {
      await page.waitForTimeout(1000);
      std = greyStd(await viewport.screenshot());
    }
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'ohif-phantom-series.png') });
    expect(std).toBeGreaterThan(5);
    await expect(page.getByText(String(files.length), { exact: true }).first().isVisible()).resolves.toBe(true);
  } finally {
    await browser.close();
    await viewer.close();
    await orthanc.stop();
  }
}, 240000);
