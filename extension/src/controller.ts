/**
 * What the plugin does, apart from how it looks: the model in its worker, the lesions analysed so
 * far, and the actions behind the panel's buttons, the "ABUS tumor" tool and the OHIF commands.
 * State lives here, outside the DOM, so it survives panel tab switches.
 */
import type { EngineWorker } from '@abus-tumor-ai/engine';
import { AnalysisProgress, activeViewportId, analyzeAt, hostCornerstone, label, LesionRecord, Services, viewportOf, viewportsShowing } from './analysis';
import { removeLesionAnnotation } from './annotation';
import { buildExport, download, sourceSeries, stowRs } from './export';
import type { AbusSettings } from './settings';
import { ABUS_TOOL } from './tool';

export interface Host {
  services: Services;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  extensionManager: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  commandsManager?: any;
  settings: AbusSettings;
  /** Starts the analysis worker and loads the model in it. */
  createEngine(): Promise<EngineWorker>;
}

export interface PanelState {
  status: 'loading' | 'ready' | 'running' | 'error';
  message: string;
  engine?: EngineWorker;
  lesions: LesionRecord[];
  /** Set when WebGPU is not used, with the reason; shown as a notification and in the panel. */
  fallback?: string;
  /** SOP instance UIDs of the last stored SEG and SR. */
  exported?: { seg: string; sr: string };
}

export const ALGORITHM_NAME = 'ABUS Tumor AI CMSVNetIter';

export const state: PanelState = { status: 'loading', message: 'Loading the model…', lesions: [] };
let loading: Promise<void> | undefined;
/** Lesion numbers are never reused, so a removed lesion's segment index stays free. */
let nextLesionNumber = 1;
const listeners = new Set<() => void>();

export function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function update(next: Partial<PanelState>): void {
  Object.assign(state, next);
  listeners.forEach((l) => l());
}

/** Back to the first state; for tests, which load the module once. */
export function resetForTests(): void {
  Object.assign(state, { status: 'loading', message: 'Loading the model…', lesions: [], engine: undefined, fallback: undefined, exported: undefined });
  loading = undefined;
  nextLesionNumber = 1;
}

export function notify(host: Host, title: string, message: string, type: 'info' | 'error' | 'success' | 'warning'): void {
  host.services.uiNotificationService?.show({ title, message, type, duration: type === 'error' ? 8000 : 4000 });
}

function readyMessage(engine: EngineWorker): string {
  const card = engine.card!;
  // No backend after a GPU loss that nothing could replace: analyses will say why they fail.
  const backend = engine.backend ? engine.backend.reason : 'none (the GPU was lost and no other backend started)';
  return `Model ${card.name} ${card.version}, trained on ${String(card.training.data ?? 'see the model card')}. Backend: ${backend}.`;
}

/** Loads the model once; says (once) when it is not on WebGPU and why. */
export function loadEngine(host: Host): Promise<void> {
  loading ??= (async () => {
    try {
      const engine = await host.createEngine();
      engine.onBackendChange = (change) => {
        update({ message: engine.backend ? readyMessage(engine) : change.message, fallback: change.backend === 'webgpu' ? undefined : change.message });
        notify(host, 'ABUS Tumor AI', change.message, change.backend === 'webgpu' ? 'info' : 'warning');
      };
      const fallback = engine.backend!.backend === 'webgpu' ? undefined : `Not on WebGPU: running on ${engine.backend!.reason}. Analyses will be slower.`;
      update({ status: 'ready', engine, message: readyMessage(engine), fallback });
      if (fallback) notify(host, 'ABUS Tumor AI', fallback, 'warning');
    } catch (err) {
      const message = `The model could not be loaded: ${(err as Error).message}`;
      update({ status: 'error', message });
      notify(host, 'ABUS Tumor AI', message, 'error');
    }
  })();
  return loading;
}

function progressText(p: AnalysisProgress): string {
  const step = p.step && p.of ? ` ${p.step}/${p.of}` : '';
  return `${p.stage[0].toUpperCase()}${p.stage.slice(1)}${step}…`;
}

/** Analyses the lesion at a world point of a viewport; the result joins the list, an error is shown. */
export async function analyzeAtWorld(host: Host, viewportId: string, world: number[]): Promise<LesionRecord | undefined> {
  if (state.status === 'running') {
    notify(host, 'ABUS Tumor AI', 'An analysis is already running; wait for it or cancel it', 'info');
    return undefined;
  }
  const engine = state.engine;
  if (!engine) {
    notify(host, 'ABUS Tumor AI', state.status === 'error' ? state.message : 'The model is still loading; try again in a moment', 'error');
    return undefined;
  }
  const cs = hostCornerstone(host.extensionManager);
  const card = engine.card!;
  update({ status: 'running', message: 'Starting…' });
  try {
    const number = nextLesionNumber;
    const record = await analyzeAt(engine, host.services, cs, { viewportId, world }, number, { name: ALGORITHM_NAME, version: `${card.name} ${card.version}` }, (p) => update({ message: progressText(p) }));
    nextLesionNumber++;
    update({ status: 'ready', message: readyMessage(engine), lesions: [...state.lesions, record] });
    // Then every view through the lesion's centre, where its labelled arrow is drawn: a task of
    // its own, since redrawing three views is the viewer's work, not the analysis'.
    setTimeout(() => jumpToLesion(host, record.number), 0);
    notify(host, 'ABUS Tumor AI', `Lesion ${record.number}: ${label(record.result)}`, 'success');
    if (record.assumedGeometry.length) notify(host, 'ABUS Tumor AI: geometry assumed', record.assumedGeometry.join('; '), 'warning');
    return record;
  } catch (err) {
    update({ status: 'ready', message: readyMessage(engine) });
    const cancelled = (err as Error).name === 'AbortError';
    notify(host, 'ABUS Tumor AI', cancelled ? 'Analysis cancelled' : (err as Error).message, cancelled ? 'info' : 'error');
    return undefined;
  }
}

