/**
 * The plugin's commands against stub OHIF services, a stub cornerstone and a stub engine: what a
 * click does to the viewer (labelmap pixels, segments, annotations, notifications), not how the
 * model segments.
 */
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { AnalysisResult, BackendChange, BackendName, Candidate, ModelCard, ScanOptions, ScanResult, Vec3, VolumeSource, Engine } from '@abus-tumor-ai/engine';
import { planClick } from '@abus-tumor-ai/engine/lab';
import { commandsModule } from './commands';
import { AbusTumorService, ALGORITHM_NAME } from './service';
import { readSeg } from '../../test/dicom-readers';
import { abusThreeView, addVolumeAvailableAttribute } from './hanging-protocol';
import type { AbusSettings } from './settings';
import { ABUS_FIND_BUTTON, ABUS_TOOL } from './tool';
import { MARKER_TOOL } from './annotation';
import type { Cornerstone } from './host';

/* ---- The series: single-frame images of a sagittal-like sweep with anisotropic pixels. ---- */

const COLUMNS = 24;
const ROWS = 16;
const SLICES = 12;
const COLUMN_MM = 0.8;
const ROW_MM = 0.4;
const SLICE_MM = 0.5;
const ALONG: Vec3 = [0, 1, 0];
const DOWN: Vec3 = [0, 0, -1];
const NORMAL: Vec3 = [-1, 0, 0];
const ORIGIN: Vec3 = [-30, 12, 40];
const FRAME_OF_REFERENCE = '1.2.3.9';
const DS = 'ds-abus';

/** In slice order; the display set lists them reversed, so sorting and mapping back are both exercised. */
const SORTED_IDS = Array.from({ length: SLICES }, (_, k) => `us:${k}`);
const DISPLAY_IDS = [...SORTED_IDS].reverse();
const labelIdOf = (imageId: string) => `label:${imageId}`;
const sliceOf = (imageId: string) => Number(imageId.slice(imageId.lastIndexOf(':') + 1));

const add = (a: number[], b: number[], s = 1): Vec3 => [a[0] + s * b[0], a[1] + s * b[1], a[2] + s * b[2]];
const position = (k: number) => add(ORIGIN, NORMAL, k * SLICE_MM);
/** The world point of voxel (column, row, k). */
const world = (column: number, row: number, k: number): Vec3 => add(add(position(k), ALONG, column * COLUMN_MM), DOWN, row * ROW_MM);

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expect(actual.length).toBe(expected.length);
  for (let n = 0; n < expected.length; n++) expect(actual[n]).toBeCloseTo(expected[n], 6);
}

/* ---- The engine: an Engine with a fabricated lesion around the click. ---- */

// Only what the service, the VOI plan and the export read; a small VOI grid so that a click in the
// middle of the series needs only some of its slices.
const CARD = {
  name: 'CMSVNetIter',
  version: '0.1.0',
  training: { data: 'TDSC-ABUS 2023' },
  input: { grid: [8, 8, 8], voxelMm: 0.5, voiMm: [4, 4, 4], normalization: 'zscore-voi' },
} as unknown as ModelCard;

/** Offsets in the 3x3x3 box: the centre voxel and its six face neighbours. */
const CROSS: Vec3[] = [[1, 1, 1], [0, 1, 1], [2, 1, 1], [1, 0, 1], [1, 2, 1], [1, 1, 0], [1, 1, 2]];

function lesionAround(center: Vec3, probability: number | null = 0.87): AnalysisResult {
  const c = center.map(Math.round) as Vec3;
  const mask = new Uint8Array(27);
  for (const [i, j, k] of CROSS) mask[i + 3 * (j + 3 * k)] = 1;
  return {
    found: true,
    probability,
    probabilityRange: probability === null ? null : [probability, probability],
    views: 1,
    networkProbability: probability,
    descriptors: null,
    verdict: probability === null ? null : probability > 0.63 ? 'Suspicious for malignancy' : probability < 0.21 ? 'Likely benign' : 'Indeterminate',
    label: probability === null ? null : probability > 0.63 ? 'malignant' : probability < 0.21 ? 'benign' : null,
    lesion: { mask, min: add(c, [1, 1, 1], -1), max: add(c, [1, 1, 1]), voxelCount: CROSS.length },
    size: { volumeMl: 0.001, longestMm: 1.6, extentMm: { lateral: 2.4, depth: 1.2, sweep: 1.5 } },
    centerIndex: center,
    clickIndex: center,
    analyses: 1,
    passes: 2,
    backend: 'webgpu',
    backendReason: 'stub',
    timingsMs: { total: 5 },
    notice: '',
  };
}

/** The voxels ("i,j,k") a lesion at `center` paints. */
const crossVoxels = (center: Vec3) => CROSS.map(([i, j, k]) => `${center[0] + i - 1},${center[1] + j - 1},${center[2] + k - 1}`).sort();

class StubEngine implements Engine {
  card: ModelCard = CARD;
  backend: { backend: BackendName; reason: string } | undefined;
  onBackendChange?: (change: BackendChange) => void;
  readonly calls: { center: Vec3; centerSpace?: string }[] = [];
  cancels = 0;
  /** What analyze() resolves with; a lesion around the click unless a test says otherwise. */
  respond: (center: Vec3) => Promise<AnalysisResult> = async (center) => lesionAround(center);
  private abort?: () => void;

  constructor(backend: BackendName) {
    this.backend = { backend, reason: `${backend} (stub)` };
  }

  async analyze(source: VolumeSource, center: Vec3, options: { centerSpace?: 'patient' | 'voxel' } = {}): Promise<AnalysisResult> {
    this.calls.push({ center: [...center], centerSpace: options.centerSpace });
    // As the real client: plan the VOI once and read its block from the viewer's volume.
    const plan = planClick(this.card, source, center, options.centerSpace ?? 'patient');
    await source.readBlock(plan.blockMin, plan.blockMax);
    return this.respond(center);
  }

  /** Where scan() finds lesions, and the places it checks that hold none. */
  scanFinds: Vec3[] = [];
  scanChecks: Vec3[] = [];
  /** Largest block scan() read, in voxels, and whether it stops at the signal. */
  scanLargestBlock = 0;
  scanWaits = false;

