/**
 * The "ABUS Tumor AI" panel: loads the model once in the analysis worker (checksums verified),
 * says which backend runs and why, then analyses the lesion the user clicks and lists results.
 * Its state lives outside the DOM it draws, so it survives panel tab switches.
 */
import { EngineWorker } from '../../models/src/browser/engine-client';
import { activeViewport, analyzeAt, ClickedPoint, hostCornerstone, label, LesionRecord, Services } from './analysis';
import { buildExport, download, sourceSeries, stowRs } from './export';
import { AbusSettings, pluginBaseUrl } from './settings';

export interface Host {
  services: Services;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  extensionManager: any;
}

interface PanelState {
  status: 'loading' | 'ready' | 'picking' | 'running' | 'error';
  message: string;
  engine?: EngineWorker;
  lesions: LesionRecord[];
  /** Set when WebGPU was not used, with the reason; shown once as a notification and in the panel. */
  fallback?: string;
  /** SOP instance UIDs of the last stored SEG and SR. */
  exported?: { seg: string; sr: string };
}

const state: PanelState = { status: 'loading', message: 'Loading the model…', lesions: [] };
let loading: Promise<void> | undefined;
let fallbackShown = false;
/** Lesion numbers are never reused, so a removed lesion's segment index stays free. */
let nextLesionNumber = 1;
const listeners = new Set<() => void>();

function update(next: Partial<PanelState>): void {
  Object.assign(state, next);
  listeners.forEach((l) => l());
}

export function loadEngine(settings: AbusSettings, moduleUrl: string): Promise<void> {
  loading ??= (async () => {
    try {
      const base = pluginBaseUrl(moduleUrl);
      const engine = new EngineWorker(new Worker(new URL('abus-worker.js', base)));
      await engine.init(settings.weightsUrl, settings.backend, base);
      const card = engine.card!;
      update({
        status: 'ready',
        engine,
        message: `Model ${card.name} ${card.version}, trained on ${String(card.training.data ?? 'see the model card')}. Backend: ${engine.backend!.reason}.`,
        fallback: engine.backend!.backend === 'webgpu' ? undefined : `Not on WebGPU: running on ${engine.backend!.reason}. Analyses will be slower.`,
      });
    } catch (err) {
      update({ status: 'error', message: `The model could not be loaded: ${(err as Error).message}` });
    }
  })();
  return loading;
}

function notify(host: Host, title: string, message: string, type: 'info' | 'error' | 'success' | 'warning'): void {
  host.services.uiNotificationService?.show({ title, message, type, duration: type === 'error' ? 8000 : 4000 });
}

/**
 * The pixel (column, row) of the image under a world point. Written out rather than using
 * cornerstone's utilities.worldToImageCoords, which in 5.6.8 divides the distance along a row by
 * the row spacing (measured: a click on column 50 of 0.8 x 0.4 mm pixels came back as 100).
 * A sweep without positions gets cornerstone's defaults (origin 0, identity orientation).
 */
function pixelAt(cs: ReturnType<typeof hostCornerstone>, imageId: string, world: number[]): { column: number; row: number } {
  const plane = cs.cornerstone.metaData.get('imagePlaneModule', imageId) ?? {};
  const origin: number[] = plane.imagePositionPatient ?? [0, 0, 0];
  const along: number[] = plane.rowCosines ?? [1, 0, 0];
  const down: number[] = plane.columnCosines ?? [0, 1, 0];
  const d = [world[0] - origin[0], world[1] - origin[1], world[2] - origin[2]];
  const dot = (v: number[]) => d[0] * v[0] + d[1] * v[1] + d[2] * v[2];
  return { column: dot(along) / (plane.columnPixelSpacing || 1), row: dot(down) / (plane.rowPixelSpacing || 1) };
}

/** Arms a one-shot click on the active viewport; the click's patient position starts the analysis. */
function pickLesion(host: Host): void {
  const cs = hostCornerstone(host.extensionManager);
  let element: HTMLElement;
  try {
    element = activeViewport(host.services, cs).viewport.element;
  } catch (err) {
    notify(host, 'ABUS Tumor AI', (err as Error).message, 'error');
    return;
  }
  const previous = state.message;
  update({ status: 'picking', message: 'Click the lesion in the image.' });
  const onClick = (event: MouseEvent) => {
    element.removeEventListener('click', onClick, true);
    const { viewport } = activeViewport(host.services, cs);
    const rect = element.getBoundingClientRect();
    const world = viewport.canvasToWorld([event.clientX - rect.left, event.clientY - rect.top]);
    const imageId: string = viewport.getCurrentImageId();
    void runAnalysis(host, cs, { imageId, ...pixelAt(cs, imageId, world) }, previous);
  };
  element.addEventListener('click', onClick, true);
}

