/**
 * `npm start`'s main job (abus-ai viewer): the real OHIF 3.13.2 with the plugin, on the generated
 * study from the embedded DICOM JSON source, with the shipped model. A click on the lesion gives
 * a result, and export downloads the SEG and the SR.
 */
import * as fs from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { demoDescription, startViewer } from '@abus-tumor-ai/cli';
import { readBinarySeg, readMeasurementReport } from '../dicom-readers';
import { launchChromium } from '../browser/chromium';
import { OHIF_VERSION, ohifDist } from './ohif-dist';
import { svgTextOnceShown, waitForViewport } from './ohif-page';
import { startOrthanc } from './orthanc';
import { prerequisites } from '../prerequisites';

const ARTIFACTS = join(__dirname, '..', 'artifacts');
const withChromium = prerequisites(['chromium'], 'viewer demo test');

withChromium.it('the viewer demo serves the generated study; a click on the lesion gives a result; SEG and SR download', async () => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'abus-viewer-demo-'));
  // The OHIF download is shared with the other browser tests.
  fs.mkdirSync(join(dir, 'ohif'), { recursive: true });
  fs.symlinkSync(join(ohifDist(), '..', '..'), join(dir, 'ohif', `ohif-app-${OHIF_VERSION}`));
  const running = await startViewer({ dir, port: 0, seed: 7, small: true, backend: 'wasm' });
  const browser = await launchChromium();
  try {
    expect(running.serves).toMatch(/a synthetic ABUS study/);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
    await page.goto(running.url);
    await page.waitForFunction(() => ['ready', 'error'].includes(document.querySelector('[data-cy="abus-status"]')?.getAttribute('data-status') ?? ''), undefined, { timeout: 120000 });
    await expect(page.locator('[data-cy="abus-status"]').textContent()).resolves.toMatch(/^Model cmsvnetiter/);
    await waitForViewport(page);
    // The lesion where the demo says it is: on the image the axial view numbers as the terminal
    // printed it ("I:85 (85/160)"), inside the ring labelled "demo lesion".
    const l = running.study!.lesion;
    const description = demoDescription(running.study!, running.answer!);
    expect(description).toContain(`inside the dashed ring labelled "demo lesion" on image I:${l.slice} of ${l.of} in the axial view`);
    const shown = await page.evaluate(async (point) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const w = window as any;
      const cs = w.extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common').exports.getCornerstoneLibraries();
      const viewport = cs.cornerstone.getEnabledElementByViewportId('abus-axial').viewport;
      viewport.jumpToWorld(point);
      viewport.render();
      await new Promise((r) => setTimeout(r, 500));
      // The overlay is a sibling of the canvas's element: the nearest ancestor with text holds it.
      let el: HTMLElement | null = viewport.element;
      while (el && !el.textContent?.includes('I:')) el = el.parentElement;
      const [x, y] = viewport.worldToCanvas(point);
      const rect = viewport.element.getBoundingClientRect();
      return { overlay: el?.textContent ?? '', x: rect.left + x, y: rect.top + y };
    }, l.centreMm);
    expect(shown.overlay).toContain(`I:${l.slice} (${l.slice}/${l.of})`);
    expect((await svgTextOnceShown(page, ['abus-axial'], /demo lesion/))['abus-axial']).toContain('demo lesion');
    // The tool chosen, then one click in the axial view, which is not the active one: it analyses
    // at once (OHIF's default would spend that click on activating the view).
    expect(await page.evaluate(() => (window as unknown as { services: { viewportGridService: { getActiveViewportId(): string } } }).services.viewportGridService.getActiveViewportId())).not.toBe('abus-axial');
    await page.locator('[data-cy="abus-pick"]').click();
    const clicked = Date.now();
    await page.mouse.click(shown.x, shown.y);
    await page.waitForFunction(() => document.querySelector('[data-cy="abus-status"]')?.getAttribute('data-status') === 'running' || document.querySelector('[data-cy="abus-result"]') !== null, undefined, { timeout: 1000, polling: 50 });
    console.log(`viewer demo: the first click in the inactive axial view showed progress after ${Date.now() - clicked} ms`);
    const row = page.locator('[data-cy="abus-result"]').first();
    await row.waitFor({ timeout: 120000 });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    // OHIF's own investigational-use banner covers the lower views in the screenshot: hide it, as a user would.
    await page.getByText('Confirm and hide').click({ timeout: 2000 }).catch(() => undefined);
    await page.waitForTimeout(1500);
    await page.screenshot({ path: join(ARTIFACTS, 'viewer-demo-result.png') });
    expect(Number(await row.getAttribute('data-voxels'))).toBeGreaterThan(0);
    // The card says what the terminal said the model answers.
    const [low, high] = running.answer!.probability!;
    const p = Number(await row.getAttribute('data-probability'));
    expect(p).toBeGreaterThanOrEqual(low - 0.01);
    expect(p).toBeLessThanOrEqual(high + 0.01);
    expect(running.answer!.verdicts).toContain(await row.getAttribute('data-verdict'));
    console.log(`viewer demo: terminal "${description.split('\n').slice(1).join(' ')}"; card P ${await row.getAttribute('data-probability')}`);
    // Export with no DICOMweb server: the SEG and the SR download.
    const downloads: { name: string; bytes: Uint8Array }[] = [];
    page.on('download', async (d) => downloads.push({ name: d.suggestedFilename(), bytes: new Uint8Array(fs.readFileSync(await d.path())) }));
    await page.locator('[data-cy="abus-export"]').click();
    await page.getByText('SEG and SR downloaded').first().waitFor({ timeout: 30000 });
    for (let t = 0; t < 50 && downloads.length < 2; t++) await page.waitForTimeout(200);
    expect(downloads).toHaveLength(2);
    const seg = downloads.find((d) => d.name.includes('seg'))!;
    const sr = downloads.find((d) => d.name.includes('sr'))!;
    expect(readBinarySeg(seg.bytes).segments).toHaveLength(1);
    expect(readMeasurementReport(sr.bytes).lesions).toHaveLength(1);
  } finally {
    await browser.close();
    await running.server.close();
  }
}, 300000);

