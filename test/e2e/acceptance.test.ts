/**
 * Acceptance: the plugin as a user meets it, in the real prebuilt OHIF 3.13.2 with a real Orthanc
 * and headless Chromium. The shipped model on a real click (overlap with the phantom's truth, the
 * same probability as the CLI), a full-size volume, a browser without WebGPU, and faults (weights
 * missing or corrupt, PACS down at export, a 2-D image, a click beside the volume).
 *
 * The cases share one Orthanc, one viewer folder (re-installed with each case's settings, the way
 * a user would) and one Chromium, so they run in file order; 4c stops Orthanc and comes last.
 */
import { execFileSync } from 'child_process';
import { tmpdir } from 'os';
import { join } from 'path';
import type { Browser, Page } from 'playwright-core';
import { load, arraySource, patientToIndex, SourceMask, Vec3, Volume, VolumeGeometry, writeDicomSeries } from '@abus-tumor-ai/engine';
import { folderReader, loadModel, tryBackend } from '@abus-tumor-ai/engine/lab';
import { nodeGzipCodec, parseNrrd } from '@abus-tumor-ai/engine/node';
import { dice, generatePhantom, Phantom } from '@abus-tumor-ai/research';
import { launchChromium } from '../browser/chromium';
import { writeUntrainedModel } from '../fixtures/untrained-model';
import { copyOfOhifDist } from './ohif-dist';
import { clickWithTool, notification, recordNotifications, showWorldPoint, waitForViewport } from './ohif-page';
import { OrthancServer, startOrthanc } from './orthanc';
import { serveViewer, testAppConfig, ViewerServer } from './viewer-server';
import * as fs from 'fs';
import * as http from 'http';
import { prerequisites } from '../prerequisites';

const ROOT = join(__dirname, '..', '..');
const BIN = join(ROOT, 'models', 'tools', 'cli', 'bin', 'abus-ai.js');
const SHIPPED_WEIGHTS = join(ROOT, 'models', 'weights', 'cmsvnetiter');
const ARTIFACTS = join(__dirname, '..', 'artifacts');
// Generating a full-size phantom takes about half a minute; the files are kept between runs.
const FULL_SIZE_SEED = 3;
const FULL_SIZE_CACHE = join(__dirname, '..', 'fixtures', 'generated', `phantom-full-size-seed${FULL_SIZE_SEED}`);

const abusAi = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const { it, beforeAll: setUp } = prerequisites(['chromium', 'orthanc', 'orthanc-dicomweb'], 'acceptance tests');

// Seed 11 at this spacing: one benign 3.6 mL lesion that the shipped model segments with DSC 0.93
// in Node (seeds 1-12 ranged 0.46-0.93; the model card's held-out mean is 0.73), and 1 mm click
// offsets keep it above 0.90, so a click quantised to screen pixels does not decide the outcome.
const STUDY = '2.25.7700011';
const STUDY_2D = '2.25.7700012';
const SPACING: Vec3 = [0.8, 0.4, 1.0];

let phantom: Phantom;
let dicom: Uint8Array[];
let dist: string;
let orthanc: OrthancServer;
let orthancStopped = false;
let viewer: ViewerServer;
let browser: Browser;
/** The page of case 1, kept open: 4e and 4c act on its result. */
let main: Page | undefined;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Win = any;

const install = (...args: string[]) => abusAi('install-ohif', '--viewer', dist, ...args);

async function openStudy(study: string, on: Browser = browser): Promise<Page> {
  const page = await on.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (e) => console.log(`page error: ${e.message.slice(0, 300)}`));
  await recordNotifications(page);
  await page.goto(`${viewer.url}/abus?StudyInstanceUIDs=${study}`);
  await page.waitForFunction(() => ['ready', 'error'].includes(document.querySelector('[data-cy="abus-status"]')?.getAttribute('data-status') ?? ''), undefined, { timeout: 120000 });
  return page;
}