async function runAnalysis(host: Host, cs: ReturnType<typeof hostCornerstone>, click: ClickedPoint, readyMessage: string): Promise<void> {
  const engine = state.engine as EngineWorker;
  update({ status: 'running', message: 'Reading the VOI…' });
  try {
    const record = await analyzeAt(engine, host.services, cs, click, nextLesionNumber++, (p) => {
      const step = 'step' in p && p.step ? ` ${p.step}/${p.of}` : '';
      update({ message: `${p.stage[0].toUpperCase()}${p.stage.slice(1)}${step}…` });
    });
    update({ status: 'ready', message: readyMessage, lesions: [...state.lesions, record] });
    notify(host, 'ABUS Tumor AI', `Lesion ${record.number}: ${label(record.result)}`, 'success');
    if (record.assumedGeometry.length) notify(host, 'ABUS Tumor AI: geometry assumed', record.assumedGeometry.join('; '), 'warning');
  } catch (err) {
    update({ status: 'ready', message: readyMessage });
    const cancelled = (err as Error).name === 'AbortError';
    notify(host, 'ABUS Tumor AI', cancelled ? 'Analysis cancelled' : (err as Error).message, cancelled ? 'info' : 'error');
  }
}

/** Shows the slice through the lesion centre in the active viewport. */
function jumpTo(host: Host, record: LesionRecord): void {
  const cs = hostCornerstone(host.extensionManager);
  const { viewport } = activeViewport(host.services, cs);
  const ids: string[] = viewport.getImageIds();
  const plane = (id: string) => cs.cornerstone.metaData.get('imagePlaneModule', id);
  const p0 = plane(ids[0]);
  const rc = p0.rowCosines;
  const cc = p0.columnCosines;
  const n = [rc[1] * cc[2] - rc[2] * cc[1], rc[2] * cc[0] - rc[0] * cc[2], rc[0] * cc[1] - rc[1] * cc[0]];
  const distance = (id: string) => Math.abs(plane(id).imagePositionPatient.reduce((sum: number, v: number, a: number) => sum + (v - record.pointMm[a]) * n[a], 0));
  const nearest = ids.reduce((best, id, i) => (distance(id) < distance(ids[best]) ? i : best), 0);
  void viewport.setImageIdIndex(nearest);
}

function removeLesion(host: Host, record: LesionRecord): void {
  if (host.services.segmentationService.getSegmentation(record.segmentationId)) {
    host.services.segmentationService.removeSegment(record.segmentationId, record.number);
  }
  update({ lesions: state.lesions.filter((l) => l !== record) });
}

function button(text: string, cy: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement('button');
  b.textContent = text;
  b.setAttribute('data-cy', cy);
  b.style.cssText = 'margin:4px 6px 4px 0;padding:3px 9px;background:#1f6feb;color:white;border:0;border-radius:4px;cursor:pointer';
  b.onclick = (e) => {
    e.stopPropagation();
    onClick();
  };
  return b;
}

/** SEG + SR of every result, to the viewer's DICOMweb source (STOW-RS) or as downloads. */
async function exportResults(host: Host, settings: AbusSettings): Promise<void> {
  const cs = hostCornerstone(host.extensionManager);
  try {
    const lesions = state.lesions;
    if (!lesions.length) throw new Error('There is no result to export yet');
    const card = state.engine!.card!;
    const files = buildExport(sourceSeries(cs, lesions[0].imageIds, lesions[0].geometry), lesions, { name: 'ABUS Tumor AI CMSVNetIter', version: `${card.name} ${card.version}`, threshold: settings.decisionThreshold });
    if (settings.exportTarget === 'download') {
      download('abus-tumor-ai-seg.dcm', files.seg.bytes);
      download('abus-tumor-ai-sr.dcm', files.sr.bytes);
      notify(host, 'ABUS Tumor AI', 'SEG and SR downloaded', 'success');
      return;
    }
    const [dataSource] = host.extensionManager.getActiveDataSource();
    const wadoRoot: string | undefined = dataSource?.getConfig?.()?.wadoRoot;
    if (!wadoRoot) throw new Error('The active data source has no DICOMweb address to store to; set exportTarget to download');
    const headers = host.services.userAuthenticationService?.getAuthorizationHeader?.() ?? {};
    await stowRs(wadoRoot, [files.seg.bytes, files.sr.bytes], headers);
    update({ exported: { seg: files.seg.sopInstanceUID, sr: files.sr.sopInstanceUID } });
    notify(host, 'ABUS Tumor AI', `SEG and SR stored (${lesions.length} lesion${lesions.length > 1 ? 's' : ''})`, 'success');
  } catch (err) {
    notify(host, 'ABUS Tumor AI export failed', (err as Error).message, 'error');
  }
}

