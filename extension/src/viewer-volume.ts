/**
 * The viewer's image series as the engine's VolumeSource: geometry from each image's plane
 * metadata (sorted along the slice normal), or for an ultrasound sweep without frame positions
 * the engine's own sweep geometry; pixels loaded only for the slices of a block that is read,
 * never the whole series.
 */
import type { Mat3, Vec3, VolumeSource } from '@abus-tumor-ai/engine';
import { stackSlices } from '@abus-tumor-ai/engine';
import type { Cornerstone } from './host';
import { isSweep, type SweepFrames, sweepFrames } from './sweep';
import { cross } from './viewer-point';

interface PlaneMeta {
  imagePositionPatient: number[];
  rowCosines: number[];
  columnCosines: number[];
  rows: number;
  columns: number;
  rowPixelSpacing: number;
  columnPixelSpacing: number;
}

export interface ViewerVolume {
  /** Its readBlock loads the block's slices that are not loaded yet, reporting each. */
  source: VolumeSource;
  /** imageIds in the engine's k order. */
  imageIds: string[];
  /** Notes on geometry that had to be assumed (empty for a series with full geometry). */
  assumedGeometry: string[];
}

/** The series' planes as a sweep's frames are placed, with the images in the engine's k order. */
type Geometry = Omit<SweepFrames, 'positions'> & { order: { id: string; position: number[] }[] };

/** The longest stretch of copying a block before the page gets a turn (the bar is no task of 200 ms). */
const COPY_SLICE_MS = 40;

/** A sweep: the engine's sweep geometry, frame k the k-th image (sweep.ts places the frames the same way for the views). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function sweepOf(inst: any, imageIds: string[], sweepSpacingMm?: number): Geometry {
  const { positions, ...frames } = sweepFrames(inst, imageIds.length, sweepSpacingMm);
  return { ...frames, order: imageIds.map((id, k) => ({ id, position: positions[k] })) };
}

/**
 * inst: the series' first instance as OHIF holds it (naturalized DICOM), because cornerstone's
 * per-frame metadata of a multi-frame image does not carry the instance's own attributes.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function seriesGeometry(cs: Cornerstone, inst: any, imageIds: string[], sweepSpacingMm?: number): Geometry {
  if (imageIds.length < 2) throw new Error('This series has one image: the analysis needs a 3-D volume');
  if (isSweep(inst)) return sweepOf(inst, imageIds, sweepSpacingMm);
  const metas = imageIds.map((id) => cs.cornerstone.metaData.get('imagePlaneModule', id) as PlaneMeta | undefined);
  if (metas.some((m) => !m?.imagePositionPatient || !m.rowCosines)) return sweepOf(inst, imageIds, sweepSpacingMm);
  const first = metas[0] as PlaneMeta;
  // The engine's slice stacking, as its DICOM reader's: a duplicate, missing or unevenly spaced slice is refused, not averaged over.
  const stack = stackSlices(metas.map((m) => (m as PlaneMeta).imagePositionPatient), [...first.rowCosines, ...first.columnCosines], (n) => `image ${n + 1} of the series`);
  const order = stack.order.map((n) => ({ id: imageIds[n], position: (metas[n] as PlaneMeta).imagePositionPatient }));
  const sliceSpacing = stack.sliceSpacing;
  return {
    order,
    rowCosines: first.rowCosines,
    columnCosines: first.columnCosines,
    rowSpacing: first.rowPixelSpacing,
    columnSpacing: first.columnPixelSpacing,
    sliceSpacing,
    rows: first.rows,
    columns: first.columns,
    assumed: stack.notes,
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function viewerVolume(
  cs: Cornerstone,
  firstInstance: any,
  imageIds: string[],
  options: { sweepSpacingMm?: number; onSlice?: (done: number, of: number) => void } = {},
): ViewerVolume {
  const g = seriesGeometry(cs, firstInstance ?? cs.cornerstone.metaData.get('instance', imageIds[0]), imageIds, options.sweepSpacingMm);
  const { order, rowCosines: rc, columnCosines: cc } = g;
  const normal = cross(rc, cc);
  const dims: Vec3 = [g.columns, g.rows, order.length];
  const pixels = new Map<number, ArrayLike<number>>();
  const source: VolumeSource = {
    dims,
    // Column spacing is the distance between columns: the step along i.
    spacing: [g.columnSpacing, g.rowSpacing, g.sliceSpacing],
    origin: order[0].position.slice(0, 3) as Vec3,
    direction: [rc[0], cc[0], normal[0], rc[1], cc[1], normal[1], rc[2], cc[2], normal[2]] as Mat3,
    async readBlock(min, max) {
      for (let k = min[2]; k <= max[2]; k++) {
        if (!pixels.has(k)) pixels.set(k, (await cs.cornerstone.imageLoader.loadAndCacheImage(order[k].id)).getPixelData());
        options.onSlice?.(k - min[2] + 1, max[2] - min[2] + 1);
      }
      const out = new Float32Array((max[0] - min[0] + 1) * (max[1] - min[1] + 1) * (max[2] - min[2] + 1));
      let n = 0;
      let since = performance.now();
      for (let k = min[2]; k <= max[2]; k++) {
        const data = pixels.get(k) as ArrayLike<number>;
        for (let j = min[1]; j <= max[1]; j++) for (let i = min[0]; i <= max[0]; i++) out[n++] = data[i + dims[0] * j];
        // A click VOI is millions of voxels, read two or three times when it is re-centred: the
        // copy gives the page a turn every COPY_SLICE_MS, so no task of it blocks the viewer.
        if (performance.now() - since > COPY_SLICE_MS) {
          await new Promise((resolve) => setTimeout(resolve, 0));
          since = performance.now();
        }
      }
      return out;
    },
  };
  return { source, assumedGeometry: g.assumed, imageIds: order.map((o) => o.id) };
}
