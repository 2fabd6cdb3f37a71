/**
 * GE Invenia-style sweeps (one Ultrasound Multi-frame Image, no per-frame positions, sweep spacing
 * not stated) in the real OHIF 3.13.2 with Orthanc and headless Chromium:
 * (e) the sweep opens in the ABUS three-view layout with the right aspect (a sphere of known size
 *     measured on screen in both directions of every view), a click analyses it with the geometry
 *     note, the label is in all three views, and its SEG passes dciodvfy, places every frame where
 *     the source frame lies, and re-loads in OHIF onto the same frames;
 * a sweep that states no pixel size stays in OHIF's one-view stack, and a click says why.
 */
import { tmpdir } from 'os';
import { join } from 'path';
import type { Browser, Page } from 'playwright-core';
import { indexToPatient, readPart10, seq, sweepGeometry, Vec3, Volume, writeDicomSeries, writePart10 } from '@abus-tumor-ai/engine';
import { readBinarySeg } from '../dicom-readers';
import { writeUntrainedModel } from '../fixtures/untrained-model';
import { launchChromium } from '../browser/chromium';
import { dciodvfy } from '../dciodvfy';
import { copyOfOhifDist } from './ohif-dist';
import { clickWithTool, svgTextOnceShown, waitForViewport } from './ohif-page';
import { OrthancServer, startOrthanc } from './orthanc';
import { serveViewer, testAppConfig, ViewerServer } from './viewer-server';
import * as fs from 'fs';
import { prerequisites } from '../prerequisites';

const BIN = join(__dirname, '..', '..', 'models', 'tools', 'cli', 'bin', 'abus-ai.js');
const ARTIFACTS = join(__dirname, '..', 'artifacts');
const { it, beforeAll: setUp } = prerequisites(['chromium', 'orthanc', 'orthanc-dicomweb', 'dciodvfy'], 'multi-frame sweep tests');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Win = any;

const VIEWS = ['abus-coronal', 'abus-axial', 'abus-sagittal'];
/** Anisotropic like a real sweep: 0.8 mm lateral, 0.4 mm deep, frames 0.5 mm apart (the default the file leaves to the viewer). */
const SPACING: Vec3 = [0.8, 0.4, 0.5];
const DIMS: Vec3 = [96, 128, 120];
const CENTRE: Vec3 = [48, 64, 60];
/** A radius whose edges fall between voxel centres along the depth axis and nearly so along the others. */
const RADIUS_MM = 12.2;

/** A uniform bright sphere (200) in a uniform background (40): its disc on screen measures the aspect. */
function sphereVolume(): Volume {
  const data = new Uint8Array(DIMS[0] * DIMS[1] * DIMS[2]).fill(40);
  for (let k = 0, n = 0; k < DIMS[2]; k++)
    for (let j = 0; j < DIMS[1]; j++)
      for (let i = 0; i < DIMS[0]; i++, n++) {
        const d = Math.hypot((i - CENTRE[0]) * SPACING[0], (j - CENTRE[1]) * SPACING[1], (k - CENTRE[2]) * SPACING[2]);
        if (d <= RADIUS_MM) data[n] = 200;
      }
  return { dims: DIMS, spacing: SPACING, origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1], data };
}

let dist: string;
let orthanc: OrthancServer;
let viewer: ViewerServer;
let browser: Browser;

setUp(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  dist = copyOfOhifDist(fs.mkdtempSync(join(tmpdir(), 'ohif-sweep-')));
  fs.writeFileSync(join(dist, 'app-config.js'), testAppConfig());
  await writeUntrainedModel(join(dist, 'test-weights'), { segBias: 2 });
  const { execFileSync } = await import('child_process');
  execFileSync(process.execPath, [BIN, 'install-ohif', '--viewer', dist, '--weights-url', '/test-weights/', '--backend', 'wasm']);
  orthanc = await startOrthanc();
  viewer = await serveViewer(dist, orthanc);
  browser = await launchChromium();
}, 120000);

afterAll(async () => {
  await browser?.close();
  await viewer?.close();
  await orthanc?.stop();
  if (dist) fs.rmSync(dist, { recursive: true, force: true });
});

async function openStudy(uid: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (e) => console.log(`page error: ${e.message.slice(0, 300)}`));
  await page.goto(`${viewer.url}/abus?StudyInstanceUIDs=${uid}`);
  await page.waitForFunction(() => document.querySelector('[data-cy="abus-status"]')?.getAttribute('data-status') === 'ready', undefined, { timeout: 90000 });
  await waitForViewport(page);
  return page;
}