function resultRow(record: LesionRecord, host: Host): HTMLElement {
  const r = record.result;
  const row = document.createElement('div');
  row.setAttribute('data-cy', 'abus-result');
  row.setAttribute('data-point-mm', record.pointMm.map((v) => v.toFixed(3)).join(','));
  row.setAttribute('data-probability', String(r.probability));
  row.setAttribute('data-voxels', String(r.lesion.voxelCount));
  row.setAttribute('data-center-index', r.centerIndex.map((v) => v.toFixed(2)).join(','));
  row.style.cssText = 'border-top:1px solid #2b3a55;padding:6px 0';
  const p = r.probability === null ? 'n/a' : `${(r.probability * 100).toFixed(1)}%`;
  const lines = [
    `Lesion ${record.number}: ${r.label === 'malignant' ? 'Malignant' : r.label === 'benign' ? 'Benign' : 'Lesion'}`,
    `P(malignant) ${p} (threshold ${Math.round(r.threshold * 100)}%)`,
    `${r.size.volumeMl.toFixed(2)} mL, longest ${r.size.longestMm.toFixed(1)} mm (${r.size.extentMm.lateral.toFixed(1)} x ${r.size.extentMm.depth.toFixed(1)} x ${r.size.extentMm.sweep.toFixed(1)} mm)`,
    `${r.lesion.voxelCount} voxels, ${r.backend}, ${(r.timingsMs.total / 1000).toFixed(1)} s`,
    ...record.assumedGeometry.map((a) => `Geometry assumed: ${a}`),
  ];
  for (const text of lines) {
    const line = document.createElement('div');
    line.textContent = text;
    row.append(line);
  }
  row.firstElementChild?.setAttribute('style', 'font-weight:600');
  row.title = 'Show this lesion';
  row.style.cursor = 'pointer';
  row.onclick = () => jumpTo(host, record);
  row.append(button('Remove', 'abus-remove', () => removeLesion(host, record)));
  return row;
}

export function mountPanel(host: HTMLElement, viewer: Host, settings: AbusSettings, moduleUrl: string): () => void {
  host.innerHTML = '';
  const root = document.createElement('div');
  root.style.cssText = 'padding:8px;color:#d0d8e8;font:13px sans-serif;line-height:1.4';
  root.setAttribute('data-cy', 'abus-panel');
  const title = document.createElement('div');
  title.textContent = 'ABUS Tumor AI';
  title.style.cssText = 'font-size:15px;font-weight:600;margin-bottom:6px';
  const notice = document.createElement('div');
  notice.textContent = 'Research use only, not for clinical diagnosis.';
  notice.setAttribute('data-cy', 'abus-notice');
  notice.style.cssText = 'color:#f5a623;margin-bottom:8px';
  const status = document.createElement('div');
  status.setAttribute('data-cy', 'abus-status');
  const fallback = document.createElement('div');
  fallback.setAttribute('data-cy', 'abus-fallback');
  fallback.style.cssText = 'color:#f5a623;margin-top:4px';
  const pick = button('Pick lesion', 'abus-pick', () => pickLesion(viewer));
  const cancel = button('Cancel', 'abus-cancel', () => state.engine?.cancel());
  const exportButton = button('Export SEG + SR', 'abus-export', () => void exportResults(viewer, settings));
  const results = document.createElement('div');
  root.append(title, notice, status, fallback, pick, cancel, exportButton, results);
  host.append(root);
  const render = () => {
    status.textContent = state.message;
    status.setAttribute('data-status', state.status);
    status.style.color = state.status === 'error' ? '#ff6b6b' : '';
    fallback.textContent = state.fallback ?? '';
    pick.disabled = state.status !== 'ready';
    pick.style.opacity = pick.disabled ? '0.5' : '1';
    cancel.style.display = state.status === 'running' ? '' : 'none';
    exportButton.style.display = state.lesions.length && state.status === 'ready' ? '' : 'none';
    root.setAttribute('data-exported-seg', state.exported?.seg ?? '');
    root.setAttribute('data-exported-sr', state.exported?.sr ?? '');
    results.replaceChildren(...state.lesions.map((r) => resultRow(r, viewer)));
  };
  listeners.add(render);
  render();
  void loadEngine(settings, moduleUrl).then(() => {
    if (state.fallback && !fallbackShown) {
      fallbackShown = true;
      notify(viewer, 'ABUS Tumor AI', state.fallback, 'warning');
    }
  });
  return () => listeners.delete(render);
}
