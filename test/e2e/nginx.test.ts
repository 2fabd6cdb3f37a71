/**
 * A real deployment: Debian's nginx with extension/deploy/nginx/ serving a pristine OHIF 3.13.2
 * into which the release tarball installed the plugin, DICOMweb proxied to a real Orthanc, and
 * Chromium doing one full click-to-export, with cross-origin isolation (COOP/COEP) off and on.
 * Both ways the WebAssembly SIMD kernel must run the convolutions (the panel's log line says which
 * path ran), the page must raise no Content-Security-Policy violation, and .wasm must be served
 * as application/wasm.
 */
import * as fs from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import type { Browser } from 'playwright-core';
import { writeDicomSeries } from '@abus-tumor-ai/engine';
import { generatePhantom, Phantom } from '@abus-tumor-ai/research';
import { launchChromium } from '../browser/chromium';
import { copyOfOhifDist, ohifDist } from './ohif-dist';
import { showWorldPoint, waitForViewport } from './ohif-page';
import { OrthancServer, startOrthanc } from './orthanc';
import { HEADERS_CONF, startNginx } from './nginx';
import { npxRelease, releaseTarball } from './release-artifact';
import { testAppConfig } from './viewer-server';
import { inlineScriptHashes } from '@abus-tumor-ai/extension/install';
import { prerequisites } from '../prerequisites';

const ARTIFACTS = join(__dirname, '..', 'artifacts');
const { it, beforeAll: setUp, title } = prerequisites(['nginx', 'chromium', 'orthanc', 'orthanc-dicomweb'], 'nginx tests');
const STUDY = '2.25.7700021';

let phantom: Phantom;
let orthanc: OrthancServer;
let browser: Browser;
let work: string;
/** Voxels and P(malignant) of the click without isolation: the threaded run must give the same. */
let plainResult: [string | null, string | null] | undefined;

setUp(async () => {
  work = fs.mkdtempSync(join(tmpdir(), 'abus-nginx-site-'));
  phantom = generatePhantom({ seed: 11, spacing: [0.8, 0.4, 1.0], lesionCount: 1 });
  orthanc = await startOrthanc();
  await orthanc.upload(writeDicomSeries(phantom.volume, { uidSeed: 'nginx-11', studyInstanceUID: STUDY, patientName: 'Phantom^Nginx', patientId: 'PHN' }, 'single-frame'));
  browser = await launchChromium();
  fs.mkdirSync(ARTIFACTS, { recursive: true });
}, 180000);

afterAll(async () => {
  await browser?.close();
  await orthanc?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

it(title("the CSP lists the inline scripts of OHIF's index.html by their hashes"), () => {
  const csp = /Content-Security-Policy "([^"]+)"/.exec(fs.readFileSync(HEADERS_CONF, 'utf8'))![1];
  const hashes = inlineScriptHashes(ohifDist());
  expect(hashes).toHaveLength(2);
  for (const hash of hashes) expect(csp).toContain(hash);
  expect(csp).toContain("'wasm-unsafe-eval'");
  expect(csp).not.toMatch(/'unsafe-eval'|script-src[^;]*'unsafe-inline'/);
});