const status = (page: Page) => page.locator('[data-cy="abus-status"]');
const rows = (page: Page) => page.locator('[data-cy="abus-result"]');
const screenshot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, name) });

/** A source-voxel lesion mask (bounding box + bits) as a 0/1 mask over the whole volume. */
function fullMask(geometry: VolumeGeometry, lesion: SourceMask): Uint8Array {
  const [nx, ny, nz] = geometry.dims;
  const out = new Uint8Array(nx * ny * nz);
  const { mask, min, max } = lesion;
  const sx = max[0] - min[0] + 1;
  const sy = max[1] - min[1] + 1;
  for (let k = min[2]; k <= max[2]; k++)
    for (let j = min[1]; j <= max[1]; j++)
      for (let i = min[0]; i <= max[0]; i++) if (mask[i - min[0] + sx * (j - min[1] + sy * (k - min[2]))]) out[i + nx * (j + ny * k)] = 1;
  return out;
}

function countOnes(mask: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) n++;
  return n;
}

/** DSC of a mask that covers a box of the truth's grid (as `abus-ai infer --out` writes it) against the truth. */
function boxDice(truth: Volume, box: Volume): number {
  const [oi, oj, ok] = patientToIndex(truth, box.origin).map(Math.round);
  const [nx, ny] = truth.dims;
  const [bx, by, bz] = box.dims;
  let both = 0;
  let inBox = 0;
  for (let k = 0; k < bz; k++)
    for (let j = 0; j < by; j++)
      for (let i = 0; i < bx; i++) {
        if (!box.data[i + bx * (j + by * k)]) continue;
        inBox++;
        if (truth.data[oi + i + nx * (oj + j + ny * (ok + k))]) both++;
      }
  return (2 * both) / (inBox + countOnes(truth.data));
}

/** World positions of every labelled voxel of the page's (first) segmentation, read from OHIF's labelmap images. */
async function labelmapWorldPoints(page: Page): Promise<number[]> {
  return page.evaluate(() => {
    const w = window as Win;
    const cs = w.extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common').exports.getCornerstoneLibraries();
    const [segmentation] = w.services.segmentationService.getSegmentations();
    const points: number[] = [];
    for (const id of segmentation.representationData.Labelmap.imageIds as string[]) {
      const image = cs.cornerstone.cache.getImage(id);
      const plane = cs.cornerstone.metaData.get('imagePlaneModule', image.referencedImageId ?? id);
      const data = image.getPixelData();
      const [o, r, c] = [plane.imagePositionPatient, plane.rowCosines, plane.columnCosines];
      for (let n = 0; n < data.length; n++) {
        if (!data[n]) continue;
        const column = n % image.columns;
        const row = Math.floor(n / image.columns);
        for (let a = 0; a < 3; a++) points.push(o[a] + column * plane.columnPixelSpacing * r[a] + row * plane.rowPixelSpacing * c[a]);
      }
    }
    return points;
  });
}

/**
 * A point of the active view's canvas that is not on the volume (the black margin), zooming out
 * when the image fills the view. It must be off by more than a voxel so rounding cannot matter.
 * The phantom's origin is 0 and its axes are the patient's, so index = world / spacing.
 */
async function pointBesideVolume(page: Page, geometry: VolumeGeometry): Promise<{ x: number; y: number }> {
  return page.evaluate(({ dims, spacing }) => {
    const w = window as Win;
    const cs = w.extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common').exports.getCornerstoneLibraries();
    const viewport = cs.cornerstone.getEnabledElementByViewportId(w.services.viewportGridService.getActiveViewportId()).viewport;
    const rect = viewport.element.getBoundingClientRect();
    const beside = (world: number[]) => world.some((v, a) => v / spacing[a] < -2 || v / spacing[a] > dims[a] + 1);
    for (let attempt = 0; attempt < 3; attempt++) {
      for (const [x, y] of [[15, rect.height / 2], [rect.width - 15, rect.height / 2], [rect.width / 2, 15], [rect.width / 2, rect.height - 15]]) {
        const target = document.elementFromPoint(rect.left + x, rect.top + y);
        if (beside(viewport.canvasToWorld([x, y])) && target && viewport.element.contains(target)) return { x: rect.left + x, y: rect.top + y };
      }
      viewport.setZoom(viewport.getZoom() / 2);
      viewport.render();
    }
    throw new Error('the volume fills the view even zoomed out');
  }, { dims: geometry.dims, spacing: geometry.spacing });
}