  /** As the real scan: the volume read a few slices at a time, progress per block, cancellable between blocks. */
  async scan(source: VolumeSource, options: ScanOptions = {}): Promise<ScanResult> {
    const [nx, ny, nz] = source.dims;
    const blocks = Math.ceil(nz / 4);
    for (let b = 0; b < blocks; b++) {
      options.onProgress?.({ stage: 'window', step: b + 1, of: blocks });
      const block = await source.readBlock([0, 0, 4 * b], [nx - 1, ny - 1, Math.min(4 * b + 3, nz - 1)]);
      this.scanLargestBlock = Math.max(this.scanLargestBlock, block.length);
      while (this.scanWaits && !options.signal?.aborted) await new Promise((r) => setTimeout(r, 5));
      if (options.signal?.aborted) throw Object.assign(new Error('Analysis cancelled'), { name: 'AbortError' });
    }
    // As the real scan may: the detector ranks a place the click analysis turned down first.
    const analysed = [...this.scanChecks.map((c) => ({ ...lesionAround(c), found: false })), ...this.scanFinds.map((c) => lesionAround(c))];
    const candidates: Candidate[] = analysed.map((analysis, n) => {
      const box = { min: analysis.lesion.min, max: analysis.lesion.max };
      const score = 0.95 - 0.1 * n;
      return { rank: n + 1, rawScore: score, score, centerIndex: analysis.centerIndex, centerMm: [0, 0, 0], found: analysis.found, box, coarse: { source: 'map', centerIndex: analysis.centerIndex, peak: 0.8, massMl: 0.01, darkness: 0, box }, analysis };
    });
    return { candidates, coarseCandidates: candidates.length, blobs: 0, windows: blocks, params: { calibration: { raw: [0, 1], share: [0, 1] } } as ScanResult['params'], timingsMs: { windows: 1, candidates: 1, total: 1200 } };
  }

  /** Makes the next analysis wait until cancel(), then fail as the worker's cancellation does. */
  hang(): void {
    this.respond = () =>
      new Promise((_, reject) => {
        this.abort = () => reject(Object.assign(new Error('Analysis cancelled'), { name: 'AbortError' }));
      });
  }

  cancel(): void {
    this.cancels++;
    this.abort?.();
  }

  async warmUp(): Promise<number> {
    return 0;
  }

  dispose(): void {}
}

/* ---- The viewer: OHIF services and cornerstone, as far as the plugin uses them. ---- */

interface Segment {
  label: string;
  cachedStats?: { namedStats?: object };
  algorithmType?: string;
  algorithmName?: string;
}
interface Note {
  title: string;
  message: string;
  type: string;
}
interface Annotation {
  annotationUID?: string;
  isVisible?: boolean;
  metadata: { toolName: string; referencedImageId: string; viewPlaneNormal: number[] };
  data: { text: string; handles: { points: number[][] }; abusMarkerRadiusMm?: number };
}
interface Options {
  modality?: string;
  backend?: BackendName;
  loadError?: Error;
  exportTarget?: AbusSettings['exportTarget'];
  /** The active data source: OHIF's DICOMweb one stores through store.dicom. */
  dataSource?: { store?: { dicom(buffer: ArrayBuffer): Promise<void> } };
}

