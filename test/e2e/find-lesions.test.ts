/**
 * "Find lesions" in the real prebuilt OHIF 3.13.2 with Orthanc and headless Chromium, the shipped
 * model on wasm, on a generator's two-lesion study: the toolbar's Find lesions scans the whole
 * series and proposes lesions, both of the two among them (issue #23); the reader accepts the
 * true proposals and rejects the others, as a radiologist would; the two lesions become two segments, and the SEG and SR stored to Orthanc
 * hold two findings and pass dciodvfy with no errors. Prints whether the scan found both, its
 * time and the main thread's longest task during it. (How many lesions the scan finds is
 * measured by `abus-ai eval --detect`, on 40 volumes.)
 */
import { tmpdir } from 'os';
import { join } from 'path';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import type { Browser, Page } from 'playwright-core';
import { Vec3, writeDicomSeries } from '@abus-tumor-ai/engine';
import { generatePhantom, Phantom } from '@abus-tumor-ai/research';
import { launchChromium } from '../browser/chromium';
import { dciodvfy } from '../dciodvfy';
import { readBinarySeg, readMeasurementReport } from '../dicom-readers';
import { copyOfOhifDist } from './ohif-dist';
import { cpuHog, startTrace, stopTrace, Task } from './main-thread';
import { clickWithTool, waitForViewport } from './ohif-page';
import { OrthancServer, startOrthanc } from './orthanc';
import { serveViewer, testAppConfig, ViewerServer } from './viewer-server';
import { prerequisites } from '../prerequisites';

const ROOT = join(__dirname, '..', '..');
const BIN = join(ROOT, 'models', 'tools', 'cli', 'bin', 'abus-ai.js');
const ARTIFACTS = join(__dirname, '..', 'artifacts');
const SPACING: Vec3 = [0.8, 0.4, 1.0];
const STUDY_UID = '2.25.9301';

const { it, beforeAll: setUp } = prerequisites(['chromium', 'orthanc', 'orthanc-dicomweb', 'dciodvfy'], 'Find lesions tests');

let phantom: Phantom;
let dist: string;
let orthanc: OrthancServer;
let viewer: ViewerServer;
let browser: Browser;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Win = any;

/**
 * A two-lesion study as the generator makes one: the first held-out seed (one no training,
 * calibration or evaluation used) whose volume of 120 x 44 x 120 mm holds two lesions of 0.5 mL
 * or more, each anywhere in it. Chosen by construction, never by what the model finds. How many
 * lesions the scan finds over many volumes is measured by `abus-ai eval --detect`.
 */
function twoLesionPhantom(): Phantom {
  for (let seed = 9301; seed < 9400; seed++) {
    const p = generatePhantom({ seed, spacing: SPACING, sizeMm: [120, 44, 120], lesionCount: 2, lesionsAnywhere: true });
    if (p.lesions.length === 2 && p.lesions.every((l) => l.volume_ml >= 0.5)) return p;
  }
  throw new Error('No seed in 9301-9399 gives two lesions of 0.5 mL or more');
}

/** Which truth lesion a source voxel lies in (by the nearer centre among the mask's), or -1. */
function truthLesionAt(index: Vec3): number {
  const [i, j, k] = index.map(Math.round);
  const { dims } = phantom.mask;
  if (!phantom.mask.data[i + dims[0] * (j + dims[1] * k)]) return -1;
  const d = phantom.lesions.map((l) => Math.hypot(...l.centerIndex.map((c, a) => (c - index[a]) * phantom.volume.spacing[a])));
  return d.indexOf(Math.min(...d));
}

setUp(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  phantom = twoLesionPhantom();
  dist = copyOfOhifDist(fs.mkdtempSync(join(tmpdir(), 'ohif-find-')));
  fs.writeFileSync(join(dist, 'app-config.js'), testAppConfig());
  execFileSync(process.execPath, [BIN, 'install-ohif', '--viewer', dist, '--backend', 'wasm'], { stdio: ['ignore', 'pipe', 'pipe'] });
  orthanc = await startOrthanc();
  viewer = await serveViewer(dist, orthanc);
  browser = await launchChromium();
  await orthanc.upload(writeDicomSeries(phantom.volume, { uidSeed: `find-${phantom.seed}`, studyInstanceUID: STUDY_UID, patientName: 'Phantom^Two', patientId: 'FIND-2', laterality: 'L' }, 'single-frame'));
}, 300000);