/** Proportional set size of this process's Chromium processes (MB), where /proc tells it. */
function chromiumPssMb(): number | undefined {
  if (!fs.existsSync('/proc/self/smaps_rollup')) return undefined;
  const parent = new Map<number, number>();
  const name = new Map<number, string>();
  for (const entry of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(fs.readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (!m) continue;
      parent.set(Number(entry), Number(m[2]));
      name.set(Number(entry), m[1]);
    } catch {
      // the process ended meanwhile
    }
  }
  const ours = (pid: number): boolean => pid === process.pid || (parent.has(pid) && pid > 1 && ours(parent.get(pid)!));
  let kb = 0;
  for (const [pid, comm] of name) {
    if (!/chrom/i.test(comm) || !ours(pid)) continue;
    try {
      kb += Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      // the process ended meanwhile
    }
  }
  return kb / 1024;
}

setUp(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  phantom = generatePhantom({ seed: 11, spacing: SPACING, lesionCount: 1 });
  dicom = writeDicomSeries(phantom.volume, { uidSeed: 'acceptance-11', studyInstanceUID: STUDY, patientName: 'Phantom^Eleven', patientId: 'PH11' }, 'single-frame');
  // A single ultrasound image: the middle slice of the same phantom, as its own study.
  const [nx, ny] = phantom.volume.dims;
  const k = phantom.lesions[0].centerIndex[2];
  const slice = { ...phantom.volume, dims: [nx, ny, 1] as Vec3, data: phantom.volume.data.slice(k * nx * ny, (k + 1) * nx * ny) };
  const image2d = writeDicomSeries(slice, { uidSeed: 'acceptance-2d', studyInstanceUID: STUDY_2D, patientName: 'Phantom^Flat', patientId: 'PH2D' }, 'single-frame');

  dist = copyOfOhifDist(fs.mkdtempSync(join(tmpdir(), 'ohif-acceptance-')));
  fs.writeFileSync(join(dist, 'app-config.js'), testAppConfig());
  // The untrained model, for cases that test plumbing rather than predictions (it runs faster).
  await writeUntrainedModel(join(dist, 'test-weights'), { segBias: 2 });
  fs.cpSync(join(dist, 'test-weights'), join(dist, 'corrupt-weights'), { recursive: true });
  const shard = fs.readdirSync(join(dist, 'corrupt-weights')).find((f) => f.endsWith('.bin'))!;
  const bytes = fs.readFileSync(join(dist, 'corrupt-weights', shard));
  for (let n = 100; n < 108; n++) bytes[n] ^= 0xff;
  fs.writeFileSync(join(dist, 'corrupt-weights', shard), bytes);

  orthanc = await startOrthanc();
  viewer = await serveViewer(dist, orthanc);
  browser = await launchChromium();
  await orthanc.upload([...dicom, ...image2d]);
}, 180000);

afterAll(async () => {
  await browser?.close();
  await viewer?.close();
  if (orthanc && !orthancStopped) await orthanc.stop();
  if (dist) fs.rmSync(dist, { recursive: true, force: true });
});