for (const isolation of [false, true]) {
  it(title(`nginx, Orthanc, Chromium: click to export with COOP/COEP ${isolation ? 'on' : 'off'}; the SIMD kernel runs`), async () => {
    const dist = copyOfOhifDist(join(work, `viewer-${isolation ? 'isolated' : 'plain'}`));
    fs.writeFileSync(join(dist, 'app-config.js'), testAppConfig());
    // Isolated, two threads: tfjs-wasm's and the SIMD kernel's helper (on 2 cores tfjs would pick 1).
    const installed = npxRelease(work, releaseTarball(), ['install-ohif', '--viewer', dist, '--backend', 'wasm', ...(isolation ? ['--wasm-threads', '2'] : [])]);
    expect(installed.stderr).not.toMatch(/error/);
    expect(installed.status).toBe(0);
    const nginx = await startNginx({ root: dist, orthanc, isolation });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    try {
      // The served bytes: WebAssembly's type, the CSP, and isolation as configured.
      const wasm = await fetch(`${nginx.url}/abus-tumor-ai/tfjs-backend-wasm-threaded-simd.wasm`);
      expect(wasm.headers.get('content-type')).toBe('application/wasm');
      const csp = /Content-Security-Policy "([^"]+)"/.exec(fs.readFileSync(HEADERS_CONF, 'utf8'))![1].replace(/\$abus_blob/g, isolation ? 'blob:' : '');
      expect(wasm.headers.get('content-security-policy')).toBe(csp);
      expect(/script-src[^;]*blob:/.test(csp) && /worker-src[^;]*blob:/.test(csp)).toBe(isolation);
      expect(wasm.headers.get('cross-origin-embedder-policy')).toBe(isolation ? 'require-corp' : null);
      const route = await fetch(`${nginx.url}/abus?StudyInstanceUIDs=${STUDY}`);
      expect(route.headers.get('cross-origin-opener-policy')).toBe(isolation ? 'same-origin' : null);
      expect(await route.text()).toContain('<div id="root">');

      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('console', (m) => /Content.Security.Policy|Refused to/i.test(m.text()) && problems.push(`console: ${m.text()}`));
      await page.addInitScript(() => {
        const w = window as unknown as { __csp: string[] };
        w.__csp = [];
        document.addEventListener('securitypolicyviolation', (e) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
      });
      await page.goto(`${nginx.url}/abus?StudyInstanceUIDs=${STUDY}`);
      await page.waitForFunction(() => ['ready', 'error'].includes(document.querySelector('[data-cy="abus-status"]')?.getAttribute('data-status') ?? ''), undefined, { timeout: 120000 });
      // The panel's one-line status, and its details (the backend's log line) on hover.
      const status = `${(await page.locator('[data-cy="abus-status"]').getAttribute('title')) ?? ''} | ${(await page.locator('[data-cy="abus-status"]').textContent()) ?? ''}`;
      console.log(`nginx, COOP/COEP ${isolation ? 'on' : 'off'}: crossOriginIsolated ${await page.evaluate(() => crossOriginIsolated)}; panel: "${status}"`);
      expect(await page.locator('[data-cy="abus-status"]').getAttribute('data-status')).toBe('ready');
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(isolation);
      expect(status).toMatch(isolation ? /Backend: wasm \(forced\); 3x3x3 convolutions by the WebAssembly SIMD kernel on 2 threads; 2 wasm threads \(cross-origin isolated\)\. / : /Backend: wasm \(forced\); 3x3x3 convolutions by the WebAssembly SIMD kernel\. /);

      await waitForViewport(page);
      const lesion = phantom.lesions[0];
      const point = await showWorldPoint(page, lesion.centerMm);
      await page.locator('[data-cy="abus-pick"]').click();
      const clicked = Date.now();
      await page.mouse.click(point.x, point.y);
      const row = page.locator('[data-cy="abus-result"]').first();
      await row.waitFor({ timeout: 180000 });
      const seconds = (Date.now() - clicked) / 1000;
      await page.screenshot({ path: join(ARTIFACTS, `nginx-${isolation ? 'isolated' : 'plain'}.png`) });
      expect(Number(await row.getAttribute('data-voxels'))).toBeGreaterThan(0);
      // The kernel split over threads computes what it computes on one, voxel for voxel.
      const result: [string | null, string | null] = [await row.getAttribute('data-voxels'), await row.getAttribute('data-probability')];
      if (!isolation) plainResult = result;
      else if (plainResult) {
        // XNNPACK may split its own reductions differently over threads: equal up to rounding.
        expect(Math.abs(Number(result[0]) - Number(plainResult[0]))).toBeLessThanOrEqual(Math.max(2, 0.001 * Number(plainResult[0])));
        expect(Math.abs(Number(result[1]) - Number(plainResult[1]))).toBeLessThan(1e-4);
      }

      await page.locator('[data-cy="abus-export"]').click();
      await page.waitForFunction(() => document.querySelector('[data-cy="abus-panel"]')?.getAttribute('data-exported-sr'), undefined, { timeout: 60000 });
      const series = await (await orthanc.get(`/dicom-web/studies/${STUDY}/series`)).json();
      const exported = series.map((s: Record<string, { Value: string[] }>) => s['00080060'].Value[0]);
      expect(exported).toEqual(expect.arrayContaining(['SEG', 'SR']));
      console.log(`nginx, COOP/COEP ${isolation ? 'on' : 'off'}: click to result ${seconds.toFixed(1)} s (${result[0]} voxels, P(malignant) ${result[1]}); exported SEG and SR to Orthanc through nginx`);
      expect([...problems, ...(await page.evaluate(() => (window as unknown as { __csp: string[] }).__csp))]).toEqual([]);
    } finally {
      await page.close();
      await nginx.stop();
    }
  }, 400000);
}
