/**
 * The plugin's one state service, registered with OHIF (servicesManager.services.abusTumorService):
 * the engine in its worker, the lesions analysed so far, the export state, and the actions behind
 * the panel's buttons, the "ABUS tumor" tool and the OHIF commands. It publishes STATE_CHANGED,
 * which the panel draws from, so the state survives panel tab switches.
 */
import type { AnalysisResult, BackendChange, Engine, ScanProgress } from '@abus-tumor-ai/engine';
import { ALGORITHM_NAME, buildLesionExport } from '@abus-tumor-ai/engine';

export { ALGORITHM_NAME };
import { AnalysisProgress, activeViewportId, analyzeAt, hostCornerstone, label, lesionAtClick, LesionRecord, LocatedClick, locateClick, removeAnnotation, Services, showLesion, viewportOf, viewportsShowing, volumeOfDisplaySet } from './analysis';
import { worldAt } from './viewer-point';
import { download, sourceSeries, storeToDataSource } from './export';
import type { AbusSettings } from './settings';
import { ABUS_TOOL } from './tool';

export interface PanelState {
  status: 'loading' | 'ready' | 'running' | 'error';
  /** One short line: the model and its backend, or the progress of an analysis. */
  message: string;
  /** What the short line leaves out (why this backend), shown on hover. */
  detail?: string;
  /** The last click's outcome, e.g. "No lesion at that point", with its kind for tests and styles. */
  outcome?: string;
  outcomeKind?: 'lesion' | 'already-analysed' | 'no-lesion' | 'error' | 'cancelled' | 'candidates';
  engine?: Engine;
  lesions: LesionRecord[];
  /** Set when WebGPU is not used, with the reason; shown as a notification and in the panel. */
  fallback?: string;
  /** SOP instance UIDs of the last stored SEG and SR. */
  exported?: { seg: string; sr: string };
  /** "Find lesions" proposals not yet accepted or rejected, the most likely first. */
  candidates: CandidateRow[];
}

/** A lesion "Find lesions" proposes: the click analysis at the scan's candidate, not yet a lesion. */
export interface CandidateRow {
  /** The proposal's number, in the scan's order: 1 = the most likely lesion. */
  rank: number;
  /** The scan's detection score (0-1), not P(malignant). */
  score: number;
  /** The score is calibrated: the share of validation proposals with it that were lesions. */
  calibrated: boolean;
  result: AnalysisResult;
  /** Where the analysis was centred, as a click there would be. */
  click: LocatedClick;
  /** The number of the lesion already marked there: listed as that lesion, not proposed. */
  marked?: number;
}

/* OHIF's managers, typed loosely: the host does not share its types with runtime plugins. */
export interface Managers {
  services: Services;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  extensionManager: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  commandsManager?: any;
}

export class AbusTumorService {
  static readonly EVENTS = { STATE_CHANGED: 'event::abusTumorService:stateChanged' } as const;

  /**
   * What OHIF's servicesManager.registerService takes. Its create() is given the managers; those
   * the extension's preRegistration received stand in for any it is not given.
   */
  static registration(settings: AbusSettings, createEngine: () => Promise<Engine>, managers: Omit<Managers, 'services'>) {
    return {
      name: 'abusTumorService',
      altName: 'AbusTumorService',
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      create: ({ servicesManager, extensionManager, commandsManager }: { servicesManager: { services: Services }; extensionManager?: any; commandsManager?: any }) =>
        new AbusTumorService(
          { services: servicesManager.services, extensionManager: extensionManager ?? managers.extensionManager, commandsManager: commandsManager ?? managers.commandsManager },
          settings,
          createEngine,
        ),
    };
  }