it('1. shipped model, real click: the labelmap overlaps the truth (DSC >= 0.75) and the probability equals the CLI\'s', async () => {
  install('--backend', 'wasm');
  const page = await openStudy(STUDY);
  main = page;
  expect(await status(page).getAttribute('data-status')).toBe('ready');
  // One short line; the backend's reason and the training data are in its detail (hover).
  expect(await status(page).textContent()).toMatch(/^Model cmsvnetiter-abus 0\.2\.0 · wasm$/);
  expect(await status(page).getAttribute('title')).toMatch(/^Backend: wasm \(forced\); 3x3x3 convolutions by the WebAssembly SIMD kernel\. Model cmsvnetiter-abus 0\.2\.0, trained on synthetic ABUS phantoms/);
  await waitForViewport(page);
  const lesion = phantom.lesions[0];
  await clickWithTool(page, lesion.centerMm);
  const row = rows(page).first();
  await row.waitFor({ timeout: 180000 });
  await screenshot(page, 'acceptance-1-shipped-model.png');
  const point = (await row.getAttribute('data-point-mm'))!.split(',').map(Number) as Vec3;
  expect(Math.hypot(...point.map((v, a) => v - lesion.centerMm[a]))).toBeLessThan(1.5);
  const browserVoxels = Number(await row.getAttribute('data-voxels'));
  const browserProbability = Number(await row.getAttribute('data-probability'));

  // The labelmap OHIF holds, voxel by voxel, against the phantom's truth.
  const world = await labelmapWorldPoints(page);
  const shown = new Uint8Array(phantom.mask.data.length);
  const [nx, ny] = phantom.volume.dims;
  for (let n = 0; n < world.length; n += 3) {
    const [i, j, k] = patientToIndex(phantom.volume, [world[n], world[n + 1], world[n + 2]]).map(Math.round);
    shown[i + nx * (j + ny * k)] = 1;
  }
  expect(world.length / 3).toBe(browserVoxels);
  const browserDsc = dice(shown, phantom.mask.data);

  // The same click in Node with the same shipped weights.
  await tryBackend('wasm');
  const analyzer = await load({ weights: SHIPPED_WEIGHTS, backend: 'wasm', warmUp: false });
  const node = await analyzer.analyze(arraySource(phantom.volume), point, { centerSpace: 'patient' });
  analyzer.dispose();
  const nodeDsc = dice(fullMask(phantom.volume, node.lesion), phantom.mask.data);

  // The real CLI on the DICOM files Orthanc holds, at the clicked point.
  const folder = fs.mkdtempSync(join(tmpdir(), 'acceptance-dicom-'));
  dicom.forEach((file, n) => fs.writeFileSync(join(folder, `IM${String(n + 1).padStart(4, '0')}.dcm`), file));
  const cli = JSON.parse(abusAi('infer', '--input', folder, '--center', point.join(','), '--center-space', 'patient', '--backend', 'wasm', '--json'));
  fs.rmSync(folder, { recursive: true, force: true });

  console.log(`case 1: DSC vs truth: browser labelmap ${browserDsc.toFixed(3)}, Node ${nodeDsc.toFixed(3)}; voxels browser ${browserVoxels}, Node ${node.lesion.voxelCount}, CLI ${cli.voxel_count}, truth ${countOnes(phantom.mask.data)}; ` +
    `P(malignant) browser ${(browserProbability * 100).toFixed(2)}%, Node ${((node.probability as number) * 100).toFixed(2)}%, CLI ${(cli.probability * 100).toFixed(2)}% (truth: ${lesion.malignant ? 'malignant' : 'benign'})`);
  expect(browserDsc).toBeGreaterThanOrEqual(0.75);
  expect(nodeDsc).toBeGreaterThanOrEqual(0.75);
  expect(Math.abs(browserVoxels - node.lesion.voxelCount) / node.lesion.voxelCount).toBeLessThan(0.01);
  expect(Math.abs(browserProbability - cli.probability)).toBeLessThanOrEqual(0.01);
  // The row shows that probability, as the CLI's summary line does.
  expect(await row.textContent()).toContain(`P(malignant) ${(browserProbability * 100).toFixed(1)}%`);
}, 300000);