function harness(options: Options = {}) {
  const engine = new StubEngine(options.backend ?? 'webgpu');
  const notes: Note[] = [];
  const segmentations = new Map<string, { segments: Record<number, Segment | undefined> }>();
  const labels = new Map<string, Uint8Array>();
  const annotations = new Map<string, Annotation>();
  /** Whether OHIF has computed a new segment's statistics by the time the plugin looks. */
  const stats = { immediate: true };
  const newSegment = (label: string): Segment => ({ label, cachedStats: stats.immediate ? { namedStats: {} } : undefined });

  const viewports = new Map([
    ['vp-1', { viewportId: 'vp-1', displaySetInstanceUIDs: [DS] }],
    ['vp-2', { viewportId: 'vp-2', displaySetInstanceUIDs: [DS] }],
    ['vp-3', { viewportId: 'vp-3', displaySetInstanceUIDs: ['ds-other'] }],
  ]);
  const instance = { Modality: options.modality ?? 'US', Rows: ROWS, Columns: COLUMNS };
  const displaySets: Record<string, object> = {
    [DS]: { displaySetInstanceUID: DS, Modality: options.modality ?? 'US', imageIds: DISPLAY_IDS, instance },
    'ds-other': { displaySetInstanceUID: 'ds-other', Modality: 'SR', imageIds: [] },
  };
  const camera = { focalPoint: world(12, 8, 4) };
  const views = new Map(
    [...viewports.values()].map((v) => [
      v.viewportId,
      {
        id: v.viewportId,
        getImageIds: () => (v.displaySetInstanceUIDs[0] === DS ? DISPLAY_IDS : []),
        getCamera: () => camera,
        jumpToWorld: jest.fn((_point: number[]) => true),
      },
    ]),
  );

  const segmentationService = {
    createLabelmapForDisplaySet: jest.fn(async (displaySet: { imageIds: string[] }, opts: { label: string; segments: Record<number, { label: string; active: boolean }> }) => {
      const id = `seg-${segmentations.size + 1}`;
      const segments: Record<number, Segment> = {};
      for (const [n, s] of Object.entries(opts.segments)) segments[Number(n)] = newSegment(s.label);
      segmentations.set(id, { segments });
      for (const imageId of displaySet.imageIds) labels.set(labelIdOf(imageId), new Uint8Array(COLUMNS * ROWS));
      return id;
    }),
    addSegmentationRepresentation: jest.fn(async (_viewportId: string, _spec: { segmentationId: string }) => undefined),
    addSegment: jest.fn((segmentationId: string, spec: { segmentIndex: number; label: string }) => {
      segmentations.get(segmentationId)!.segments[spec.segmentIndex] = newSegment(spec.label);
    }),
    getSegmentation: jest.fn((segmentationId: string) => segmentations.get(segmentationId)),
    setSegmentColor: jest.fn((_viewportId: string, _segmentationId: string, _segment: number, _color: number[]) => undefined),
    removeSegment: jest.fn((segmentationId: string, segment: number) => {
      delete segmentations.get(segmentationId)!.segments[segment];
    }),
  };
  const toolGroups = new Map([
    ['default', new Set<string>()],
    ['mpr', new Set<string>([ABUS_TOOL])],
  ]);
  const crosshairs = { active: false, center: world(3, 4, 6) };
  const services = {
    segmentationService,
    viewportGridService: {
      getActiveViewportId: () => 'vp-1',
      getDisplaySetsUIDsForViewport: (viewportId: string) => viewports.get(viewportId)?.displaySetInstanceUIDs,
      getState: () => ({ viewports }),
    },
    displaySetService: { getDisplaySetByUID: (uid: string) => displaySets[uid] },
    uiNotificationService: { show: (note: Note) => notes.push(note) },
    userAuthenticationService: { getAuthorizationHeader: () => ({ Authorization: 'Bearer stub' }) },
    toolGroupService: {
      getToolGroupIds: () => [...toolGroups.keys()],
      getToolGroup: (id: string) => {
        const tools = toolGroups.get(id);
        return tools && { hasTool: (name: string) => tools.has(name), addTool: jest.fn((name: string) => tools.add(name)) };
      },
      getToolGroupForViewport: () => ({
        getToolInstance: (name: string) => (name === 'Crosshairs' ? { toolCenter: crosshairs.center } : undefined),
        getToolOptions: (name: string) => (name === 'Crosshairs' ? { mode: crosshairs.active ? 'Active' : 'Disabled' } : undefined),
      }),
    },
    toolbarService: { sections: { primary: 'primary' }, register: jest.fn((_buttons: object[]) => undefined), updateSection: jest.fn((_section: string, _ids: string[]) => undefined) },
  };

  const planeFor = (imageId: string) => ({
    imagePositionPatient: position(sliceOf(imageId)),
    rowCosines: ALONG,
    columnCosines: DOWN,
    columnPixelSpacing: COLUMN_MM,
    rowPixelSpacing: ROW_MM,
    columns: COLUMNS,
    rows: ROWS,
    frameOfReferenceUID: FRAME_OF_REFERENCE,
  });
  const instanceFor = (imageId: string) => ({
    StudyInstanceUID: '1.2.3.1',
    SeriesInstanceUID: '1.2.3.2',
    FrameOfReferenceUID: FRAME_OF_REFERENCE,
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.6.1',
    SOPInstanceUID: `1.2.3.3.${sliceOf(imageId)}`,
    Modality: 'US',
    Rows: ROWS,
    Columns: COLUMNS,
    ImagePositionPatient: position(sliceOf(imageId)),
    PatientName: [{ Alphabetic: 'Stub^Patient' }],
    PatientID: 'ABUS-STUB',
  });
  const cornerstone = {
    metaData: { get: (type: string, imageId: string) => (type === 'imagePlaneModule' ? planeFor(imageId) : type === 'instance' ? instanceFor(imageId) : undefined) },
    imageLoader: { loadAndCacheImage: jest.fn(async (imageId: string) => ({ getPixelData: () => new Uint8Array(COLUMNS * ROWS).fill(sliceOf(imageId)) })) },
    cache: { getImage: (imageId: string) => (labels.has(imageId) ? { getPixelData: () => labels.get(imageId)! } : undefined) },
    getEnabledElementByViewportId: (viewportId: string) => (views.has(viewportId) ? { viewport: views.get(viewportId) } : undefined),
    getEnabledElement: (element: { viewportId: string }) => ({ viewport: views.get(element.viewportId) }),
  };
  const cornerstoneTools = {
    BaseTool: class {
      constructor(
        readonly props: unknown,
        readonly defaults: unknown,
      ) {}
    },
    addTool: jest.fn((_tool: unknown) => undefined),
    segmentation: {
      state: {
        getSegmentation: (segmentationId: string) =>
          segmentations.has(segmentationId) ? { representationData: { Labelmap: { imageIds: DISPLAY_IDS.map(labelIdOf) } } } : undefined,
      },
      triggerSegmentationEvents: { triggerSegmentationDataModified: jest.fn((_segmentationId: string) => undefined) },
    },
    annotation: {
      state: {
        addAnnotation: jest.fn((annotation: Annotation, _frameOfReference: string) => {
          const uid = `ann-${annotations.size + 1}`;
          annotation.annotationUID = uid;
          annotations.set(uid, annotation);
          return uid;
        }),
        getAnnotation: (uid: string) => annotations.get(uid),
        getAnnotations: (toolName: string, _element: unknown) => [...annotations.values()].filter((a) => a.metadata.toolName === toolName),
        removeAnnotation: jest.fn((uid: string) => annotations.delete(uid)),
      },
    },
    utilities: { triggerAnnotationRenderForViewportIds: jest.fn((_ids: string[]) => undefined) },
    drawing: {
      drawCircle: jest.fn((_svg: unknown, _uid: string, _id: string, _centre: number[], _radius: number, _options: object) => undefined),
      drawTextBox: jest.fn((_svg: unknown, _uid: string, _id: string, _lines: string[], _position: number[], _options: object) => ({ x: 0, y: 0, width: 120, height: 14 })),
    },
  };
  const cs: Cornerstone = { cornerstone, cornerstoneTools };

  const settings: AbusSettings = {
    weightsUrl: 'weights/',
    backend: 'auto',
    segFlavour: 'binary',
    exportTarget: options.exportTarget ?? 'dicomweb',
  };
  const managers = {
    services,
    extensionManager: {
      getModuleEntry: (id: string) => (id === '@ohif/extension-cornerstone.utilityModule.common' ? { exports: { getCornerstoneLibraries: () => cs } } : undefined),
      getActiveDataSource: () => [options.dataSource ?? {}],
    },
    // As OHIF's: runs the plugin's commands (the tool's clicks come this way).
    commandsManager: { runCommand: (name: string, args?: object) => (actions as Record<string, (a?: object) => unknown>)[name]?.(args) },
  };
  const createEngine = jest.fn(async () => {
    if (options.loadError) throw options.loadError;
    return engine;
  });
  const service = new AbusTumorService(managers, settings, createEngine);
  const { actions } = commandsModule(service);

  /** The painted labelmap voxels ("i,j,k" in slice order), by segment number. */
  function painted(): Map<number, string[]> {
    const out = new Map<number, string[]>();
    for (const [labelId, pixels] of labels) {
      const k = sliceOf(labelId);
      pixels.forEach((v, n) => {
        if (v) out.set(v, [...(out.get(v) ?? []), `${n % COLUMNS},${Math.floor(n / COLUMNS)},${k}`]);
      });
    }
    for (const list of out.values()) list.sort();
    return out;
  }

  return { engine, service, createEngine, actions, notes, segmentations, annotations, stats, crosshairs, views, services, cornerstone, cornerstoneTools, painted };
}

type Harness = ReturnType<typeof harness>;

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let n = 0; n < 400 && !condition(); n++) await new Promise((r) => setTimeout(r, 5));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

const last = (h: Harness) => h.notes[h.notes.length - 1];

