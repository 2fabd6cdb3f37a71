/**
 * One click to a result in the viewer: the clicked point in patient coordinates, only the VOI's
 * slices read, the worker's analysis, and the lesion written into an OHIF labelmap segmentation
 * (one lesion per mass: a click on a lesion already found is that lesion, see lesionAtClick).
 */
import type { AnalysisResult, Engine, Laterality, Progress, Vec3, VolumeGeometry } from '@abus-tumor-ai/engine';
import { indexToPatient, lateralityOf, lesionLabel, measureLesion } from '@abus-tumor-ai/engine';
import { addLesionAnnotation, removeLesionAnnotation } from './annotation';
import type { Cornerstone } from './host';
import { ViewerVolume, viewerVolume } from './viewer-volume';
import { imagePointAt, worldAt } from './viewer-point';

/* OHIF's services, typed loosely: the host does not share its types with runtime plugins. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Services = Record<string, any>;

export interface LesionRecord {
  number: number;
  result: AnalysisResult;
  segmentationId: string;
  displaySetInstanceUID: string;
  /** The arrow annotation with the label on the image. */
  annotationUID?: string;
  /** The clicked point in the engine's patient frame. */
  pointMm: Vec3;
  /** The lesion's centroid in the viewer's world frame (where "show" jumps to). */
  centroidWorld: [number, number, number];
  /** The analysed series in the engine's k order and its geometry, for DICOM export. */
  imageIds: string[];
  geometry: VolumeGeometry;
  /** Geometry the analysis had to assume (an Invenia-style sweep); shown to the user. */
  assumedGeometry: string[];
  /** Which breast, read from the series (see the engine's lateralityOf). */
  laterality: Laterality;
}

export function hostCornerstone(extensionManager: { getModuleEntry(id: string): { exports: { getCornerstoneLibraries(): Cornerstone } } }): Cornerstone {
  return extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common').exports.getCornerstoneLibraries();
}

/** The active viewport's id. */
export function activeViewportId(services: Services): string {
  return services.viewportGridService.getActiveViewportId();
}

/**
 * A viewport, its cornerstone viewport and its (first) display set. Waits up to `waitMs` for the
 * viewport to be given its images, because a click can come while the series is still loading.
 */