it('4e. a click beside the volume says it is outside the image volume and adds no row', async () => {
  if (!main) throw new Error('case 1 did not leave its page');
  const before = await rows(main).first().getAttribute('data-probability');
  const point = await pointBesideVolume(main, phantom.volume);
  // The tool is still active from case 1.
  await main.mouse.click(point.x, point.y);
  console.log(`case 4e: ${await notification(main, 'error', /outside the image volume/)}`);
  await screenshot(main, 'acceptance-4e-outside.png');
  await main.waitForTimeout(1000);
  expect(await rows(main).count()).toBe(1);
  expect(await rows(main).first().getAttribute('data-probability')).toBe(before);
  expect(await status(main).getAttribute('data-status')).toBe('ready');
}, 60000);

it('2. a full-size volume (865 x 608 x 330) opens, a click on the lesion is analysed, Find lesions finds it (listed as already marked); time and memory are printed', async () => {
  if (!fs.existsSync(join(FULL_SIZE_CACHE, 'phantoms.json'))) {
    const scratch = `${FULL_SIZE_CACHE}.partial`;
    fs.rmSync(scratch, { recursive: true, force: true });
    abusAi('phantom', '--full-size', '--count', '1', '--seed', String(FULL_SIZE_SEED), '--format', 'dicom', '--out', scratch);
    fs.renameSync(scratch, FULL_SIZE_CACHE);
  }
  const [record] = JSON.parse(fs.readFileSync(join(FULL_SIZE_CACHE, 'phantoms.json'), 'utf8')).cases;
  expect(record.dims).toEqual([865, 608, 330]);
  const folder = join(FULL_SIZE_CACHE, record.dicom_path);
  let t = Date.now();
  await orthanc.upload(fs.readdirSync(folder).sort().map((f) => fs.readFileSync(join(folder, f))));
  const uploadS = (Date.now() - t) / 1000;

  install('--backend', 'wasm');
  const pssBefore = chromiumPssMb();
  t = Date.now();
  const page = await openStudy(record.study_instance_uid);
  try {
    await waitForViewport(page);
    const openS = (Date.now() - t) / 1000;
    const lesion = record.lesions[0];
    const onScreen = await showWorldPoint(page, lesion.centerMm);
    await page.locator('[data-cy="abus-pick"]').click();
    t = Date.now();
    await page.mouse.click(onScreen.x, onScreen.y);
    const row = rows(page).first();
    await row.waitFor({ timeout: 300000 });
    const clickS = (Date.now() - t) / 1000;
    await screenshot(page, 'acceptance-2-full-size.png');
    const center = (await row.getAttribute('data-center-index'))!.split(',').map(Number);
    // The result sits on the lesion: re-centred, its centre is the segment's centroid, not the
    // click, so it is held to the distance eval --click-robustness clicks at (0.35 of the radius).
    const radiusMm = Math.cbrt((3 * lesion.volume_ml * 1000) / (4 * Math.PI));
    expect(Math.hypot(...center.map((v, a) => (v - lesion.centerIndex[a]) * record.spacing[a]))).toBeLessThan(0.35 * radiusMm);
    expect(Number(await row.getAttribute('data-voxels'))).toBeGreaterThan(0);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const metrics = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
    const pss = chromiumPssMb();
    const mb = (b?: number) => (b === undefined ? 'n/a' : `${(b / 2 ** 20).toFixed(0)} MB`);

    // The CLI at the same point on the same files, and its mask against the phantom's truth.
    const point = (await row.getAttribute('data-point-mm'))!;
    const scratch = fs.mkdtempSync(join(tmpdir(), 'acceptance-full-'));
    const cli = JSON.parse(abusAi('infer', '--input', folder, '--center', point, '--center-space', 'patient', '--backend', 'wasm', '--json', '--out', join(scratch, 'mask.nrrd')));
    const codec = nodeGzipCodec();
    const dsc = boxDice(parseNrrd(fs.readFileSync(join(FULL_SIZE_CACHE, record.mask_path)), { codec }), parseNrrd(fs.readFileSync(join(scratch, 'mask.nrrd')), { codec }));
    fs.rmSync(scratch, { recursive: true, force: true });
    const voxels = Number(await row.getAttribute('data-voxels'));
    const probability = Number(await row.getAttribute('data-probability'));
    console.log(`case 2 (full size ${record.dims.join(' x ')}, ${(record.dims.reduce((a: number, b: number) => a * b, 1) / 1e6).toFixed(0)} M voxels): upload to Orthanc ${uploadS.toFixed(1)} s, ` +
      `viewer open to first image ${openS.toFixed(1)} s, click to result ${clickS.toFixed(1)} s (${(await row.getAttribute('title'))?.match(/\d+ voxels, [^,]+, [\d.]+ s/)?.[0]}); ` +
      `page main-thread JS heap ${mb(metrics.JSHeapUsedSize)} used of ${mb(metrics.JSHeapTotalSize)} (CDP Performance.getMetrics), ` +
      `all Chromium processes PSS ${pss === undefined ? 'n/a' : `${pss.toFixed(0)} MB`} (before this page: ${pssBefore === undefined ? 'n/a' : `${pssBefore.toFixed(0)} MB`}); ` +
      `voxels browser ${voxels}, CLI ${cli.voxel_count}; P(malignant) browser ${(probability * 100).toFixed(2)}%, CLI ${(cli.probability * 100).toFixed(2)}%; CLI mask DSC vs truth ${dsc.toFixed(3)}`);
    expect(Math.abs(voxels - cli.voxel_count) / cli.voxel_count).toBeLessThan(0.01);
    expect(Math.abs(probability - cli.probability)).toBeLessThanOrEqual(0.01);
    // Measured 0.88 for this phantom (seed 3, a 5.7 mL malignant lesion).
    expect(dsc).toBeGreaterThanOrEqual(0.75);
    // A click-to-result time past 3 minutes would be too slow for CI on 2 cores; it is printed above.
    expect(clickS).toBeLessThan(180);

    // "Find lesions" on the same volume: the whole scan and the analysis of up to 5 candidates,
    // with the main thread's long tasks and the Chromium processes' peak memory meanwhile.
    await page.evaluate(() => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const w = window as any;
      w.__longTasks = [];
      new PerformanceObserver((list) => list.getEntries().forEach((e) => w.__longTasks.push(Math.round(e.duration)))).observe({ type: 'longtask' });
      document.querySelector('[data-cy="abus-outcome"]')?.setAttribute('data-outcome', 'pending');
    });
    const pssAtFind = chromiumPssMb();
    let pssPeak = pssAtFind ?? 0;
    const sampler = setInterval(() => (pssPeak = Math.max(pssPeak, chromiumPssMb() ?? 0)), 500);
    t = Date.now();
    await page.locator('[data-cy="abus-find"]').click();
    const said = (await (
      await page.waitForFunction(() => {
        const o = document.querySelector('[data-cy="abus-outcome"]');
        const ready = document.querySelector('[data-cy="abus-status"]')?.getAttribute('data-status') === 'ready';
        return ready && o?.getAttribute('data-outcome') !== 'pending' ? `${o?.getAttribute('data-outcome')}: ${o?.textContent}` : false;
      }, undefined, { timeout: 400000, polling: 500 })
    ).jsonValue()) as string;
    const findS = (Date.now() - t) / 1000;
    clearInterval(sampler);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const longTasks: number[] = await page.evaluate(() => (window as any).__longTasks);
    const proposals = await page.locator('[data-cy="abus-candidate"]').evaluateAll((els) => els.map((el) => el.getAttribute('data-center-index')!.split(',').map(Number)));
    const nearest = Math.min(...proposals.map((c) => Math.hypot(...c.map((v, a) => (v - lesion.centerIndex[a]) * record.spacing[a]))));
    // The lesion was clicked above, so the scan lists it as already marked instead of proposing it again.
    const marked = await page.locator('[data-cy="abus-candidate-marked"]').evaluateAll((els) => els.map((el) => el.getAttribute('data-number')));
    console.log(`case 2, Find lesions on the full-size volume: ${said} ${findS.toFixed(1)} s from the click; main-thread long tasks ${longTasks.length}, longest ${Math.max(0, ...longTasks)} ms; ` +
      `Chromium PSS peak ${pssPeak.toFixed(0)} MB, ${(pssPeak - (pssAtFind ?? pssPeak)).toFixed(0)} MB over the start of the scan; already marked: lesion ${marked.join(', ')}; ` +
      (proposals.length ? `nearest other proposal ${nearest.toFixed(1)} mm from the lesion's centre` : 'no other proposal'));
    await screenshot(page, 'acceptance-2-find-lesions.png');
    // The lesion clicked above is listed as already marked; other proposals, if any, are new places.
    expect(said).toMatch(/^(candidates|no-lesion): .*1 already marked/);
    expect(marked).toEqual(['1']);
    expect(findS).toBeLessThan(300);
  } finally {
    await page.close();
  }
}, 900000);