async function loaded(options: Options = {}): Promise<Harness> {
  const h = harness(options);
  await h.actions.abusLoadModel();
  return h;
}

/** OHIF's DICOMweb data source as far as export uses it: what it stored, or the HTTP status it fails with. */
function dataSource(status = 200) {
  const stored: Uint8Array[] = [];
  const dicom = jest.fn(async (buffer: ArrayBuffer) => {
    if (status !== 200) throw Object.assign(new Error('request failed'), { status });
    stored.push(new Uint8Array(buffer));
  });
  return { stored, source: { store: { dicom } } };
}

describe('abusLoadModel', () => {
  it('loads the model once and becomes ready, without a notice on WebGPU', async () => {
    const h = harness();
    let changes = 0;
    const subscription = h.service.subscribe(AbusTumorService.EVENTS.STATE_CHANGED, () => changes++);
    await Promise.all([h.actions.abusLoadModel(), h.actions.abusLoadModel()]);
    subscription.unsubscribe();
    expect(h.createEngine).toHaveBeenCalledTimes(1);
    expect(h.service.state.status).toBe('ready');
    expect(h.service.state.engine).toBe(h.engine);
    // One short line; why this backend and what the model was trained on are in the detail (hover).
    expect(h.service.state.message).toBe('Model CMSVNetIter 0.1.0 · webgpu');
    expect(h.service.state.detail).toBe('Backend: webgpu (stub). Model CMSVNetIter 0.1.0, trained on TDSC-ABUS 2023.');
    expect(h.service.state.fallback).toBeUndefined();
    expect(h.notes).toEqual([]);
    expect(changes).toBeGreaterThan(0);
  });

  it('says when the model does not run on WebGPU', async () => {
    const h = await loaded({ backend: 'wasm' });
    expect(h.service.state.status).toBe('ready');
    // Not "Analyses will be slower": wasm may well be the faster choice on this machine.
    expect(h.service.state.fallback).toBe('Not on WebGPU: running on wasm (stub).');
    expect(h.notes).toEqual([expect.objectContaining({ type: 'warning', message: h.service.state.fallback })]);
  });

  it('reports a model that fails to load, and analyses then say why', async () => {
    const h = await loaded({ loadError: new Error('weights not found (HTTP 404)') });
    expect(h.service.state.status).toBe('error');
    expect(h.service.state.message).toBe('The model could not be loaded: weights not found (HTTP 404)');
    // Said at once in OHIF's notifications too, not only in the panel.
    expect(h.notes).toEqual([expect.objectContaining({ type: 'error', message: h.service.state.message })]);
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
    expect(last(h)).toMatchObject({ type: 'error', message: h.service.state.message });
  });

  it('follows the engine changing backend after a GPU loss', async () => {
    const h = await loaded();
    const lost = 'The GPU was lost (destroyed); now running on wasm';
    h.engine.backend = { backend: 'wasm', reason: 'wasm (after GPU loss)' };
    h.engine.onBackendChange!({ backend: 'wasm', reason: 'wasm (after GPU loss)', lost: 'destroyed', message: lost });
    expect(h.service.state.fallback).toBe(lost);
    expect(h.service.state.detail).toContain('Backend: wasm (after GPU loss)');
    expect(last(h)).toMatchObject({ type: 'warning', message: lost });

    h.engine.backend = undefined;
    h.engine.onBackendChange!({ backend: null, reason: 'none', lost: 'destroyed', message: 'No backend could start' });
    expect(h.service.state.message).toBe('No backend could start');

    h.engine.backend = { backend: 'webgpu', reason: 'webgpu (new device)' };
    h.engine.onBackendChange!({ backend: 'webgpu', reason: 'webgpu (new device)', lost: 'destroyed', message: 'Back on WebGPU' });
    expect(h.service.state.fallback).toBeUndefined();
    expect(last(h)).toMatchObject({ type: 'info', message: 'Back on WebGPU' });
  });
});