  readonly state: PanelState = { status: 'loading', message: 'Loading the model…', lesions: [], candidates: [] };
  /** Cancels a running "Find lesions" (a click's analysis is cancelled through the engine). */
  private scanAbort?: AbortController;
  /** One labelmap segmentation per display set, made at its first lesion. */
  readonly segmentations = new Map<string, string>();
  private loading?: Promise<void>;
  /** Lesion numbers are never reused, so a removed lesion's segment index stays free. */
  private nextLesionNumber = 1;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly managers: Managers,
    readonly settings: AbusSettings,
    private readonly createEngine: () => Promise<Engine>,
  ) {}

  get services(): Services {
    return this.managers.services;
  }

  /** OHIF's subscription style: the returned object's unsubscribe() ends it. */
  subscribe(event: (typeof AbusTumorService.EVENTS)[keyof typeof AbusTumorService.EVENTS], listener: () => void): { unsubscribe: () => void } {
    if (event !== AbusTumorService.EVENTS.STATE_CHANGED) throw new Error(`abusTumorService has no event ${event}`);
    this.listeners.add(listener);
    return { unsubscribe: () => this.listeners.delete(listener) };
  }

  private update(next: Partial<PanelState>): void {
    Object.assign(this.state, next);
    this.listeners.forEach((l) => l());
  }

  notify(title: string, message: string, type: 'info' | 'error' | 'success' | 'warning'): void {
    this.services.uiNotificationService?.show({ title, message, type, duration: type === 'error' ? 8000 : 4000 });
  }

  private readyMessage(engine: Engine): string {
    const card = engine.card;
    // No backend after a GPU loss that nothing could replace: analyses will say why they fail.
    return `Model ${card.name} ${card.version} · ${engine.backend ? engine.backend.backend : 'no backend'}`;
  }

  private readyDetail(engine: Engine): string {
    const card = engine.card;
    const backend = engine.backend ? engine.backend.reason : 'none (the GPU was lost and no other backend started)';
    return `Backend: ${backend}. Model ${card.name} ${card.version}, trained on ${String(card.training.data ?? 'see the model card')}.`;
  }

  private ready(engine: Engine): Partial<PanelState> {
    return { status: 'ready', message: this.readyMessage(engine), detail: this.readyDetail(engine) };
  }

  /** Loads the model once; says (once) when it is not on WebGPU and why. */
  loadEngine(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const engine = await this.createEngine();
        engine.onBackendChange = (change: BackendChange) => {
          this.update({ message: engine.backend ? this.readyMessage(engine) : change.message, detail: this.readyDetail(engine), fallback: change.backend === 'webgpu' ? undefined : change.message });
          this.notify('ABUS Tumor AI', change.message, change.backend === 'webgpu' ? 'info' : 'warning');
        };
        const fallback = engine.backend!.backend === 'webgpu' ? undefined : `Not on WebGPU: running on ${engine.backend!.reason}.`;
        this.update({ ...this.ready(engine), engine, fallback });
        if (fallback) this.notify('ABUS Tumor AI', fallback, 'warning');
      } catch (err) {
        const message = `The model could not be loaded: ${(err as Error).message}`;
        this.update({ status: 'error', message });
        this.notify('ABUS Tumor AI', message, 'error');
      }
    })();
    return this.loading;
  }

  /** The engine when an analysis may start now; otherwise says why not and returns undefined. */
  private idleEngine(): Engine | undefined {
    if (this.state.status === 'running') {
      this.notify('ABUS Tumor AI', 'An analysis is already running; wait for it or cancel it', 'info');
      return undefined;
    }
    if (!this.state.engine) this.notify('ABUS Tumor AI', this.state.status === 'error' ? this.state.message : 'The model is still loading; try again in a moment', 'error');
    return this.state.engine;
  }

  /** Ends a failed or cancelled run: the panel says which, and so does a notification. */
  private failed(engine: Engine, err: unknown, what: string): undefined {
    const cancelled = (err as Error).name === 'AbortError';
    const message = cancelled ? `${what} cancelled` : (err as Error).message;
    this.update({ ...this.ready(engine), outcome: message, outcomeKind: cancelled ? 'cancelled' : 'error' });
    this.notify('ABUS Tumor AI', message, cancelled ? 'info' : 'error');
    return undefined;
  }

  private algorithm(engine: Engine) {
    return { name: ALGORITHM_NAME, version: `${engine.card.name} ${engine.card.version}` };
  }

  /** A new lesion joins the list; then every view goes to it. */
  private addLesion(engine: Engine, record: LesionRecord): void {
    const number = record.number;
    this.nextLesionNumber = Math.max(this.nextLesionNumber, number + 1);
    this.update({ ...this.ready(engine), lesions: [...this.state.lesions, record], outcome: `Lesion ${number}: ${label(record.result)}`, outcomeKind: 'lesion' });
    // Then every view through the lesion's centre, where its labelled arrow is drawn: a task of
    // its own, since redrawing three views is the viewer's work, not the analysis'.
    setTimeout(() => this.jumpToLesion(number), 0);
    if (record.assumedGeometry.length) this.notify('ABUS Tumor AI: geometry assumed', record.assumedGeometry.join('; '), 'warning');
  }

  /**
   * A lesion already marked where a click or a proposal falls: the answer belongs to the mass
   * (the engine re-centres every analysis on it), so it is that lesion and its number, not a new
   * analysis. The panel says so and the views go to it.
   */
  private alreadyMarked(engine: Engine, record: LesionRecord): LesionRecord {
    this.update({ ...this.ready(engine), outcome: `Lesion ${record.number} (already marked): ${label(record.result)}`, outcomeKind: 'already-analysed' });
    setTimeout(() => this.jumpToLesion(record.number), 0);
    return record;
  }

  /** Analyses the lesion at a world point of a viewport; the result joins the list, an error is shown. */
  async analyzeAtWorld(viewportId: string, world: number[]): Promise<LesionRecord | undefined> {
    const engine = this.idleEngine();
    if (!engine) return undefined;
    const cs = hostCornerstone(this.managers.extensionManager);
    this.update({ status: 'running', message: 'Starting…', outcome: undefined, outcomeKind: undefined });
    try {
      const onProgress = (p: AnalysisProgress) => this.update({ message: progressText(p) });
      const click = await locateClick(this.services, cs, { viewportId, world }, onProgress, this.settings.sweepSpacingMm);
      // One mass, one lesion, one answer: a click on a lesion already found is that lesion.
      const marked = lesionAtClick(this.state.lesions, click);
      if (marked) return this.alreadyMarked(engine, marked);
      const record = await analyzeAt({ engine, services: this.services, cs, click, number: this.nextLesionNumber, algorithm: this.algorithm(engine), segmentations: this.segmentations, onProgress });
      if (!record) {
        this.update({ ...this.ready(engine), outcome: 'No lesion at that point (nothing was added).', outcomeKind: 'no-lesion' });
        return undefined;
      }
      this.addLesion(engine, record);
      return record;
    } catch (err) {
      return this.failed(engine, err, 'Analysis');
    }
  }

  /**
   * "Find lesions": scans the whole series of the active view and proposes the lesions it finds,
   * each already analysed (segmentation, P(malignant)); nothing is drawn until one is accepted.
   */
  async findLesions(): Promise<CandidateRow[] | undefined> {
    const engine = this.idleEngine();
    if (!engine) return undefined;
    const cs = hostCornerstone(this.managers.extensionManager);
    const abort = new AbortController();
    this.scanAbort = abort;
    this.update({ status: 'running', message: 'Finding lesions: waiting for images…', outcome: undefined, outcomeKind: undefined });
    try {
      const { displaySet } = await viewportOf(this.services, cs, activeViewportId(this.services), 60000);
      const volume = volumeOfDisplaySet(cs, displaySet, this.settings.sweepSpacingMm);
      const scan = await engine.scan(volume.source, { signal: abort.signal, onProgress: (p) => this.update({ message: scanProgressText(p) }) });
      const found = scan.candidates.filter((c) => c.found);
      // Numbered among the proposals: the scan also ranks places the click analysis turned down.
      const rows: CandidateRow[] = found.map((c, n) => {
        const click: LocatedClick = { displaySet, volume, center: c.analysis.centerIndex, pointMm: c.centerMm };
        return { rank: n + 1, score: c.score, calibrated: Boolean(scan.params.calibration), result: c.analysis, click, marked: lesionAtClick(this.state.lesions, click)?.number };
      });
      const proposed = rows.filter((r) => r.marked === undefined).length;
      const marked = rows.length - proposed;
      const already = marked ? `; ${marked} already marked` : '';
      const seconds = (scan.timingsMs.total / 1000).toFixed(1);
      const others = scan.candidates.length - found.length;
      const checked = others ? `; ${others} other place${others > 1 ? 's' : ''} checked: no lesion` : '';
      const outcome = proposed
        ? `${proposed} possible lesion${proposed > 1 ? 's' : ''} found in ${seconds} s${already}${checked}. Accept or reject each.`
        : rows.length
          ? `No new lesion found in this series (${seconds} s${already}${checked}).`
          : `No lesion found in this series (${scan.windows} windows, ${seconds} s${checked}).`;
      this.update({ ...this.ready(engine), candidates: rows, outcome, outcomeKind: proposed ? 'candidates' : 'no-lesion' });
      const first = rows.find((r) => r.marked === undefined);
      if (first) setTimeout(() => this.goToCandidate(first.rank), 0);
      return rows;
    } catch (err) {
      return this.failed(engine, err, 'Finding lesions');
    } finally {
      if (this.scanAbort === abort) this.scanAbort = undefined;
    }
  }

  /**
   * Makes a proposed lesion a lesion, exactly as a click at its centre would have (one lesion per
   * mass: a lesion marked there since the scan is that lesion). One at a time, like analyses:
   * writing a lesion waits on OHIF, and two at once would take the same number.
   */
  async acceptCandidate(rank: number): Promise<LesionRecord | undefined> {
    const row = this.state.candidates.find((c) => c.rank === rank);
    if (!row) return undefined;
    const engine = this.idleEngine();
    if (!engine) return undefined;
    const marked = lesionAtClick(this.state.lesions, row.click);
    if (marked) {
      this.update({ candidates: this.state.candidates.map((c) => (c === row ? { ...row, marked: marked.number } : c)) });
      return this.alreadyMarked(engine, marked);
    }
    const cs = hostCornerstone(this.managers.extensionManager);
    this.update({ status: 'running', message: 'Adding the lesion…', outcome: undefined, outcomeKind: undefined, candidates: this.state.candidates.filter((c) => c !== row) });
    try {
      const record = await showLesion({ services: this.services, cs, click: row.click, number: this.nextLesionNumber, algorithm: this.algorithm(engine), segmentations: this.segmentations }, row.result);
      this.addLesion(engine, record);
      return record;
    } catch (err) {
      // The proposal stays, for another try.
      this.update({ candidates: [...this.state.candidates, row].sort((a, b) => a.rank - b.rank) });
      return this.failed(engine, err, 'Accepting the lesion');
    }
  }

  /** Drops a proposed lesion; nothing of it was drawn or will be exported. */
  rejectCandidate(rank: number): void {
    this.update({ candidates: this.state.candidates.filter((c) => c.rank !== rank) });
  }

  /** Shows a proposed lesion's centre in every view of its series. */
  goToCandidate(rank: number): void {
    const row = this.state.candidates.find((c) => c.rank === rank);
    if (!row) return;
    const cs = hostCornerstone(this.managers.extensionManager);
    const { min, max } = row.result.lesion;
    const [i, j, k] = [0, 1, 2].map((a) => (min[a] + max[a]) / 2);
    const world = worldAt(cs, row.click.volume.imageIds[Math.round(k)], i, j);
    for (const viewportId of viewportsShowing(this.services, row.click.displaySet.displaySetInstanceUID)) {
      cs.cornerstone.getEnabledElementByViewportId(viewportId)?.viewport?.jumpToWorld?.(world);
    }
  }

  /**
   * Analyses at the crosshair: the Crosshairs tool's centre when it is in use (MPR), otherwise the
   * centre of the active view.
   */
  async analyzeAtCrosshair(): Promise<LesionRecord | undefined> {
    const cs = hostCornerstone(this.managers.extensionManager);
    const viewportId = activeViewportId(this.services);
    try {
      const { viewport } = await viewportOf(this.services, cs, viewportId);
      const group = this.services.toolGroupService.getToolGroupForViewport(viewportId);
      const crosshairs = group?.getToolInstance?.('Crosshairs');
      const centre: number[] | undefined = crosshairs && group.getToolOptions?.('Crosshairs')?.mode === 'Active' ? crosshairs.toolCenter : undefined;
      return await this.analyzeAtWorld(viewportId, Array.from(centre ?? viewport.getCamera().focalPoint));
    } catch (err) {
      this.notify('ABUS Tumor AI', (err as Error).message, 'error');
      return undefined;
    }
  }

  /** Makes the "ABUS tumor" tool the primary-button tool, the way a toolbar button does. */
  activateTool(): void {
    this.managers.commandsManager?.runCommand('setToolActiveToolbar', { toolName: ABUS_TOOL });
  }

  cancelAnalysis(): void {
    this.scanAbort?.abort();
    this.state.engine?.cancel();
  }

  /** Shows the lesion's centre in every view of its series. */
  jumpToLesion(number: number): void {
    const record = this.state.lesions.find((l) => l.number === number);
    if (!record) return;
    const cs = hostCornerstone(this.managers.extensionManager);
    for (const viewportId of viewportsShowing(this.services, record.displaySetInstanceUID)) {
      cs.cornerstone.getEnabledElementByViewportId(viewportId)?.viewport?.jumpToWorld?.(record.centroidWorld);
    }
  }

  /** Removes a lesion: its row, its segment and its annotation. */
  removeLesion(number: number): void {
    const record = this.state.lesions.find((l) => l.number === number);
    if (!record) return;
    const { segmentationService } = this.services;
    if (segmentationService.getSegmentation(record.segmentationId)) segmentationService.removeSegment(record.segmentationId, record.number);
    removeAnnotation(this.services, hostCornerstone(this.managers.extensionManager), record.annotationUID);
    this.update({ lesions: this.state.lesions.filter((l) => l !== record) });
  }

  /** SEG + SR of every result (one pair per series), to the viewer's data source or as downloads. */
  async exportResults(): Promise<void> {
    const cs = hostCornerstone(this.managers.extensionManager);
    const settings = this.settings;
    try {
      const lesions = this.state.lesions;
      if (!lesions.length) throw new Error('There is no result to export yet');
      const card = this.state.engine!.card;
      const algorithm = { name: ALGORITHM_NAME, version: `${card.name} ${card.version}`, operatingPoints: card.operatingPoints, segFlavour: settings.segFlavour };
      const pairs = bySeries(lesions).map((group) => buildLesionExport(sourceSeries(cs, group[0].imageIds, group[0].geometry), group, algorithm));
      if (settings.exportTarget === 'download') {
        pairs.forEach((files, n) => {
          const suffix = pairs.length > 1 ? `-${n + 1}` : '';
          download(`abus-tumor-ai-seg${suffix}.dcm`, files.seg.bytes);
          download(`abus-tumor-ai-sr${suffix}.dcm`, files.sr.bytes);
        });
        this.notify('ABUS Tumor AI', 'SEG and SR downloaded', 'success');
        return;
      }
      const [dataSource] = this.managers.extensionManager.getActiveDataSource();
      await storeToDataSource(dataSource, pairs.flatMap((files) => [files.seg.bytes, files.sr.bytes]));
      const lastPair = pairs[pairs.length - 1];
      this.update({ exported: { seg: lastPair.seg.sopInstanceUID, sr: lastPair.sr.sopInstanceUID } });
      this.notify('ABUS Tumor AI', `SEG and SR stored (${lesions.length} lesion${lesions.length > 1 ? 's' : ''})`, 'success');
    } catch (err) {
      this.notify('ABUS Tumor AI export failed', (err as Error).message, 'error');
    }
  }
}

function progressText(p: AnalysisProgress): string {
  const step = p.step && p.of ? ` ${p.step}/${p.of}` : '';
  return `${p.stage[0].toUpperCase()}${p.stage.slice(1)}${step}…`;
}

function scanProgressText(p: ScanProgress): string {
  return p.stage === 'window' ? `Finding lesions: scanning ${p.step}/${p.of}…` : `Finding lesions: analysing candidate ${p.step}/${p.of}…`;
}

/** The lesions grouped by the series they were found in: each series gets its own SEG and SR. */
function bySeries(lesions: LesionRecord[]): LesionRecord[][] {
  const groups = new Map<string, LesionRecord[]>();
  for (const l of lesions) groups.set(l.displaySetInstanceUID, [...(groups.get(l.displaySetInstanceUID) ?? []), l]);
  return [...groups.values()];
}