it('3. without WebGPU (--backend auto) the fallback runs, the panel and a warning say why, and an analysis completes', async () => {
  install('--weights-url', '/test-weights/', '--backend', 'auto');
  const noGpu = await launchChromium({ webgpu: false });
  try {
    const page = await openStudy(STUDY, noGpu);
    expect(await status(page).getAttribute('data-status')).toBe('ready');
    // One line in the panel; the reasons behind its "why" toggle, shown when opened.
    const line = page.locator('[data-cy="abus-fallback-line"]');
    expect(await line.textContent()).toMatch(/^Not on WebGPU: running on (webgl|wasm|cpu) \(why\)$/);
    const why = page.locator('[data-cy="abus-fallback-why"]');
    expect(await why.isVisible()).toBe(false);
    await line.click();
    expect(await why.isVisible()).toBe(true);
    const fallback = (await why.textContent()) ?? '';
    expect(fallback).toMatch(/^Not on WebGPU: running on (webgl|wasm|cpu), because webgpu: (navigator\.gpu is missing|navigator\.gpu\.requestAdapter\(\) returned no adapter).*\.$/);
    const backend = /running on (\w+)/.exec(fallback)![1];
    await notification(page, 'warning', /Not on WebGPU: running on \w+, because webgpu: /);
    await waitForViewport(page);
    await clickWithTool(page, phantom.lesions[0].centerMm);
    const row = rows(page).first();
    await row.waitFor({ timeout: 180000 });
    await screenshot(page, 'acceptance-3-no-webgpu.png');
    // The card says which backend ran in its hover detail.
    expect(await row.getAttribute('title')).toContain(` voxels, ${backend}, `);
    const gpu = await page.evaluate(() => 'gpu' in navigator);
    console.log(`case 3: navigator.gpu ${gpu ? 'present' : 'absent'}; panel: "${fallback}"; row: ${(await row.getAttribute('title'))?.match(/\d+ voxels, [^,]+, [\d.]+ s/)?.[0]}`);
  } finally {
    await noGpu.close();
  }
}, 300000);