const withOrthanc = prerequisites(['chromium', 'orthanc', 'orthanc-dicomweb'], 'viewer demo test against DICOMweb');

withOrthanc.it('--dicomweb serves an existing server through a same-origin proxy that adds its credentials', async () => {
  const dir = fs.mkdtempSync(join(tmpdir(), 'abus-viewer-dicomweb-'));
  fs.mkdirSync(join(dir, 'ohif'), { recursive: true });
  fs.symlinkSync(join(ohifDist(), '..', '..'), join(dir, 'ohif', `ohif-app-${OHIF_VERSION}`));
  const orthanc = await startOrthanc();
  const running = await startViewer({ dir, port: 0, seed: 7, small: true, backend: 'auto', dicomweb: `${orthanc.url}/dicom-web`, authorization: orthanc.authorization });
  try {
    expect(running.serves).toMatch(/STOW-RS/);
    // Orthanc refuses requests without its credentials; through the proxy they are added.
    expect((await fetch(`${orthanc.url}/dicom-web/studies`)).status).toBe(401);
    const studies = await fetch(`${running.url}dicomweb/studies`);
    expect(studies.status).toBe(200);
    // A missing file is a 404 (a wrong weights URL says so); the viewer's routes get index.html.
    expect((await fetch(`${running.url}abus-tumor-ai/weights/missing/model-card.json`)).status).toBe(404);
    expect(await (await fetch(`${running.url}abus?StudyInstanceUIDs=1`)).text()).toContain('<html');
    const config = await (await fetch(`${running.url}app-config.js`)).text();
    expect(config).toContain('"wadoRoot": "/dicomweb"');
    expect(config).toContain('"exportTarget":"dicomweb"');
  } finally {
    await running.server.close();
    await orthanc.stop();
  }
});
