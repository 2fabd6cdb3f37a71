/**
 * A GE Invenia-style sweep (one Ultrasound Multi-frame Image, no per-frame positions, sweep
 * spacing not stated) in the real OHIF 3.13.2 with Orthanc: the click is analysed like a
 * single-frame series, the assumed geometry is shown, and the SEG references the right frames.
 */
import { execFileSync, spawnSync } from 'child_process';
import { tmpdir } from 'os';
import { join } from 'path';
import { readBinarySeg } from '../dicom-readers';
import { writeDicomSeries } from '@abus-tumor-ai/engine';
import { writeUntrainedModel } from '../fixtures/untrained-model';
import { generatePhantom } from '@abus-tumor-ai/tools';
import { chromiumMissing, launchChromium } from '../browser/chromium';
import { copyOfOhifDist } from './ohif-dist';
import { showWorldPoint, waitForViewport } from './ohif-page';
import { orthancMissing, startOrthanc } from './orthanc';
import { serveViewer, testAppConfig } from './viewer-server';
import * as fs from 'fs';

const BIN = join(__dirname, '..', '..', 'models', 'tools', 'bin', 'abus-ai.js');
const ARTIFACTS = join(__dirname, '..', 'artifacts');
const skip = chromiumMissing() ?? orthancMissing();
if (skip && process.env.CI === 'true') throw new Error(`CI needs Chromium and Orthanc: ${skip}`);
if (skip) console.warn(`SKIP multi-frame sweep test: ${skip}`);

(skip ? test.skip : test)('an Invenia-style multi-frame sweep is analysed, with the geometry note, and its SEG references frames', async () => {
  const study = '2.25.7700003';
  // 0.5 mm between frames: the sweep spacing the plugin assumes when a file does not state it.
  const phantom = generatePhantom({ seed: 9, spacing: [0.8, 0.4, 0.5], lesionCount: 1 });
  const [sweep] = writeDicomSeries(phantom.volume, { uidSeed: 'e2e-9', studyInstanceUID: study, patientName: 'Phantom^Nine', patientId: 'PH9' }, 'multiframe');
  const dist = copyOfOhifDist(fs.mkdtempSync(join(tmpdir(), 'ohif-sweep-')));
  fs.writeFileSync(join(dist, 'app-config.js'), testAppConfig());
  await writeUntrainedModel(join(dist, 'test-weights'), { segBias: 2 });
  execFileSync(process.execPath, [BIN, 'install-ohif', '--viewer', dist, '--weights-url', '/test-weights/', '--backend', 'wasm']);

  const orthanc = await startOrthanc();
  const viewer = await serveViewer(dist, orthanc);
  const browser = await launchChromium();
  try {
    await orthanc.upload([sweep]);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${viewer.url}/abus?StudyInstanceUIDs=${study}`);
    await page.waitForFunction(() => document.querySelector('[data-cy="abus-status"]')?.getAttribute('data-status') === 'ready', undefined, { timeout: 90000 });
    await waitForViewport(page);
    // A sweep the viewer cannot reconstruct keeps the host's default one-view layout.
    await expect(page.evaluate(() => (window as any).services.viewportGridService.getState().viewports.size)).resolves.toBe(1); // eslint-disable-line @typescript-eslint/no-explicit-any
    // The lesion's centre pixel in cornerstone's own world frame, shown and clicked in the active view.
    const [ci, cj, ck] = phantom.lesions[0].centerIndex;
    const world = await page.evaluate(async ([i, j, k]) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const w = window as any;
      const cs = w.extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common').exports.getCornerstoneLibraries();
      const viewport = cs.cornerstone.getEnabledElementByViewportId(w.services.viewportGridService.getActiveViewportId()).viewport;
      const plane = cs.cornerstone.metaData.get('imagePlaneModule', viewport.getImageIds()[k]) ?? {};
      const o = plane.imagePositionPatient ?? [0, 0, 0];
      const r = plane.rowCosines ?? [1, 0, 0];
      const c = plane.columnCosines ?? [0, 1, 0];
      return [0, 1, 2].map((a) => o[a] + i * (plane.columnPixelSpacing || 1) * r[a] + j * (plane.rowPixelSpacing || 1) * c[a]);
    }, [ci, cj, ck]);
    const canvasPoint = await showWorldPoint(page, world);
    await page.locator('[data-cy="abus-pick"]').click();
    await page.mouse.click(canvasPoint.x, canvasPoint.y);
    const row = page.locator('[data-cy="abus-result"]').first();
    await row.waitFor({ timeout: 120000 });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'ohif-sweep-result.png') });
    const center = (await row.getAttribute('data-center-index'))!.split(',').map(Number);
    expect(Math.abs(center[0] - ci)).toBeLessThan(1.5);
    expect(Math.abs(center[1] - cj)).toBeLessThan(1.5);
    expect(center[2]).toBe(ck);
    await expect(row.textContent()).resolves.toMatch(/Geometry assumed: sweep spacing 0.5 mm/);

    await page.locator('[data-cy="abus-export"]').click();
    await page.waitForFunction(() => document.querySelector('[data-cy="abus-panel"]')?.getAttribute('data-exported-seg'), undefined, { timeout: 60000 });
    const uid = await page.locator('[data-cy="abus-panel"]').getAttribute('data-exported-seg');
    const found = await (await fetch(`${orthanc.url}/tools/find`, { method: 'POST', headers: { Authorization: orthanc.authorization }, body: JSON.stringify({ Level: 'Instance', Query: { SOPInstanceUID: uid } }) })).json();
    const bytes = new Uint8Array(await (await orthanc.get(`/instances/${found[0]}/file`)).arrayBuffer());
    const file = join(ARTIFACTS, 'abus-sweep-seg.dcm');
    fs.writeFileSync(file, bytes);
    const report = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
    expect(`${report.stdout}${report.stderr}`).toMatch(/Segmentation/);
    expect(`${report.stdout}${report.stderr}`.split('\n').filter((l) => l.startsWith('Error'))).toEqual([]);
    const seg = readBinarySeg(bytes);
    const frames = seg.frames.map((f) => f.frameNumber as number);
    expect(frames.length).toBeGreaterThan(0);
    // Each SEG frame points at a frame of the sweep (1-based), around the clicked frame.
    expect(frames.every((f) => f >= 1 && f <= phantom.volume.dims[2])).toBe(true);
    expect(Math.min(...frames) - 1).toBeLessThanOrEqual(ck);
    expect(Math.max(...frames) - 1).toBeGreaterThanOrEqual(ck);
  } finally {
    await browser.close();
    await viewer.close();
    await orthanc.stop();
  }
}, 300000);