it('4a. a weights URL that answers 404: the panel says the model could not be loaded and why; a click says so too', async () => {
  // A model host that lost the folder.
  const host = http.createServer((_req, res) => res.writeHead(404, { 'Access-Control-Allow-Origin': '*' }).end('Not found'));
  await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
  const weightsUrl = `http://127.0.0.1:${(host.address() as { port: number }).port}/missing-weights/`;
  try {
    install('--weights-url', weightsUrl, '--backend', 'wasm');
    const page = await openStudy(STUDY);
    expect(await status(page).getAttribute('data-status')).toBe('error');
    const message = `The model could not be loaded: Weights file ${weightsUrl}model-card.json could not be loaded: HTTP 404`;
    expect(await status(page).textContent()).toBe(message);
    // The viewer still shows the study, and the tool (from the toolbar) says why it cannot analyse.
    await waitForViewport(page);
    // The failed load is also an OHIF notification, at once.
    const atLoad = await notification(page, 'error', /The model could not be loaded: .*HTTP 404/);
    const point = await showWorldPoint(page, phantom.lesions[0].centerMm);
    await page.locator('[data-cy="AbusTumor"]').first().click();
    await page.mouse.click(point.x, point.y);
    console.log(`case 4a: notifications while loading: ${JSON.stringify(atLoad)}; on a click: ${await notification(page, 'error', /HTTP 404/)}`);
    await screenshot(page, 'acceptance-4a-weights-404.png');
    expect(await rows(page).count()).toBe(0);
    await page.close();
  } finally {
    await new Promise((r) => host.close(r));
  }
}, 180000);