describe('abusAnalyzeAtPoint', () => {
  it('asks the model to wait while it loads', async () => {
    const h = harness();
    expect(await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) })).toBeUndefined();
    expect(last(h)).toMatchObject({ type: 'error', message: 'The model is still loading; try again in a moment' });
  });

  it('analyses at the clicked voxel and writes the lesion into the viewer', async () => {
    const h = await loaded();
    const record = await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });

    expect(h.engine.calls).toHaveLength(1);
    expectNear(h.engine.calls[0].center, [10, 6, 5]);
    expect(h.engine.calls[0].centerSpace).toBe('voxel');
    // The VOI of an 8-voxel grid at 0.5 mm spans 4 slices each side of the click, not the series.
    expect(h.cornerstone.imageLoader.loadAndCacheImage.mock.calls.map(([id]) => id)).toEqual(SORTED_IDS.slice(1, 10));

    const seg = h.services.segmentationService;
    expect(seg.createLabelmapForDisplaySet).toHaveBeenCalledTimes(1);
    expect(seg.createLabelmapForDisplaySet.mock.calls[0][1].segments).toEqual({ 1: { label: 'Lesion 1: Suspicious for malignancy, 87% (AI)', active: true } });
    expect(seg.addSegmentationRepresentation.mock.calls.map(([viewportId]) => viewportId)).toEqual(['vp-1', 'vp-2']);
    expect(seg.setSegmentColor.mock.calls).toEqual([
      ['vp-1', 'seg-1', 1, [220, 50, 47, 255]],
      ['vp-2', 'seg-1', 1, [220, 50, 47, 255]],
    ]);
    expect(h.segmentations.get('seg-1')!.segments[1]).toMatchObject({ algorithmType: 'AUTOMATIC', algorithmName: `${ALGORITHM_NAME} CMSVNetIter 0.1.0` });
    // Label images follow the display set's order, the engine's k follows the slice order.
    expect(h.painted()).toEqual(new Map([[1, crossVoxels([10, 6, 5])]]));
    expect(h.cornerstoneTools.segmentation.triggerSegmentationEvents.triggerSegmentationDataModified).toHaveBeenCalledWith('seg-1');

    expect([...h.annotations.keys()]).toEqual(['ann-1']);
    const annotation = h.annotations.get('ann-1')!;
    expect(annotation.data.text).toBe('Lesion 1: Suspicious for malignancy, 87% (AI)');
    expect(annotation.metadata).toMatchObject({ toolName: 'ArrowAnnotate', referencedImageId: 'us:5' });
    expectNear(annotation.data.handles.points[0], world(10, 6, 5));

    // The result is in the panel; no notification covers it.
    expect(h.notes).toEqual([]);
    expect(h.service.state.outcome).toBe('Lesion 1: Suspicious for malignancy, 87% (AI)');
    expect(h.service.state.status).toBe('ready');
    expect(h.service.state.lesions).toEqual([record]);
    expect(record).toMatchObject({ number: 1, segmentationId: 'seg-1', displaySetInstanceUID: DS, annotationUID: 'ann-1', imageIds: SORTED_IDS, assumedGeometry: [] });
    expectNear(record!.centroidWorld, world(10, 6, 5));
    expectNear(record!.pointMm, world(10, 6, 5));
  });

  it('adds later lesions as new segments and never reuses a number', async () => {
    const h = await loaded();
    const seg = h.services.segmentationService;
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
    h.engine.respond = async (center) => lesionAround(center, 0.2);
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-2', world: world(4, 10, 8) });

    expect(seg.createLabelmapForDisplaySet).toHaveBeenCalledTimes(1);
    expect(seg.addSegment.mock.calls).toEqual([['seg-1', { segmentIndex: 2, label: 'Lesion 2: Likely benign, 20% (AI)' }]]);
    expect(seg.setSegmentColor).toHaveBeenCalledWith('vp-2', 'seg-1', 2, [60, 180, 75, 255]);
    expect(h.segmentations.get('seg-1')!.segments[2]).toMatchObject({ algorithmType: 'AUTOMATIC' });
    expect(h.painted()).toEqual(new Map([[1, crossVoxels([10, 6, 5])], [2, crossVoxels([4, 10, 8])]]));
    expect([...h.annotations.values()].map((a) => a.data.text)).toEqual(['Lesion 1: Suspicious for malignancy, 87% (AI)', 'Lesion 2: Likely benign, 20% (AI)']);

    h.actions.abusRemoveLesion({ number: 1 });
    expect(seg.removeSegment).toHaveBeenCalledWith('seg-1', 1);
    expect(h.cornerstoneTools.annotation.state.removeAnnotation).toHaveBeenCalledWith('ann-1');
    expect([...h.annotations.keys()]).toEqual(['ann-2']);
    expect(h.service.state.lesions.map((l) => l.number)).toEqual([2]);

    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(15, 3, 2) });
    expect(seg.addSegment.mock.calls[1]).toEqual(['seg-1', { segmentIndex: 3, label: 'Lesion 3: Likely benign, 20% (AI)' }]);
    expect(h.service.state.lesions.map((l) => l.number)).toEqual([2, 3]);
  });

  it('a second click on a lesion is that lesion and its number: no new analysis, nothing rewritten', async () => {
    const h = await loaded();
    const seg = h.services.segmentationService;
    const first = await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
    expect(h.engine.calls).toHaveLength(1);
    // 1 voxel off the first click, inside the lesion: the same mass, the same answer.
    h.engine.respond = async (center) => lesionAround(center, 0.4);
    const second = await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(11, 6, 5) });
    expect(second).toBe(first);
    expect(h.engine.calls).toHaveLength(1);
    expect(h.service.state.lesions).toHaveLength(1);
    expect(h.service.state.outcomeKind).toBe('already-analysed');
    expect(h.service.state.outcome).toBe('Lesion 1 (already marked): Suspicious for malignancy, 87% (AI)');
    expect(seg.addSegment).not.toHaveBeenCalled();
    expect(h.painted()).toEqual(new Map([[1, crossVoxels([10, 6, 5])]]));
    // The views go to it.
    await until(() => h.views.get('vp-1')!.jumpToWorld.mock.calls.length > 1, 'the jump to lesion 1');
  });

  it('a click within 2 mm of a lesion box is that lesion; further away it is a new lesion', async () => {
    const h = await loaded();
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
    // The box spans columns 9-11 (0.8 mm columns): column 13 is 1.6 mm beyond it, column 15 3.2 mm.
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(13, 6, 5) });
    expect(h.service.state.lesions.map((l) => l.number)).toEqual([1]);
    expect(h.engine.calls).toHaveLength(1);
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(15, 6, 5) });
    expect(h.service.state.lesions.map((l) => l.number)).toEqual([1, 2]);
  });

  it("overlapping lesions never erase each other's voxels; each keeps exactly the voxels it shows", async () => {
    const h = await loaded();
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
    // A second mass whose cross overlaps the first one's at voxel (11, 6, 5), clicked more than
    // 2 mm from lesion 1's box (rows 5-7, 0.4 mm rows: row 14 is 2.8 mm below it).
    h.engine.respond = async () => lesionAround([12, 6, 5]);
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 14, 5) });
    const [first, second] = h.service.state.lesions;
    const painted = h.painted();
    expect(painted.get(1)).toEqual(crossVoxels([10, 6, 5]));
    expect(painted.get(2)).toEqual(crossVoxels([12, 6, 5]).filter((v) => v !== '11,6,5'));
    const voxelsOf = (r: typeof first) => {
      const { mask, min, max } = r.result.lesion;
      const out: string[] = [];
      for (let k = min[2], n = 0; k <= max[2]; k++) for (let j = min[1]; j <= max[1]; j++) for (let i = min[0]; i <= max[0]; i++, n++) if (mask[n]) out.push(`${i},${j},${k}`);
      return out.sort();
    };
    // What is exported (the records' masks) is what is on screen.
    expect(voxelsOf(first)).toEqual(painted.get(1));
    expect(voxelsOf(second)).toEqual(painted.get(2));
    expect(second.result.lesion.voxelCount).toBe(6);
  });

  it('waits for the statistics of existing segments before adding one (OHIF 3.13 would drop it)', async () => {
    const h = await loaded();
    h.stats.immediate = false;
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
    const second = h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(4, 10, 8) });
    await until(() => h.engine.calls.length === 2, 'the second analysis');
    await new Promise((r) => setTimeout(r, 150));
    expect(h.services.segmentationService.addSegment).not.toHaveBeenCalled();
    h.segmentations.get('seg-1')!.segments[1]!.cachedStats = { namedStats: {} };
    expect(await second).toMatchObject({ number: 2 });
    expect(h.services.segmentationService.addSegment).toHaveBeenCalledTimes(1);
  });

  it('refuses a click outside the volume and adds nothing', async () => {
    const h = await loaded();
    expect(await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, SLICES + 3) })).toBeUndefined();
    expect(last(h).type).toBe('error');
    expect(last(h).message).toContain('outside the image volume');
    expect(h.engine.calls).toEqual([]);
    expect(h.services.segmentationService.createLabelmapForDisplaySet).not.toHaveBeenCalled();
    expect(h.annotations.size).toBe(0);
    expect(h.service.state.lesions).toEqual([]);
    expect(h.service.state.status).toBe('ready');
    // The panel says it too, where the click's outcome goes.
    expect(h.service.state.outcomeKind).toBe('error');
    expect(h.service.state.outcome).toContain('outside the image volume');
  });

  it('refuses a series that is not ultrasound, naming its modality', async () => {
    const h = await loaded({ modality: 'CT' });
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
    expect(last(h)).toMatchObject({ type: 'error', message: 'This is a CT series; the analysis needs 3-D ultrasound' });
    expect(h.engine.calls).toEqual([]);
  });

  it('"no lesion here" is a result: said in the panel, nothing written, no error', async () => {
    const h = await loaded();
    h.engine.respond = async (center) => ({ ...lesionAround(center), found: false });
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
    expect(h.service.state.outcomeKind).toBe('no-lesion');
    expect(h.service.state.outcome).toBe('No lesion at that point (nothing was added).');
    expect(h.service.state.status).toBe('ready');
    expect(h.notes.filter((n) => n.type === 'error')).toEqual([]);
    expect(h.painted().size).toBe(0);
    expect(h.services.segmentationService.createLabelmapForDisplaySet).not.toHaveBeenCalled();
    expect(h.service.state.lesions).toEqual([]);
  });

  it('runs one analysis at a time, and abusCancel stops it', async () => {
    const h = await loaded();
    h.engine.hang();
    const first = h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
    await until(() => h.engine.calls.length === 1, 'the analysis to start');
    expect(h.service.state.status).toBe('running');

    expect(await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(4, 10, 8) })).toBeUndefined();
    expect(last(h)).toMatchObject({ type: 'info', message: 'An analysis is already running; wait for it or cancel it' });
    expect(h.engine.calls).toHaveLength(1);

    h.actions.abusCancel();
    expect(await first).toBeUndefined();
    expect(h.engine.cancels).toBe(1);
    expect(last(h)).toMatchObject({ type: 'info', message: 'Analysis cancelled' });
    expect(h.service.state.status).toBe('ready');
    expect(h.service.state.lesions).toEqual([]);
  });
});