/** Resolves once the volume behind the ABUS views has every frame loaded. */
async function volumeLoaded(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const w = window as Win;
    const cs = w.extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common').exports.getCornerstoneLibraries();
    const viewport = cs.cornerstone.getEnabledElementByViewportId('abus-axial')?.viewport;
    const volumeId = viewport?.getAllVolumeIds?.()[0];
    return Boolean(volumeId && cs.cornerstone.cache.getVolume(volumeId)?.loadStatus?.loaded);
  }, undefined, { timeout: 120000, polling: 250 });
}

interface Measured {
  /** Measured diameter through the centre on screen, horizontally and vertically, in mm of the view's scale. */
  horizontalMm: number;
  verticalMm: number;
  /** The world directions of the screen's x and y in this view. */
  right: number[];
  down: number[];
}

/**
 * Shows a world point in every view and measures the bright disc around it in the pixels the view
 * drew (its canvas, beneath the annotation layer): the half-way crossings between the disc and
 * the background along the row and the column through the point, in canvas pixels, divided by
 * the view's own scale (pixels per mm, from its camera).
 */
async function discDiameters(page: Page, centre: number[]): Promise<Record<string, Measured>> {
  return page.evaluate(async ({ ids, point, radius }) => {
    const w = window as Win;
    const cs = w.extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common').exports.getCornerstoneLibraries();
    const viewports = ids.map((id) => cs.cornerstone.getEnabledElementByViewportId(id).viewport);
    for (const v of viewports) {
      v.jumpToWorld(point);
      v.render();
    }
    await new Promise((r) => setTimeout(r, 1000));
    const out: Record<string, Measured> = {};
    viewports.forEach((v, n) => {
      const canvas: HTMLCanvasElement = v.canvas;
      const dpr = canvas.width / canvas.clientWidth;
      const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      const grey = (x: number, y: number) => pixels[4 * (Math.round(y) * canvas.width + Math.round(x))];
      const [cx, cy] = (v.worldToCanvas(point) as number[]).map((c) => c * dpr);
      const sub = (a: number[], b: number[]) => a.map((x, i) => x - b[i]);
      const right = sub(v.canvasToWorld([cx / dpr + 1, cy / dpr]), v.canvasToWorld([cx / dpr, cy / dpr]));
      const down = sub(v.canvasToWorld([cx / dpr, cy / dpr + 1]), v.canvasToWorld([cx / dpr, cy / dpr]));
      const mmPerPixel = Math.hypot(...right) / dpr;
      // From the centre outwards to where the grey level falls below half-way to the background.
      const edge = (dx: number, dy: number) => {
        const inside = grey(cx, cy);
        const background = grey(cx + (dx * 1.5 * radius) / mmPerPixel, cy + (dy * 1.5 * radius) / mmPerPixel);
        const half = (inside + background) / 2;
        let t = 0;
        while (grey(cx + dx * (t + 1), cy + dy * (t + 1)) >= half) t++;
        const [a, b] = [grey(cx + dx * t, cy + dy * t), grey(cx + dx * (t + 1), cy + dy * (t + 1))];
        return t + (a - half) / (a - b);
      };
      out[ids[n]] = {
        horizontalMm: (edge(1, 0) + edge(-1, 0)) * mmPerPixel,
        verticalMm: (edge(0, 1) + edge(0, -1)) * mmPerPixel,
        right: right.map((x) => x / Math.hypot(...right)),
        down: down.map((x) => x / Math.hypot(...down)),
      };
    });
    return out;
  }, { ids: VIEWS, point: centre, radius: RADIUS_MM });
}