it('4b. a corrupted weights shard: the panel names the checksum mismatch', async () => {
  install('--weights-url', '/corrupt-weights/', '--backend', 'wasm');
  const page = await openStudy(STUDY);
  expect(await status(page).getAttribute('data-status')).toBe('error');
  expect(await status(page).textContent()).toMatch(/^The model could not be loaded: Weights shard group1-shard\d+of\d+\.bin is corrupt: SHA-256 [0-9a-f]{12}… does not match the model card's [0-9a-f]{12}…$/);
  await waitForViewport(page);
  const point = await showWorldPoint(page, phantom.lesions[0].centerMm);
  await page.locator('[data-cy="AbusTumor"]').first().click();
  await page.mouse.click(point.x, point.y);
  console.log(`case 4b: ${await notification(page, 'error', /is corrupt: SHA-256/)}`);
  await screenshot(page, 'acceptance-4b-corrupt-shard.png');
  await page.close();
}, 180000);

it('4d. a 2-D series (one ultrasound image): a click says the analysis needs a 3-D volume', async () => {
  install('--weights-url', '/test-weights/', '--backend', 'wasm');
  const page = await openStudy(STUDY_2D);
  expect(await status(page).getAttribute('data-status')).toBe('ready');
  await waitForViewport(page);
  // The single image lies at z = 0 (its own volume's origin).
  const [i, j] = phantom.lesions[0].centerIndex;
  await clickWithTool(page, [i * SPACING[0], j * SPACING[1], 0]);
  console.log(`case 4d: ${await notification(page, 'error', /needs a 3-D volume/)}`);
  await screenshot(page, 'acceptance-4d-2d-series.png');
  expect(await rows(page).count()).toBe(0);
  expect(await status(page).getAttribute('data-status')).toBe('ready');
  await page.close();
}, 180000);

it('4c. Orthanc stopped before export: an error notification, and the result row stays', async () => {
  if (!main) throw new Error('case 1 did not leave its page');
  await orthanc.stop();
  orthancStopped = true;
  await main.locator('[data-cy="abus-export"]').click();
  console.log(`case 4c: ${await notification(main, 'error', /export failed.*(could not be reached|HTTP 50\d).*the results are kept/)}`);
  await screenshot(main, 'acceptance-4c-pacs-down.png');
  expect(await rows(main).count()).toBe(1);
  expect(await main.locator('[data-cy="abus-panel"]').getAttribute('data-exported-seg')).toBe('');
  // Still usable: the export button is there to try again.
  expect(await main.locator('[data-cy="abus-export"]').isVisible()).toBe(true);
}, 60000);