/**
 * Analyses at the crosshair: the Crosshairs tool's centre when it is in use (MPR), otherwise the
 * centre of the active view.
 */
export async function analyzeAtCrosshair(host: Host): Promise<LesionRecord | undefined> {
  const cs = hostCornerstone(host.extensionManager);
  const viewportId = activeViewportId(host.services);
  try {
    const { viewport } = await viewportOf(host.services, cs, viewportId);
    const group = host.services.toolGroupService.getToolGroupForViewport(viewportId);
    const crosshairs = group?.getToolInstance?.('Crosshairs');
    const centre: number[] | undefined = crosshairs && group.getToolOptions?.('Crosshairs')?.mode === 'Active' ? crosshairs.toolCenter : undefined;
    return await analyzeAtWorld(host, viewportId, Array.from(centre ?? viewport.getCamera().focalPoint));
  } catch (err) {
    notify(host, 'ABUS Tumor AI', (err as Error).message, 'error');
    return undefined;
  }
}

/** Makes the "ABUS tumor" tool the primary-button tool, the way a toolbar button does. */
export function activateTool(host: Host): void {
  host.commandsManager?.runCommand('setToolActiveToolbar', { toolName: ABUS_TOOL });
}

export function cancelAnalysis(): void {
  state.engine?.cancel();
}

/** Shows the lesion's centre in every view of its series. */
export function jumpToLesion(host: Host, number: number): void {
  const record = state.lesions.find((l) => l.number === number);
  if (!record) return;
  const cs = hostCornerstone(host.extensionManager);
  for (const viewportId of viewportsShowing(host.services, record.displaySetInstanceUID)) {
    cs.cornerstone.getEnabledElementByViewportId(viewportId)?.viewport?.jumpToWorld?.(record.centroidWorld);
  }
}

/** Removes a lesion: its row, its segment and its annotation. */
export function removeLesion(host: Host, number: number): void {
  const record = state.lesions.find((l) => l.number === number);
  if (!record) return;
  if (host.services.segmentationService.getSegmentation(record.segmentationId)) host.services.segmentationService.removeSegment(record.segmentationId, record.number);
  const cs = hostCornerstone(host.extensionManager);
  if (record.annotationUID && host.services.measurementService?.getMeasurement?.(record.annotationUID)) host.services.measurementService.remove(record.annotationUID);
  else removeLesionAnnotation(cs, record.annotationUID);
  update({ lesions: state.lesions.filter((l) => l !== record) });
}

/** The lesions grouped by the series they were found in: each series gets its own SEG and SR. */
function bySeries(lesions: LesionRecord[]): LesionRecord[][] {
  const groups = new Map<string, LesionRecord[]>();
  for (const l of lesions) groups.set(l.displaySetInstanceUID, [...(groups.get(l.displaySetInstanceUID) ?? []), l]);
  return [...groups.values()];
}

/** SEG + SR of every result (one pair per series), to the viewer's DICOMweb source (STOW-RS) or as downloads. */
export async function exportResults(host: Host): Promise<void> {
  const cs = hostCornerstone(host.extensionManager);
  const settings = host.settings;
  try {
    const lesions = state.lesions;
    if (!lesions.length) throw new Error('There is no result to export yet');
    const card = state.engine!.card!;
    const algorithm = { name: ALGORITHM_NAME, version: `${card.name} ${card.version}`, threshold: settings.decisionThreshold, segFlavour: settings.segFlavour };
    const pairs = bySeries(lesions).map((group) => buildExport(sourceSeries(cs, group[0].imageIds, group[0].geometry), group, algorithm));
    if (settings.exportTarget === 'download') {
      pairs.forEach((files, n) => {
        const suffix = pairs.length > 1 ? `-${n + 1}` : '';
        download(`abus-tumor-ai-seg${suffix}.dcm`, files.seg.bytes);
        download(`abus-tumor-ai-sr${suffix}.dcm`, files.sr.bytes);
      });
      notify(host, 'ABUS Tumor AI', 'SEG and SR downloaded', 'success');
      return;
    }
    const [dataSource] = host.extensionManager.getActiveDataSource();
    const wadoRoot: string | undefined = dataSource?.getConfig?.()?.wadoRoot;
    if (!wadoRoot) throw new Error('The active data source has no DICOMweb address to store to; set exportTarget to download');
    const headers = host.services.userAuthenticationService?.getAuthorizationHeader?.() ?? {};
    await stowRs(wadoRoot, pairs.flatMap((files) => [files.seg.bytes, files.sr.bytes]), headers);
    const last = pairs[pairs.length - 1];
    update({ exported: { seg: last.seg.sopInstanceUID, sr: last.sr.sopInstanceUID } });
    notify(host, 'ABUS Tumor AI', `SEG and SR stored (${lesions.length} lesion${lesions.length > 1 ? 's' : ''})`, 'success');
  } catch (err) {
    notify(host, 'ABUS Tumor AI export failed', (err as Error).message, 'error');
  }
}
