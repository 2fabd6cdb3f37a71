/**
 * GE Invenia-style sweeps (one Ultrasound Multi-frame Image whose frames carry no positions) as
 * volumes in OHIF. OHIF 3.13 does not reconstruct such an image (no positions, no Pixel Spacing)
 * and cornerstone places its frames 1 mm apart with 1 x 1 mm pixels, so the sweep opened in one
 * stacked view, stretched. Here the engine's sweep geometry (the same one the analysis and the
 * export use) places every frame: a display set handler marks the sweep reconstructable, so the
 * ABUS three-view layout takes it, and a cornerstone metadata provider answers each frame's
 * imagePlaneModule, so cornerstone builds the volume with the right spacing.
 */
import type { NaturalDataset } from '@abus-tumor-ai/engine';
import { seq, sweepGeometry, US_MULTIFRAME_IMAGE_STORAGE } from '@abus-tumor-ai/engine';
import type { Cornerstone } from './host';

export const SWEEP_HANDLER = 'abusSweep';
const STACK_HANDLER = '@ohif/extension-default.sopClassHandlerModule.stack';
/** Above OHIF's own metadata provider (9999), so a sweep frame's plane is ours. */
const PROVIDER_PRIORITY = 10001;

/** Where a sweep's frames lie: frame k at origin + k * sliceSpacing along the sweep normal. */
export interface SweepFrames {
  positions: number[][];
  rowCosines: number[];
  columnCosines: number[];
  /** Distance between rows (depth) and between columns (lateral), in mm. */
  rowSpacing: number;
  columnSpacing: number;
  sliceSpacing: number;
  rows: number;
  columns: number;
  /** What had to be assumed, for a visible note. */
  assumed: string[];
}

/**
 * A multi-frame image without plane positions: an ABUS sweep. (Cornerstone invents positions for
 * its frames, so their plane metadata must not be taken as measured geometry.)
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function isSweep(inst: any): boolean {
  const framePosition = seq(inst?.PerFrameFunctionalGroupsSequence)[0]?.PlanePositionSequence ?? seq(inst?.SharedFunctionalGroupsSequence)[0]?.PlanePositionSequence;
  return Number(inst?.NumberOfFrames) > 1 && !framePosition && !inst?.ImagePositionPatient;
}

/** The engine's sweep geometry, frame by frame. Throws where the file gives no pixel size. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function sweepFrames(inst: any, frameCount: number, sweepSpacingMm?: number): SweepFrames {
  if (!inst) throw new Error('This series has no metadata; it cannot be analysed');
  const g = sweepGeometry(inst as NaturalDataset, { sweepSpacingMm });
  const d = g.direction;
  const normal = [d[2], d[5], d[8]];
  return {
    positions: Array.from({ length: frameCount }, (_, k) => [0, 1, 2].map((a) => g.origin[a] + k * g.spacing[2] * normal[a])),
    rowCosines: [d[0], d[3], d[6]],
    columnCosines: [d[1], d[4], d[7]],
    rowSpacing: g.spacing[1],
    columnSpacing: g.spacing[0],
    sliceSpacing: g.spacing[2],
    rows: Number(inst.Rows),
    columns: Number(inst.Columns),
    assumed: g.assumed,
  };
}

/** cornerstone's imagePlaneModule of each frame, keyed by the frame's imageId. */
const planes = new Map<string, object>();
/** The metadata registries (one per cornerstone instance) the provider is added to. */
const withProvider = new WeakSet<object>();

function planeProvider(type: string, imageId: string): object | undefined {
  if (type !== 'imagePlaneModule') return undefined;
  const plane = planes.get(imageId);
  // A copy: callers (the stack viewport's calibration) write into what they are given.
  return plane && { ...plane };
}

/** Places a sweep's frames for cornerstone: imageIds[k] is frame k + 1. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function placeSweep(cs: Cornerstone, inst: any, imageIds: string[], frames: SweepFrames): void {
  if (!withProvider.has(cs.cornerstone.metaData)) {
    cs.cornerstone.metaData.addProvider(planeProvider, PROVIDER_PRIORITY);
    withProvider.add(cs.cornerstone.metaData);
  }
  imageIds.forEach((id, k) =>
    planes.set(id, {
      // The views link through a frame of reference; one the file lacks is the series' own (never written to a file).
      frameOfReferenceUID: inst.FrameOfReferenceUID ?? inst.SeriesInstanceUID,
      rows: frames.rows,
      columns: frames.columns,
      imageOrientationPatient: [...frames.rowCosines, ...frames.columnCosines],
      rowCosines: frames.rowCosines,
      columnCosines: frames.columnCosines,
      imagePositionPatient: frames.positions[k],
      pixelSpacing: [frames.rowSpacing, frames.columnSpacing],
      rowPixelSpacing: frames.rowSpacing,
      columnPixelSpacing: frames.columnSpacing,
      sliceThickness: frames.sliceSpacing,
      spacingBetweenSlices: frames.sliceSpacing,
      usingDefaultValues: false,
    }),
  );
}

/* OHIF's extension manager and a display set, typed loosely: the host does not share its types. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ExtensionManager = any;

/**
 * The display set handler for sweeps. It takes the US Multi-frame images of a series that are
 * sweeps with a known pixel size, lets OHIF's stack handler make their display sets, marks them
 * reconstructable and places their frames. Everything else it leaves to the handlers after it
 * (the mode lists it first); a sweep without a pixel size stays OHIF's one-view stack.
 */
export function sweepHandler(extensionManager: ExtensionManager, handlerId: string, cornerstone: () => Cornerstone, sweepSpacingMm?: number) {
  return {
    name: SWEEP_HANDLER,
    sopClassUids: [US_MULTIFRAME_IMAGE_STORAGE],
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    getDisplaySetsFromSeries(instances: any[]) {
      const placed = new Map<unknown, SweepFrames>();
      for (const inst of instances.filter(isSweep)) {
        try {
          placed.set(inst, sweepFrames(inst, Number(inst.NumberOfFrames), sweepSpacingMm));
        } catch {
          // No pixel size: not placeable, left to the stack handler.
        }
      }
      if (!placed.size) return [];
      const displaySets = extensionManager.getModuleEntry(STACK_HANDLER).getDisplaySetsFromSeries([...placed.keys()]);
      const [dataSource] = extensionManager.getActiveDataSource();
      for (const ds of displaySets) {
        placeSweep(cornerstone(), ds.instance, dataSource.getImageIdsForDisplaySet(ds), placed.get(ds.instance) as SweepFrames);
        // Its own handler id, so OHIF finds the display set again as this handler's (no duplicate).
        Object.assign(ds, { SOPClassHandlerId: handlerId, isReconstructable: true, countIcon: 'icon-mpr' });
      }
      return displaySets;
    },
  };
}