afterAll(async () => {
  await browser?.close();
  await viewer?.close();
  await orthanc?.stop();
  if (dist) fs.rmSync(dist, { recursive: true, force: true });
});

async function openStudy(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  page.on('pageerror', (e) => console.log(`page error: ${e.message.slice(0, 300)}`));
  await page.addInitScript(() => {
    const w = window as Win;
    w.__longTasks = [];
    new PerformanceObserver((list) => list.getEntries().forEach((e) => w.__longTasks.push([e.startTime, e.duration]))).observe({ type: 'longtask', buffered: false });
  });
  await page.goto(`${viewer.url}/abus?StudyInstanceUIDs=${STUDY_UID}`);
  await page.waitForFunction(() => document.querySelector('[data-cy="abus-status"]')?.getAttribute('data-status') === 'ready', undefined, { timeout: 180000 });
  await waitForViewport(page);
  return page;
}

it('Find lesions proposes both lesions of a generator\'s two-lesion phantom; the accepted proposals give 2 segments and a SEG and SR with 2 findings that pass dciodvfy', async () => {
  const page = await openStudy();
  const panel = page.locator('[data-cy="abus-panel"]');
  const started = await page.evaluate(() => performance.now());
  // With a CPU hog on the other core and the browser's trace recording whose tasks run on the
  // main thread (main-thread.ts). The toolbar's button, OHIF's own: the same command as the panel's.
  const hog = cpuHog();
  let outcome;
  let tasks: Task[];
  try {
    await startTrace(browser, page);
    await page.locator('[data-cy="AbusFindLesions"]').click();
    outcome = await page.waitForFunction(() => {
      const o = document.querySelector('[data-cy="abus-outcome"]');
      const ready = document.querySelector('[data-cy="abus-status"]')?.getAttribute('data-status') === 'ready';
      return ready && o?.getAttribute('data-outcome') ? `${o.getAttribute('data-outcome')}: ${o.textContent}` : false;
    }, undefined, { timeout: 300000, polling: 500 });
    tasks = await stopTrace(browser);
  } finally {
    hog.stop();
  }
  const own = tasks.filter((t) => t.url.includes('/abus-tumor-ai/'));
  console.log(`find lesions: the plugin's long tasks: ${own.map((t) => `${Math.round(t.ms)} ms (${t.name || '?'}) [${t.parts}] hot: ${t.hot}`).join('; ')}`);
  const plugin = own.map((t) => Math.round(t.ms));
  console.log(`find lesions, with a CPU hog: the plugin's main-thread tasks over 50 ms: ${plugin.length}, longest ${Math.max(0, ...plugin)} ms (issue #22's bar: 200 ms); the viewer's: ${tasks.length - plugin.length}`);
  // No task of the plugin's own reaches 200 ms during the scan (issue #22), with the hog running.
  expect(Math.max(0, ...plugin)).toBeLessThan(200);
  const said = (await outcome.jsonValue()) as string;
  const { ended, longTasks } = await page.evaluate(() => ({ ended: performance.now(), longTasks: (window as Win).__longTasks as [number, number][] }));
  const during = longTasks.filter(([start]) => start >= started).map(([, d]) => Math.round(d));
  expect(said).toMatch(/^candidates: /);

  const rows = page.locator('[data-cy="abus-candidate"]');
  const proposals = await rows.evaluateAll((els) => els.map((el) => ({ rank: Number(el.getAttribute('data-rank')), center: el.getAttribute('data-center-index')!.split(',').map(Number), probability: Number(el.getAttribute('data-probability')) })));
  const truthOf = proposals.map((p) => truthLesionAt(p.center as Vec3));
  const missed = [0, 1].filter((t) => !truthOf.includes(t));
  console.log(`find lesions: ${said} ${((ended - started) / 1000).toFixed(1)} s from the click; main-thread long tasks ${during.length}, longest ${Math.max(0, ...during)} ms; ` +
    `proposals (rank: truth lesion, -1 none) ${proposals.map((p, n) => `${p.rank}: ${truthOf[n]}`).join(', ')}; both lesions proposed: ${missed.length ? `no, missed ${missed.map((t) => `lesion ${t} (${phantom.lesions[t].volume_ml.toFixed(2)} mL)`).join(', ')}` : 'yes'}`);
  expect(missed).toEqual([]);
  await page.screenshot({ path: join(ARTIFACTS, 'find-lesions-proposals.png') });

  // Accept the first proposal of each lesion, reject the rest.
  const accept = [0, 1].map((t) => proposals[truthOf.indexOf(t)].rank);
  for (const p of proposals) {
    const row = page.locator(`[data-cy="abus-candidate"][data-rank="${p.rank}"]`);
    await row.locator(accept.includes(p.rank) ? '[data-cy="abus-accept"]' : '[data-cy="abus-reject"]').click();
    await page.waitForFunction((rank) => !document.querySelector(`[data-cy="abus-candidate"][data-rank="${rank}"]`), p.rank, { timeout: 60000 });
  }
  // An accepted proposal leaves the list at once; it is a lesion once the panel is ready again.
  await page.waitForFunction(() => document.querySelector('[data-cy="abus-status"]')?.getAttribute('data-status') === 'ready', undefined, { timeout: 60000 });
  await expect(page.locator('[data-cy="abus-result"]').count()).resolves.toBe(2);
  const segments = await page.evaluate(() => {
    const [segmentation] = (window as Win).services.segmentationService.getSegmentations();
    return Object.keys(segmentation.segments).filter((n) => segmentation.segments[n]).map(Number);
  });
  expect(segments).toEqual([1, 2]);
  await page.screenshot({ path: join(ARTIFACTS, 'find-lesions-accepted.png') });

  const before = await panel.getAttribute('data-exported-seg');
  await page.locator('[data-cy="abus-export"]').click();
  await page.waitForFunction((prev) => {
    const v = document.querySelector('[data-cy="abus-panel"]')?.getAttribute('data-exported-seg');
    return v && v !== prev;
  }, before, { timeout: 60000 });
  const fetchStored = async (attr: string) => {
    const uid = await panel.getAttribute(attr);
    const found = await (await fetch(`${orthanc.url}/tools/find`, { method: 'POST', headers: { Authorization: orthanc.authorization }, body: JSON.stringify({ Level: 'Instance', Query: { SOPInstanceUID: uid } }) })).json();
    return new Uint8Array(await (await orthanc.get(`/instances/${found[0]}/file`)).arrayBuffer());
  };
  const seg = await fetchStored('data-exported-seg');
  const sr = await fetchStored('data-exported-sr');
  expect(readBinarySeg(seg).segments.map((s) => s.number)).toEqual([1, 2]);
  expect(readMeasurementReport(sr).lesions).toHaveLength(2);
  for (const [name, bytes] of [['find-seg', seg], ['find-sr', sr]] as const) expect(dciodvfy(bytes, name).errors).toEqual([]);
  await page.close();

  // One mass, one answer: on a fresh page, a click at the centre of each lesion the scan found
  // gives the P its proposal gave (both go through the same re-centred analysis).
  const fresh = await openStudy();
  for (const t of [0, 1]) {
    const proposal = proposals[truthOf.indexOf(t)];
    await clickWithTool(fresh, phantom.lesions[t].centerMm);
    const card = fresh.locator('[data-cy="abus-result"]').first();
    await fresh.waitForFunction((n) => document.querySelectorAll('[data-cy="abus-result"]').length === n, t + 1, { timeout: 120000 });
    const clickP = Number(await card.getAttribute('data-probability'));
    console.log(`find lesions: lesion ${t}: P ${proposal.probability.toFixed(4)} as proposed, ${clickP.toFixed(4)} from a click at its centre`);
    expect(Math.abs(clickP - proposal.probability)).toBeLessThanOrEqual(0.01);
  }
  await fresh.close();
}, 900000);