export async function viewportOf(services: Services, cs: Cornerstone, viewportId: string, waitMs = 0) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const uids: string[] | undefined = services.viewportGridService.getDisplaySetsUIDsForViewport(viewportId);
    const viewport = cs.cornerstone.getEnabledElementByViewportId(viewportId)?.viewport;
    const ready = uids?.length && viewport && (viewport.getImageIds?.() ?? []).length > 0;
    if (ready) return { viewportId, displaySet: services.displaySetService.getDisplaySetByUID(uids![0]), viewport };
    if (Date.now() >= deadline) {
      throw new Error(uids?.length ? 'The images are still loading; try again in a moment' : 'No image series is shown in this viewport');
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The ids of the viewports that show a display set (one in a 1-up layout, three in the ABUS layout). */
export function viewportsShowing(services: Services, displaySetInstanceUID: string): string[] {
  const { viewports } = services.viewportGridService.getState();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return [...viewports.values()].filter((v: any) => v.displaySetInstanceUIDs?.includes(displaySetInstanceUID)).map((v: any) => v.viewportId);
}

/** Segment colours by class (RGBA 0-255), the same as in the exported SEG. */
export function classColor(result: AnalysisResult): [number, number, number, number] {
  if (result.label === 'malignant') return [220, 50, 47, 255];
  if (result.label === 'benign') return [60, 180, 75, 255];
  return [240, 190, 40, 255];
}

/**
 * OHIF 3.13 recomputes segment statistics after every labelmap change and writes back the whole
 * segmentation as it was when it started (SegmentationService updateSegmentationStats), so a
 * segment added meanwhile is lost (seen: a second lesion's segment vanished). Wait until the
 * existing segments carry their statistics before adding one; give up waiting after 10 s.
 */
async function statsSettled(services: Services, segmentationId: string): Promise<void> {
  const deadline = Date.now() + 10000;
  for (;;) {
    const segments = services.segmentationService.getSegmentation(segmentationId)?.segments ?? {};
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const pending = Object.values(segments).some((g: any) => g && !g.cachedStats?.namedStats);
    if (!pending || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The algorithm that made a segment, as DICOM SEG records it (Segment Algorithm Type/Name). */
export interface Algorithm {
  name: string;
  version: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function lesionSegment(services: Services, displaySet: any, number: number, result: AnalysisResult, algorithm: Algorithm, segmentationOf: Map<string, string>): Promise<string> {
  const segmentLabel = `Lesion ${number}: ${label(result)}`;
  const uid: string = displaySet.displaySetInstanceUID;
  let segmentationId = segmentationOf.get(uid);
  if (segmentationId && !services.segmentationService.getSegmentation(segmentationId)) segmentationId = undefined;
  const viewportIds = viewportsShowing(services, uid);
  if (!segmentationId) {
    segmentationId = (await services.segmentationService.createLabelmapForDisplaySet(displaySet, {
      label: 'ABUS Tumor AI (research use)',
      segments: { [number]: { label: segmentLabel, active: true } },
    })) as string;
    segmentationOf.set(uid, segmentationId);
    for (const viewportId of viewportIds) {
      await turnForThePage();
      await services.segmentationService.addSegmentationRepresentation(viewportId, { segmentationId });
    }
  } else {
    await statsSettled(services, segmentationId);
    services.segmentationService.addSegment(segmentationId, { segmentIndex: number, label: segmentLabel });
  }
  // OHIF's own SEG export and its segment panel read these fields of the segment.
  const segment = services.segmentationService.getSegmentation(segmentationId)?.segments?.[number];
  if (segment) Object.assign(segment, { label: segmentLabel, algorithmType: 'AUTOMATIC', algorithmName: `${algorithm.name} ${algorithm.version}` });
  for (const viewportId of viewportIds) services.segmentationService.setSegmentColor(viewportId, segmentationId, number, classColor(result));
  return segmentationId;
}

/** How a lesion is named on screen and in the exports (the engine's, so the CLI names it the same). */
export const label = lesionLabel;

export type AnalysisProgress = Progress | { stage: 'waiting for images' | 'loading images' | 'writing labelmap'; step?: number; of?: number };

/** A click placed in its series: the display set, the series as the engine's volume, the voxel. */
export interface LocatedClick {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  displaySet: any;
  volume: ViewerVolume;
  /** The clicked voxel (continuous index) and its patient position. */
  center: Vec3;
  pointMm: Vec3;
}

/** A display set as the engine's volume, whose slices load when the engine reads them; ultrasound only. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function volumeOfDisplaySet(cs: Cornerstone, displaySet: any, sweepSpacingMm?: number, onSlice?: (step: number, of: number) => void): ViewerVolume {
  if (displaySet.Modality && displaySet.Modality !== 'US') throw new Error(`This is a ${displaySet.Modality} series; the analysis needs 3-D ultrasound`);
  return viewerVolume(cs, displaySet.instance ?? displaySet.instances?.[0], displaySet.imageIds, { sweepSpacingMm, onSlice });
}

/** Finds the series under a world point of a viewport and the voxel there; loads nothing. */
export async function locateClick(
  services: Services,
  cs: Cornerstone,
  target: { viewportId: string; world: number[] },
  onProgress: (p: AnalysisProgress) => void,
  sweepSpacingMm?: number,
): Promise<LocatedClick> {
  onProgress({ stage: 'waiting for images' });
  const { displaySet } = await viewportOf(services, cs, target.viewportId, 60000);
  const volume = volumeOfDisplaySet(cs, displaySet, sweepSpacingMm, (step, of) => onProgress({ stage: 'loading images', step, of }));
  const click = imagePointAt(cs, volume.imageIds, target.world);
  const center: Vec3 = [click.column, click.row, volume.imageIds.indexOf(click.imageId)];
  return { displaySet, volume, center, pointMm: indexToPatient(volume.source, center) };
}

/**
 * The lesion a click falls on: one whose segment holds the clicked voxel, or whose box, grown by
 * `marginMm`, does. A second click on a mass is that lesion, not a new one.
 */
export function lesionAtClick(lesions: LesionRecord[], click: LocatedClick, marginMm = 2): LesionRecord | undefined {
  const uid = click.displaySet.displaySetInstanceUID;
  const voxel = click.center.map(Math.round);
  const spacing = click.volume.source.spacing;
  const inMask = (l: LesionRecord) => {
    const { mask, min, max } = l.result.lesion;
    if (voxel.some((v, a) => v < min[a] || v > max[a])) return false;
    const size = [max[0] - min[0] + 1, max[1] - min[1] + 1];
    return Boolean(mask[voxel[0] - min[0] + size[0] * (voxel[1] - min[1] + size[1] * (voxel[2] - min[2]))]);
  };
  const nearBox = (l: LesionRecord) => click.center.every((v, a) => v >= l.result.lesion.min[a] - marginMm / spacing[a] && v <= l.result.lesion.max[a] + marginMm / spacing[a]);
  const same = lesions.filter((l) => l.displaySetInstanceUID === uid);
  return same.find(inMask) ?? same.find(nearBox);
}

/** One click's analysis in the viewer: what it runs with and where its result goes. */
export interface AnalysisRequest {
  engine: Engine;
  services: Services;
  cs: Cornerstone;
  click: LocatedClick;
  /** The lesion's number: its segment index and its label. */
  number: number;
  algorithm: Algorithm;
  /** One labelmap segmentation per display set, created on the first lesion; later lesions add segments. */
  segmentations: Map<string, string>;
  onProgress: (p: AnalysisProgress) => void;
}

/**
 * Analyses the lesion at a located click: only the VOI's slices read (the volume loads them when
 * the engine reads its block). Returns null for "no lesion here", and then writes nothing.
 */
export async function analyzeAt(request: AnalysisRequest): Promise<LesionRecord | null> {
  const { engine, click, onProgress } = request;
  const result = await engine.analyze(click.volume.source, click.center, { centerSpace: 'voxel', onProgress });
  if (!result.found) return null;
  onProgress({ stage: 'writing labelmap' });
  return showLesion(request, result);
}

/**
 * Writes a lesion into the viewer: its segment, its voxels
 * in the labelmap where no other lesion has them already, so overlapping results never erase each
 * other, and its arrow annotation. The record keeps the voxels as painted: what is exported is
 * exactly what is on screen.
 */
export async function showLesion(request: Omit<AnalysisRequest, 'engine' | 'onProgress'>, result: AnalysisResult): Promise<LesionRecord> {
  const { services, cs, click, number, algorithm } = request;
  const { displaySet, volume } = click;
  // The worker's answer arrives in a message task; creating the labelmap (OHIF's derived images of
  // every slice) in that same task made it 185-206 ms on a core shared with a CPU hog.
  await turnForThePage();
  const segmentationId = await lesionSegment(services, displaySet, number, result, algorithm, request.segmentations);
  await turnForThePage();
  const segmentation = cs.cornerstoneTools.segmentation.state.getSegmentation(segmentationId);
  const labelIds: string[] = segmentation.representationData.Labelmap.imageIds;
  const position = new Map<string, number>(displaySet.imageIds.map((id: string, n: number) => [id, n]));
  // Each slice's labelmap pixels looked up once, not once a voxel (a cache lookup per voxel took 100 ms for one lesion).
  const slices = new Map<number, { [at: number]: number }>();
  const pixelsOf = (k: number) => {
    let pixels = slices.get(k);
    if (!pixels) slices.set(k, (pixels = cs.cornerstone.cache.getImage(labelIds[position.get(volume.imageIds[k]) as number]).getPixelData()));
    return pixels!;
  };
  const [nx] = volume.source.dims;
  const { min, max } = result.lesion;
  const size: Vec3 = [max[0] - min[0] + 1, max[1] - min[1] + 1, max[2] - min[2] + 1];
  const painted = new Uint8Array(size[0] * size[1] * size[2]);
  const centroid = [0, 0, 0];
  let count = 0;
  forEachVoxel(result.lesion, (i, j, k, n) => {
    const out = pixelsOf(k);
    const at = i + nx * j;
    if (out[at] !== 0 && out[at] !== number) return; // another lesion's voxel stays that lesion's
    out[at] = number;
    painted[n] = 1;
    centroid[0] += i;
    centroid[1] += j;
    centroid[2] += k;
    count++;
  });
  cs.cornerstoneTools.segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(segmentationId);
  // Measured again only when another lesion kept some voxels: the longest diameter is quadratic
  // in the surface, too slow for the main thread to repeat for nothing.
  const shown: AnalysisResult = count === result.lesion.voxelCount ? result : { ...result, lesion: { mask: painted, min, max, voxelCount: count }, size: measureLesion({ mask: painted, min, max, voxelCount: count }, volume.source.spacing) };
  const [ci, cj, ck] = centroid.map((v) => v / Math.max(count, 1));
  const centreImage = volume.imageIds[Math.round(ck)];
  const annotationUID = addLesionAnnotation(cs, centreImage, ci, cj, `Lesion ${number}: ${label(shown)}`, Math.max(shown.size.longestMm / 2, 1));
  cs.cornerstoneTools.utilities?.triggerAnnotationRenderForViewportIds?.(viewportsShowing(services, displaySet.displaySetInstanceUID));
  const { dims, spacing, origin, direction } = volume.source;
  return {
    number,
    result: shown,
    segmentationId,
    displaySetInstanceUID: displaySet.displaySetInstanceUID,
    annotationUID,
    pointMm: click.pointMm,
    centroidWorld: worldAt(cs, centreImage, ci, cj),
    imageIds: volume.imageIds,
    geometry: { dims, spacing, origin, direction },
    assumedGeometry: volume.assumedGeometry,
    laterality: lateralityOf(displaySet.instance ?? displaySet.instances?.[0] ?? {}),
  };
}

/**
 * A task boundary. Awaiting OHIF's promises, already settled, continues in the same task, so
 * creating the labelmap, adding it to three views and painting the lesion ran as one main-thread
 * task of 250-400 ms (install-ohif e2e, 2 loaded cores); each is now a task of its own (the
 * longest, adding a view, 50-90 ms), and the viewer may draw in between.
 */
const turnForThePage = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Calls fn(i, j, k, n) for every voxel of a lesion mask (n: its index in the mask's box). */
function forEachVoxel(lesion: { mask: Uint8Array; min: Vec3; max: Vec3 }, fn: (i: number, j: number, k: number, n: number) => void): void {
  const { mask, min, max } = lesion;
  for (let k = min[2], n = 0; k <= max[2]; k++)
    for (let j = min[1]; j <= max[1]; j++)
      for (let i = min[0]; i <= max[0]; i++, n++) if (mask[n]) fn(i, j, k, n);
}

/** Removes a lesion's arrow, through OHIF's measurement service when OHIF tracks it as a measurement. */
export function removeAnnotation(services: Services, cs: Cornerstone, annotationUID: string | undefined): void {
  if (annotationUID && services.measurementService?.getMeasurement?.(annotationUID)) services.measurementService.remove(annotationUID);
  else removeLesionAnnotation(cs, annotationUID);
}