it('(e) an Invenia-style sweep opens in the ABUS layout with the right aspect, is analysed with its label in all three views, and its SEG round-trips with consistent frame positions', async () => {
  const study = '2.25.7700003';
  const [sweep] = writeDicomSeries(sphereVolume(), { uidSeed: 'e2e-sweep', studyInstanceUID: study, patientName: 'Sweep^Sphere', patientId: 'SWEEP' }, 'multiframe');
  // Where the file puts the sphere's centre: the engine's sweep geometry of the file itself.
  const geometry = { dims: DIMS, ...sweepGeometry(readPart10(sweep)) };
  const centreMm = indexToPatient(geometry, CENTRE);
  await orthanc.upload([sweep]);

  const opened = Date.now();
  const page = await openStudy(study);
  const layout = await page.evaluate(() => [...(window as Win).services.viewportGridService.getState().viewports.keys()].sort());
  expect(layout).toEqual(['abus-axial', 'abus-coronal', 'abus-sagittal']);
  await volumeLoaded(page);
  const loadedMs = Date.now() - opened;

  // The aspect: the sphere is a disc of its true diameter in both directions of every view.
  const measured = await discDiameters(page, centreMm);
  await page.screenshot({ path: join(ARTIFACTS, 'ohif-sweep-layout.png') });
  const axis = (u: number[]) => ['lateral (x)', 'depth (y)', 'sweep (z)'][u.map(Math.abs).indexOf(Math.max(...u.map(Math.abs)))];
  for (const [id, m] of Object.entries(measured)) {
    console.log(`${id}: ${m.horizontalMm.toFixed(2)} mm across (${axis(m.right)}), ${m.verticalMm.toFixed(2)} mm down (${axis(m.down)}); true diameter ${(2 * RADIUS_MM).toFixed(1)} mm`);
  }
  console.log(`study opened to volume loaded: ${loadedMs} ms`);
  for (const m of Object.values(measured)) {
    expect(Math.abs(m.horizontalMm / (2 * RADIUS_MM) - 1)).toBeLessThan(0.05);
    expect(Math.abs(m.verticalMm / (2 * RADIUS_MM) - 1)).toBeLessThan(0.05);
  }
  // The view that shows depth against sweep (the two assumed or calibrated axes) is among them.
  expect(Object.values(measured).some((m) => axis(m.right) === 'depth (y)' && axis(m.down) === 'sweep (z)')).toBe(true);

  // A click at the centre analyses it; the voxel is the sphere's centre and the assumed spacing is said.
  const clicked = Date.now();
  await clickWithTool(page, centreMm);
  const card = page.locator('[data-cy="abus-result"]').first();
  await card.waitFor({ timeout: 120000 });
  const clickMs = Date.now() - clicked;
  // (A mouse click lands on a whole screen pixel: within half a voxel of the centre. The VOI's
  // own centre, data-center-index, is the lesion's, on the network's 1 mm lattice.)
  const clickedIndex = (await card.getAttribute('data-click-index'))!.split(',').map(Number);
  clickedIndex.forEach((v, a) => expect(Math.abs(v - CENTRE[a])).toBeLessThan(0.5));
  await expect(card.textContent()).resolves.toMatch(/Geometry assumed: sweep spacing 0.5 mm/);

  // The label is in all three views: the arrow in the acquired (axial) view, the marker in the others.
  const labels = await svgTextOnceShown(page, VIEWS, /Lesion 1:/);
  await page.screenshot({ path: join(ARTIFACTS, 'ohif-sweep-result.png') });
  for (const id of VIEWS) expect([id, labels[id]]).toEqual([id, expect.stringMatching(/Lesion 1: P\(malignant\) \d+% \(AI\)/)]);
  // Only the arrow is an OHIF measurement: the markers add nothing to the measurement list.
  expect(await page.evaluate(() => (window as Win).services.measurementService.getMeasurements().length)).toBe(1);

  // Export: the SEG passes dciodvfy; each frame lies where the engine's geometry puts that source
  // frame, which is where the viewer draws it, and the frames step by the spacing the SEG states.
  const voxels = Number(await card.getAttribute('data-voxels'));
  const exportStart = Date.now();
  await page.locator('[data-cy="abus-export"]').click();
  await page.waitForFunction(() => document.querySelector('[data-cy="abus-panel"]')?.getAttribute('data-exported-seg'), undefined, { timeout: 60000 });
  const exportMs = Date.now() - exportStart;
  const segUid = await page.locator('[data-cy="abus-panel"]').getAttribute('data-exported-seg');
  const found = await (await fetch(`${orthanc.url}/tools/find`, { method: 'POST', headers: { Authorization: orthanc.authorization }, body: JSON.stringify({ Level: 'Instance', Query: { SOPInstanceUID: segUid } }) })).json();
  const bytes = new Uint8Array(await (await orthanc.get(`/instances/${found[0]}/file`)).arrayBuffer());
  fs.writeFileSync(join(ARTIFACTS, 'abus-sweep-seg.dcm'), bytes);
  expect(dciodvfy(bytes, 'sweep SEG').errors).toEqual([]);
  const seg = readBinarySeg(bytes);
  const segDataset = readPart10(bytes);
  const stated = Number(seq(seq(segDataset.SharedFunctionalGroupsSequence)[0]?.PixelMeasuresSequence)[0]?.SpacingBetweenSlices);
  expect(stated).toBeCloseTo(geometry.spacing[2], 6);
  const viewerPositions: number[][] = await page.evaluate(() => {
    const w = window as Win;
    const cs = w.extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common').exports.getCornerstoneLibraries();
    const ids: string[] = cs.cornerstone.getEnabledElementByViewportId('abus-axial').viewport.getImageIds();
    // In frame order: the volume sorts its images along the sweep, frame 1 first.
    return ids.map((id) => cs.cornerstone.metaData.get('imagePlaneModule', id).imagePositionPatient);
  });
  expect(seg.frames.length).toBeGreaterThan(0);
  for (const f of seg.frames) {
    const implied = indexToPatient(geometry, [0, 0, f.frameNumber! - 1]);
    f.imagePositionPatient.forEach((v, a) => expect(v).toBeCloseTo(implied[a], 3));
    viewerPositions[f.frameNumber! - 1].forEach((v, a) => expect(v).toBeCloseTo(implied[a], 3));
  }
  const alongSweep = [...new Set(seg.frames.map((f) => f.imagePositionPatient[2]))].sort((a, b) => a - b);
  alongSweep.slice(1).forEach((z, n) => expect(z - alongSweep[n]).toBeCloseTo(stated, 3));

  // Re-loaded in OHIF: the SEG's voxels land on the same frames, as many as the analysis painted.
  const perFrame = new Map<number, number>();
  for (const f of seg.frames) perFrame.set(f.frameNumber!, (perFrame.get(f.frameNumber!) ?? 0) + f.pixels.reduce((s, p) => s + p, 0));
  const reloadStart = Date.now();
  const reloaded = await openStudy(study);
  const shown = await reloaded.evaluate(async (uid) => {
    const w = window as Win;
    const { displaySetService, viewportGridService, segmentationService } = w.services;
    const findSeg = () => displaySetService.getActiveDisplaySets().find((d: Win) => d.Modality === 'SEG' && d.SOPInstanceUID === uid);
    for (let t = 0; t < 100 && !findSeg(); t++) await new Promise((r) => setTimeout(r, 200));
    const segSet = findSeg();
    if (!segSet) return { error: 'the SEG display set did not appear' };
    await segSet.load({ headers: w.services.userAuthenticationService.getAuthorizationHeader?.() ?? {} });
    await w.commandsManager.runCommand('hydrateSecondaryDisplaySet', { displaySet: segSet, viewportId: viewportGridService.getActiveViewportId() });
    const cs = w.extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common').exports.getCornerstoneLibraries();
    for (let t = 0; t < 150; t++) {
      const ids: string[] | undefined = segmentationService.getSegmentation(segSet.displaySetInstanceUID)?.representationData?.Labelmap?.imageIds;
      if (ids?.length && ids.every((id) => cs.cornerstone.cache.getImage(id))) {
        const frames: Record<number, number> = {};
        for (const id of ids) {
          const image = cs.cornerstone.cache.getImage(id);
          let n = 0;
          for (const v of image.getPixelData()) if (v) n++;
          const frame = Number(/\/frames\/(\d+)/.exec(image.referencedImageId)?.[1]);
          if (n) frames[frame] = (frames[frame] ?? 0) + n;
        }
        return { frames };
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return { error: 'the SEG did not load' };
  }, segUid);
  const reloadMs = Date.now() - reloadStart;
  await reloaded.screenshot({ path: join(ARTIFACTS, 'ohif-sweep-seg-reloaded.png') });
  expect(shown).toEqual({ frames: Object.fromEntries(perFrame) });
  expect([...perFrame.values()].reduce((s, n) => s + n, 0)).toBe(voxels);
  console.log(`click to result ${clickMs} ms; export ${exportMs} ms; re-open and load the SEG ${reloadMs} ms; ${seg.frames.length} SEG frames, ${voxels} voxels`);
}, 420000);

it('a sweep that states no pixel size stays in the one-view stack, and a click says why', async () => {
  const study = '2.25.7700004';
  const [calibrated] = writeDicomSeries({ ...sphereVolume(), dims: [96, 128, 8], data: new Uint8Array(96 * 128 * 8).fill(90) }, { uidSeed: 'e2e-sweep-uncal', studyInstanceUID: study, patientName: 'Sweep^Uncalibrated', patientId: 'SWEEP2' }, 'multiframe');
  const { SequenceOfUltrasoundRegions: _regions, ...rest } = readPart10(calibrated);
  await orthanc.upload([writePart10(rest)]);
  const page = await openStudy(study);
  expect(await page.evaluate(() => (window as Win).services.viewportGridService.getState().viewports.size)).toBe(1);
  await page.evaluate(() => document.querySelector('[data-cy="abus-outcome"]')?.setAttribute('data-outcome', 'pending'));
  const centre = await page.evaluate(() => {
    const w = window as Win;
    const cs = w.extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common').exports.getCornerstoneLibraries();
    return Array.from(cs.cornerstone.getEnabledElementByViewportId(w.services.viewportGridService.getActiveViewportId()).viewport.getCamera().focalPoint as number[]);
  });
  await clickWithTool(page, centre);
  await page.waitForFunction(() => document.querySelector('[data-cy="abus-outcome"]')?.getAttribute('data-outcome') === 'error', undefined, { timeout: 60000 });
  await expect(page.locator('[data-cy="abus-outcome"]').textContent()).resolves.toMatch(/neither Pixel Spacing nor an ultrasound region calibration/);
}, 180000);
