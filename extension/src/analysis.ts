/**
 * One click to a result in the viewer: the clicked point in patient coordinates, only the VOI's
 * slices read, the worker's analysis, and the lesion written into an OHIF labelmap segmentation.
 */
import type { EngineWorker } from '../../models/src/browser/engine-client';
import { AnalysisResult, Progress, voiBlock } from '../../models/src/pipeline/analyze';
import { indexToPatient, Vec3, VolumeGeometry } from '../../models/src/volume';
import { Cornerstone, viewerVolume } from './viewer-volume';

/* OHIF's services, typed loosely: the host does not share its types with runtime plugins. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Services = Record<string, any>;

export interface LesionRecord {
  number: number;
  result: AnalysisResult;
  segmentationId: string;
  pointMm: Vec3;
  /** The analysed series in the engine's k order and its geometry, for DICOM export. */
  imageIds: string[];
  geometry: VolumeGeometry;
  /** Geometry the analysis had to assume (an Invenia-style sweep); shown to the user. */
  assumedGeometry: string[];
}

export function hostCornerstone(extensionManager: { getModuleEntry(id: string): { exports: { getCornerstoneLibraries(): Cornerstone } } }): Cornerstone {
  return extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common').exports.getCornerstoneLibraries();
}

/** The active viewport, its element and its (single) display set. */
export function activeViewport(services: Services, cs: Cornerstone) {
  const viewportId = services.viewportGridService.getActiveViewportId();
  const uids: string[] | undefined = services.viewportGridService.getDisplaySetsUIDsForViewport(viewportId);
  if (!uids?.length) throw new Error('No image series is shown in the active viewport');
  const displaySet = services.displaySetService.getDisplaySetByUID(uids[0]);
  const viewport = cs.cornerstone.getEnabledElementByViewportId(viewportId)?.viewport;
  if (!viewport) throw new Error('The active viewport is not ready yet');
  return { viewportId, displaySet, viewport };
}

/** Segment colours by class (RGBA 0-255), the same as in the exported SEG. */
export function classColor(result: AnalysisResult): [number, number, number, number] {
  if (result.label === 'malignant') return [220, 50, 47, 255];
  if (result.label === 'benign') return [60, 180, 75, 255];
  return [240, 190, 40, 255];
}

/** One labelmap segmentation per display set, created on the first lesion; later lesions add segments. */
const segmentationOf = new Map<string, string>();

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

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function lesionSegment(services: Services, viewportId: string, displaySet: any, number: number, result: AnalysisResult): Promise<string> {
  const segmentLabel = `Lesion ${number}: ${label(result)}`;
  let segmentationId = segmentationOf.get(displaySet.displaySetInstanceUID);
  if (segmentationId && !services.segmentationService.getSegmentation(segmentationId)) segmentationId = undefined;
  if (!segmentationId) {
    segmentationId = (await services.segmentationService.createLabelmapForDisplaySet(displaySet, {
      label: 'ABUS Tumor AI (research use)',
      segments: { [number]: { label: segmentLabel, active: true } },
    })) as string;
    segmentationOf.set(displaySet.displaySetInstanceUID, segmentationId);
    await services.segmentationService.addSegmentationRepresentation(viewportId, { segmentationId });
  } else {
    await statsSettled(services, segmentationId);
    services.segmentationService.addSegment(segmentationId, { segmentIndex: number, label: segmentLabel });
  }
  services.segmentationService.setSegmentColor(viewportId, segmentationId, number, classColor(result));
  return segmentationId;
}

export function label(result: AnalysisResult): string {
  if (result.probability === null) return 'Lesion (AI)';
  const cls = result.label === 'malignant' ? 'Malignant' : 'Benign';
  return `${cls} ${Math.round(result.probability * 100)}% (AI)`;
}

/**
 * Where the user clicked: the image shown and the pixel position in it. Pixel coordinates, not
 * patient millimetres, because a multi-frame sweep has no patient positions to convert through.
 */
export interface ClickedPoint {
  imageId: string;
  /** Continuous column (i) and row (j) in that image. */
  column: number;
  row: number;
}

export async function analyzeAt(
  engine: EngineWorker,
  services: Services,
  cs: Cornerstone,
  click: ClickedPoint,
  number: number,
  onProgress: (p: Progress | { stage: 'writing labelmap' }) => void,
): Promise<LesionRecord> {
  const { viewportId, displaySet } = activeViewport(services, cs);
  if (displaySet.Modality && displaySet.Modality !== 'US') throw new Error(`This is a ${displaySet.Modality} series; the analysis needs 3-D ultrasound`);
  const volume = viewerVolume(cs, displaySet.instance ?? displaySet.instances?.[0], displaySet.imageIds);
  const card = engine.card;
  if (!card) throw new Error('The model is not loaded yet');
  const k = volume.imageIds.indexOf(click.imageId);
  if (k < 0) throw new Error('The clicked image is not part of the analysed series');
  const center: Vec3 = [click.column, click.row, k];
  const pointMm = indexToPatient(volume.source, center);
  const block = voiBlock(card, volume.source, center, 'voxel');
  await volume.prepare(block.min[2], block.max[2]);
  const result = await engine.analyze(volume.source, center, { centerSpace: 'voxel', onProgress });
  if (!result.found) throw new Error('No lesion was found at that point');

  onProgress({ stage: 'writing labelmap' });
  const segmentationId = await lesionSegment(services, viewportId, displaySet, number, result);
  const segmentation = cs.cornerstoneTools.segmentation.state.getSegmentation(segmentationId);
  const labelIds: string[] = segmentation.representationData.Labelmap.imageIds;
  const position = new Map<string, number>(displaySet.imageIds.map((id: string, n: number) => [id, n]));
  const { mask, min, max } = result.lesion;
  const [nx] = volume.source.dims;
  const size = [max[0] - min[0] + 1, max[1] - min[1] + 1];
  for (let k = min[2]; k <= max[2]; k++) {
    const labelImage = cs.cornerstone.cache.getImage(labelIds[position.get(volume.imageIds[k]) as number]);
    const out = labelImage.getPixelData();
    for (let j = 0; j < size[1]; j++)
      for (let i = 0; i < size[0]; i++) {
        if (mask[i + size[0] * (j + size[1] * (k - min[2]))]) out[min[0] + i + nx * (min[1] + j)] = number;
      }
  }
  cs.cornerstoneTools.segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(segmentationId);
  const { dims, spacing, origin, direction } = volume.source;
  return { number, result, segmentationId, pointMm, imageIds: volume.imageIds, geometry: { dims, spacing, origin, direction }, assumedGeometry: volume.assumedGeometry };
}
