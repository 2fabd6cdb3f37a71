/**
 * One click to a result in the viewer: the clicked point in patient coordinates, only the VOI's
 * slices read, the worker's analysis, and the lesion written into an OHIF labelmap segmentation.
 */
import type { AnalysisResult, Engine, Progress, Vec3, VolumeGeometry } from '@abus-tumor-ai/engine';
import { indexToPatient, lesionLabel } from '@abus-tumor-ai/engine';
import { addLesionAnnotation } from './annotation';
import { Cornerstone, viewerVolume } from './viewer-volume';
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
    for (const viewportId of viewportIds) await services.segmentationService.addSegmentationRepresentation(viewportId, { segmentationId });
  } else {
    await statsSettled(services, segmentationId);
    services.segmentationService.addSegment(segmentationId, { segmentIndex: number, label: segmentLabel });
  }
  // OHIF's own SEG export and its segment panel read these fields of the segment.
  const segment = services.segmentationService.getSegmentation(segmentationId)?.segments?.[number];
  if (segment) Object.assign(segment, { algorithmType: 'AUTOMATIC', algorithmName: `${algorithm.name} ${algorithm.version}` });
  for (const viewportId of viewportIds) services.segmentationService.setSegmentColor(viewportId, segmentationId, number, classColor(result));
  return segmentationId;
}

/** How a lesion is named on screen and in the exports (the engine's, so the CLI names it the same). */
export const label = lesionLabel;

export type AnalysisProgress = Progress | { stage: 'waiting for images' | 'loading images' | 'writing labelmap'; step?: number; of?: number };

/** One click's analysis in the viewer: what it runs with and where its result goes. */
export interface AnalysisRequest {
  engine: Engine;
  services: Services;
  cs: Cornerstone;
  /** The clicked point: a viewport and a world position in it. */
  target: { viewportId: string; world: number[] };
  /** The lesion's number: its segment index and its label. */
  number: number;
  algorithm: Algorithm;
  /** One labelmap segmentation per display set, created on the first lesion; later lesions add segments. */
  segmentations: Map<string, string>;
  onProgress: (p: AnalysisProgress) => void;
}

/**
 * Analyses the lesion at a world point of a viewport: the series shown there, only the VOI's
 * slices read (the volume loads them when the engine reads its block), the result written as a
 * segment and an arrow annotation.
 */
export async function analyzeAt(request: AnalysisRequest): Promise<LesionRecord> {
  const { engine, services, cs, target, number, algorithm, onProgress } = request;
  onProgress({ stage: 'waiting for images' });
  const { displaySet } = await viewportOf(services, cs, target.viewportId, 60000);
  if (displaySet.Modality && displaySet.Modality !== 'US') throw new Error(`This is a ${displaySet.Modality} series; the analysis needs 3-D ultrasound`);
  const volume = viewerVolume(cs, displaySet.instance ?? displaySet.instances?.[0], displaySet.imageIds, {
    onSlice: (step, of) => onProgress({ stage: 'loading images', step, of }),
  });
  const click = imagePointAt(cs, volume.imageIds, target.world);
  const center: Vec3 = [click.column, click.row, volume.imageIds.indexOf(click.imageId)];
  const pointMm = indexToPatient(volume.source, center);
  const result = await engine.analyze(volume.source, center, { centerSpace: 'voxel', onProgress });
  if (!result.found) throw new Error('No lesion was found at that point');

  onProgress({ stage: 'writing labelmap' });
  const segmentationId = await lesionSegment(services, displaySet, number, result, algorithm, request.segmentations);
  const segmentation = cs.cornerstoneTools.segmentation.state.getSegmentation(segmentationId);
  const labelIds: string[] = segmentation.representationData.Labelmap.imageIds;
  const position = new Map<string, number>(displaySet.imageIds.map((id: string, n: number) => [id, n]));
  const { mask, min, max } = result.lesion;
  const [nx] = volume.source.dims;
  const size = [max[0] - min[0] + 1, max[1] - min[1] + 1];
  const centroid = [0, 0, 0];
  let count = 0;
  for (let k = min[2]; k <= max[2]; k++) {
    const labelImage = cs.cornerstone.cache.getImage(labelIds[position.get(volume.imageIds[k]) as number]);
    const out = labelImage.getPixelData();
    for (let j = 0; j < size[1]; j++)
      for (let i = 0; i < size[0]; i++) {
        if (!mask[i + size[0] * (j + size[1] * (k - min[2]))]) continue;
        out[min[0] + i + nx * (min[1] + j)] = number;
        centroid[0] += min[0] + i;
        centroid[1] += min[1] + j;
        centroid[2] += k;
        count++;
      }
  }
  cs.cornerstoneTools.segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(segmentationId);
  const [ci, cj, ck] = centroid.map((v) => v / Math.max(count, 1));
  const centreImage = volume.imageIds[Math.round(ck)];
  const annotationUID = addLesionAnnotation(cs, centreImage, ci, cj, `Lesion ${number}: ${label(result)}`);
  cs.cornerstoneTools.utilities?.triggerAnnotationRenderForViewportIds?.(viewportsShowing(services, displaySet.displaySetInstanceUID));
  const { dims, spacing, origin, direction } = volume.source;
  return {
    number,
    result,
    segmentationId,
    displaySetInstanceUID: displaySet.displaySetInstanceUID,
    annotationUID,
    pointMm,
    centroidWorld: worldAt(cs, centreImage, ci, cj),
    imageIds: volume.imageIds,
    geometry: { dims, spacing, origin, direction },
    assumedGeometry: volume.assumedGeometry,
  };
}