describe('abusFindLesions', () => {
  it('scans the series of the active view, a few slices at a time, and proposes the lesions found without drawing them', async () => {
    const h = await loaded();
    h.engine.scanFinds = [[10, 6, 5], [4, 10, 8]];
    h.engine.scanChecks = [[18, 4, 2]];
    const messages: string[] = [];
    h.service.subscribe(AbusTumorService.EVENTS.STATE_CHANGED, () => messages.push(h.service.state.message));
    const rows = await h.actions.abusFindLesions();

    // The proposals are numbered 1, 2 in the scan's order, though the scan ranked a rejected place first.
    expect(rows!.map((r) => r.rank)).toEqual([1, 2]);
    expect(rows!.map((r) => r.result.centerIndex)).toEqual([[10, 6, 5], [4, 10, 8]]);
    expect(h.engine.scanLargestBlock).toBe(COLUMNS * ROWS * 4);
    expect(messages).toContain('Finding lesions: scanning 2/3…');
    expect(h.service.state.status).toBe('ready');
    expect(h.service.state.outcome).toBe('2 possible lesions found in 1.2 s; 1 other place checked: no lesion. Accept or reject each.');
    expect(h.service.state.outcomeKind).toBe('candidates');
    // Proposals are not lesions: nothing painted, annotated or exportable yet.
    expect(h.service.state.lesions).toEqual([]);
    expect(h.painted()).toEqual(new Map());
    expect(h.annotations.size).toBe(0);
    // The views go to the first proposal.
    await until(() => h.views.get('vp-1')!.jumpToWorld.mock.calls.length > 0, 'the jump to the first proposal');
    expectNear(h.views.get('vp-2')!.jumpToWorld.mock.calls[0][0], world(10, 6, 5));
  });

  it('accepting a proposal makes it a lesion as a click would; rejecting one drops it; both go into the export', async () => {
    const store = dataSource();
    const h = await loaded({ dataSource: store.source });
    h.engine.scanFinds = [[10, 6, 5], [4, 10, 8], [18, 4, 2]];
    await h.actions.abusFindLesions();
    await h.actions.abusAcceptCandidate({ rank: 2 });
    h.actions.abusRejectCandidate({ rank: 3 });
    await h.actions.abusAcceptCandidate({ rank: 1 });

    expect(h.service.state.candidates).toEqual([]);
    expect(h.service.state.lesions.map((l) => l.number)).toEqual([1, 2]);
    expect(h.painted()).toEqual(new Map([[1, crossVoxels([4, 10, 8])], [2, crossVoxels([10, 6, 5])]]));
    expect([...h.annotations.values()].map((a) => a.data.text)).toEqual(['Lesion 1: Suspicious for malignancy, 87% (AI)', 'Lesion 2: Suspicious for malignancy, 87% (AI)']);
    await h.actions.abusExport();
    expect(readSeg(store.stored[0]).segments.map((s) => s.number)).toEqual([1, 2]);
  });

  it('accepts one proposal at a time: an Accept while another is written is refused, so numbers stay unique', async () => {
    const h = await loaded();
    h.engine.scanFinds = [[10, 6, 5], [4, 10, 8], [18, 4, 2]];
    await h.actions.abusFindLesions();
    // The model's scan has a calibrated score: the panel words it as a share of lesions.
    expect(h.service.state.candidates.map((c) => c.calibrated)).toEqual([true, true, true]);
    // OHIF has not computed the first segment's statistics yet, so writing the second one waits.
    h.stats.immediate = false;
    await h.actions.abusAcceptCandidate({ rank: 1 });
    const second = h.actions.abusAcceptCandidate({ rank: 2 });
    expect(h.service.state.status).toBe('running');
    expect(await h.actions.abusAcceptCandidate({ rank: 3 })).toBeUndefined();
    expect(last(h)).toMatchObject({ type: 'info', message: 'An analysis is already running; wait for it or cancel it' });
    h.segmentations.get('seg-1')!.segments[1]!.cachedStats = { namedStats: {} };
    await second;
    expect(h.service.state.lesions.map((l) => l.number)).toEqual([1, 2]);
    expect(h.service.state.candidates.map((c) => c.rank)).toEqual([3]);
    expect(h.service.state.status).toBe('ready');
  });

  it('a candidate on a lesion already marked is listed as that lesion, not proposed', async () => {
    const h = await loaded();
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
    h.engine.scanFinds = [[10, 6, 5], [4, 10, 8]];
    const rows = await h.actions.abusFindLesions();
    expect(rows!.map((r) => [r.rank, r.marked])).toEqual([[1, 1], [2, undefined]]);
    expect(h.service.state.outcome).toBe('1 possible lesion found in 1.2 s; 1 already marked. Accept or reject each.');
    // Accepting the marked one adds nothing: it is lesion 1.
    expect(await h.actions.abusAcceptCandidate({ rank: 1 })).toBe(h.service.state.lesions[0]);
    expect(h.service.state.outcomeKind).toBe('already-analysed');
    expect(h.service.state.lesions.map((l) => l.number)).toEqual([1]);
    expect(h.painted()).toEqual(new Map([[1, crossVoxels([10, 6, 5])]]));
  });

  it('a proposal on a lesion marked after the scan is that lesion when accepted', async () => {
    const h = await loaded();
    h.engine.scanFinds = [[10, 6, 5]];
    const rows = await h.actions.abusFindLesions();
    expect(rows![0].marked).toBeUndefined();
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
    await h.actions.abusAcceptCandidate({ rank: 1 });
    expect(h.service.state.lesions.map((l) => l.number)).toEqual([1]);
    expect(h.service.state.candidates.map((c) => [c.rank, c.marked])).toEqual([[1, 1]]);
    expect(h.service.state.outcomeKind).toBe('already-analysed');
  });

  it('a scan that finds only lesions already marked proposes nothing', async () => {
    const h = await loaded();
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
    h.engine.scanFinds = [[10, 6, 5]];
    await h.actions.abusFindLesions();
    expect(h.service.state.outcome).toBe('No new lesion found in this series (1.2 s; 1 already marked).');
    expect(h.service.state.outcomeKind).toBe('no-lesion');
  });

  it('says when the series holds no lesion', async () => {
    const h = await loaded();
    h.engine.scanChecks = [[18, 4, 2]];
    expect(await h.actions.abusFindLesions()).toEqual([]);
    expect(h.service.state.outcome).toBe('No lesion found in this series (3 windows, 1.2 s; 1 other place checked: no lesion).');
    expect(h.service.state.outcomeKind).toBe('no-lesion');
  });

  it('abusCancel stops a scan; a click meanwhile is refused', async () => {
    const h = await loaded();
    h.engine.scanFinds = [[10, 6, 5]];
    h.engine.scanWaits = true;
    const scan = h.actions.abusFindLesions();
    await until(() => h.engine.scanLargestBlock > 0, 'the scan to start');
    expect(h.service.state.status).toBe('running');
    expect(await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(4, 10, 8) })).toBeUndefined();
    h.actions.abusCancel();
    expect(await scan).toBeUndefined();
    expect(last(h)).toMatchObject({ type: 'info', message: 'Finding lesions cancelled' });
    expect(h.service.state).toMatchObject({ status: 'ready', outcomeKind: 'cancelled', candidates: [] });
  });

  it('refuses a series that is not ultrasound', async () => {
    const h = await loaded({ modality: 'CT' });
    expect(await h.actions.abusFindLesions()).toBeUndefined();
    expect(last(h)).toMatchObject({ type: 'error', message: 'This is a CT series; the analysis needs 3-D ultrasound' });
  });
});

describe('abusAnalyzeAtCrosshair', () => {
  it('analyses at the Crosshairs centre when the tool is active', async () => {
    const h = await loaded();
    h.crosshairs.active = true;
    await h.actions.abusAnalyzeAtCrosshair();
    expectNear(h.engine.calls[0].center, [3, 4, 6]);
  });

  it('analyses at the centre of the active view otherwise', async () => {
    const h = await loaded();
    await h.actions.abusAnalyzeAtCrosshair();
    expectNear(h.engine.calls[0].center, [12, 8, 4]);
  });
});

describe('abusInstallTool', () => {
  it('adds the tool to every tool group and its button, and a click analyses there', async () => {
    const h = await loaded();
    h.actions.abusInstallTool();
    const added = h.cornerstoneTools.addTool.mock.calls.map(([tool]) => tool as { toolName: string });
    expect(added.map((t) => t.toolName)).toEqual([ABUS_TOOL, MARKER_TOOL]);
    const Tool = added[0] as unknown as (new () => { preMouseDownCallback(evt: object): boolean }) & { toolName: string };
    const groups = h.services.toolGroupService.getToolGroupIds().map((id) => h.services.toolGroupService.getToolGroup(id)!);
    expect(groups.every((g) => g.hasTool(ABUS_TOOL) && g.hasTool(MARKER_TOOL))).toBe(true);
    expect(h.services.toolbarService.register).toHaveBeenCalledWith([expect.objectContaining({ id: ABUS_TOOL }), expect.objectContaining({ id: ABUS_FIND_BUTTON.id, props: expect.objectContaining({ commands: 'abusFindLesions' }) })]);
    expect(h.services.toolbarService.updateSection).toHaveBeenCalledWith('primary', [ABUS_TOOL, ABUS_FIND_BUTTON.id]);

    const consumed = new Tool().preMouseDownCallback({ detail: { element: { viewportId: 'vp-2' }, currentPoints: { world: world(9, 7, 3) } } });
    expect(consumed).toBe(true);
    await until(() => h.service.state.lesions.length === 1, 'the analysis of the click');
    expectNear(h.engine.calls[0].center, [9, 7, 3]);
  });
});

describe('the lesion marker', () => {
  /** A view of the lesion's series: its plane's normal and focal point, and a canvas 400 px wide. */
  const view = (normal: number[], focalPoint: number[]) => ({ viewport: { element: {}, canvas: { clientWidth: 400 }, getCamera: () => ({ viewPlaneNormal: normal, focalPoint }), worldToCanvas: (_p: number[]) => [390, 50] } });

  it("draws the arrow's label at its tip in the other views whose slice cuts the lesion, not in the arrow's own plane", async () => {
    const h = await loaded();
    h.actions.abusInstallTool();
    const Marker = h.cornerstoneTools.addTool.mock.calls.map(([tool]) => tool).find((t) => (t as { toolName: string }).toolName === MARKER_TOOL) as new () => { renderAnnotation(e: object, svg: object): boolean };
    const marker = new Marker();
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
    const arrow = h.annotations.get('ann-1')!;
    const tip = arrow.data.handles.points[0];
    // Half the longest diameter (1.6 mm here), at least 1 mm.
    expect(arrow.data.abusMarkerRadiusMm).toBe(1);
    const { drawCircle, drawTextBox } = h.cornerstoneTools.drawing;
    expect(marker.renderAnnotation(view(NORMAL, tip), {})).toBe(false); // the arrow's own plane draws the arrow
    expect(marker.renderAnnotation(view(ALONG, add(tip, ALONG, 2)), {})).toBe(false); // 2 mm away from the lesion
    expect(drawCircle).not.toHaveBeenCalled();
    expect(marker.renderAnnotation(view(ALONG, add(tip, ALONG, 0.5)), {})).toBe(true);
    expect(drawCircle).toHaveBeenCalledWith({}, 'ann-1-marker', 'ring', [390, 50], 6, expect.anything());
    // Centred above the ring, then moved left so that the 120 px label stays in the 400 px view.
    expect(drawTextBox.mock.calls.map((c) => [c[3], c[4]])).toEqual([[[arrow.data.text], [390, 20]], [[arrow.data.text], [276, 20]]]);
    arrow.isVisible = false;
    drawCircle.mockClear();
    expect(marker.renderAnnotation(view(DOWN, tip), {})).toBe(false);
    expect(drawCircle).not.toHaveBeenCalled();
  });
});

describe('abusJumpToLesion / abusRemoveLesion', () => {
  it('shows the lesion in every view of its series', async () => {
    const h = await loaded();
    const record = await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
    h.actions.abusJumpToLesion({ number: 1 });
    expect(h.views.get('vp-1')!.jumpToWorld).toHaveBeenCalledWith(record!.centroidWorld);
    expect(h.views.get('vp-2')!.jumpToWorld).toHaveBeenCalledWith(record!.centroidWorld);
    expect(h.views.get('vp-3')!.jumpToWorld).not.toHaveBeenCalled();
  });

  it('removes an annotation OHIF tracks as a measurement through the measurement service', async () => {
    const h = await loaded();
    const measurementService = { getMeasurement: (uid: string) => (uid === 'ann-1' ? { uid } : undefined), remove: jest.fn((_uid: string) => undefined) };
    Object.assign(h.services, { measurementService });
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
    h.actions.abusRemoveLesion({ number: 1 });
    expect(measurementService.remove).toHaveBeenCalledWith('ann-1');
    expect(h.cornerstoneTools.annotation.state.removeAnnotation).not.toHaveBeenCalled();
    expect(h.service.state.lesions).toEqual([]);
  });
});

describe('abusExport', () => {
  /** A data source whose store.dicom records each file, or fails with an HTTP status. */
  it('has nothing to export before an analysis', async () => {
    const h = await loaded();
    await h.actions.abusExport();
    expect(last(h)).toMatchObject({ type: 'error', title: 'ABUS Tumor AI export failed', message: 'There is no result to export yet' });
  });

  it("stores the SEG and SR through OHIF's data source, the SEG on the analysed slices", async () => {
    const store = dataSource();
    const h = await loaded({ dataSource: store.source });
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
    await h.actions.abusExport();

    expect(last(h)).toMatchObject({ type: 'success', message: 'SEG and SR stored (1 lesion)' });
    expect(store.source.store.dicom).toHaveBeenCalledTimes(2);
    const [segBytes, srBytes] = store.stored;
    expect(srBytes.length).toBeGreaterThan(0);
    const seg = readSeg(segBytes);
    expect(seg.segments).toEqual([{ number: 1, label: 'Lesion 1: Suspicious for malignancy, 87% (AI)' }]);
    expect(seg.frames.map((f) => f.sopInstanceUID).sort()).toEqual(['1.2.3.3.4', '1.2.3.3.5', '1.2.3.3.6']);
    const centre = seg.frames.find((f) => f.sopInstanceUID === '1.2.3.3.5')!;
    expect(centre.pixels[6 * COLUMNS + 10]).toBe(1);
    expect(centre.pixels.reduce((a, b) => a + b, 0)).toBe(5);
    expect(h.service.state.exported).toBeDefined();
  });

  it('keeps the results when the store fails, and says whether the server was down', async () => {
    for (const [status, says] of [[500, 'refused the SEG and SR (HTTP 500)'], [503, 'is unavailable (HTTP 503)'], [0, 'could not be reached']] as const) {
      const h = await loaded({ dataSource: dataSource(status).source });
      await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
      await h.actions.abusExport();
      expect(last(h).type).toBe('error');
      expect(last(h).message).toContain(says);
      expect(h.service.state.lesions).toHaveLength(1);
      expect(h.service.state.exported).toBeUndefined();
    }
  });

  it('needs a data source that can store', async () => {
    const h = await loaded();
    await h.actions.abusAnalyzeAtPoint({ viewportId: 'vp-1', world: world(10, 6, 5) });
    await h.actions.abusExport();
    expect(last(h)).toMatchObject({ type: 'error', message: 'The active data source cannot store DICOM; set exportTarget to download' });
  });
});

describe('addVolumeAvailableAttribute', () => {
  it('is true only for a study with a reconstructable ultrasound series', () => {
    const attributes: { id: string; callback: (study?: { StudyInstanceUID?: string }) => boolean }[] = [];
    let active: object[] = [];
    addVolumeAvailableAttribute({
      hangingProtocolService: { addCustomAttribute: (id: string, _name: string, callback: (study?: object) => boolean) => attributes.push({ id, callback }) },
      displaySetService: { getActiveDisplaySets: () => active },
    });
    expect(attributes).toHaveLength(1);
    const [{ id, callback }] = attributes;
    expect(abusThreeView.protocolMatchingRules).toEqual([expect.objectContaining({ attribute: id, required: true })]);

    active = [
      { StudyInstanceUID: 's1', Modality: 'US', isReconstructable: false },
      { StudyInstanceUID: 's1', Modality: 'CT', isReconstructable: true },
      { StudyInstanceUID: 's2', Modality: 'US', isReconstructable: true },
    ];
    expect(callback({ StudyInstanceUID: 's1' })).toBe(false);
    expect(callback({ StudyInstanceUID: 's2' })).toBe(true);
    expect(callback({ StudyInstanceUID: 's3' })).toBe(false);
    expect(callback(undefined)).toBe(false);
    active.push({ StudyInstanceUID: 's1', Modality: 'US', isReconstructable: true });
    expect(callback({ StudyInstanceUID: 's1' })).toBe(true);
  });
});
