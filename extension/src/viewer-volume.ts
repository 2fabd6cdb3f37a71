/**
 * The viewer's image series as the engine's VolumeSource: geometry from each image's plane
 * metadata (sorted along the slice normal), pixels read only for the slices of the VOI block,
 * never the whole series.
 */
import type { VolumeSource } from '../../models/src/pipeline/voi';
import type { Mat3, Vec3 } from '../../models/src/volume';

/* The host's cornerstone instances (getCornerstoneLibraries); typed loosely on purpose. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Cornerstone = { cornerstone: any; cornerstoneTools: any };

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
  source: VolumeSource;
  /** imageIds in the engine's k order. */
  imageIds: string[];
  /** Loads the slices [kMin, kMax] so readBlock can serve them synchronously. */
  prepare(kMin: number, kMax: number): Promise<void>;
}

const dot = (a: number[], b: number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a: number[], b: number[]) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];

export function viewerVolume(cs: Cornerstone, imageIds: string[]): ViewerVolume {
  const metas = imageIds.map((id) => cs.cornerstone.metaData.get('imagePlaneModule', id) as PlaneMeta | undefined);
  if (imageIds.length < 2) throw new Error('This series has one image: the analysis needs a 3-D volume');
  if (metas.some((m) => !m?.imagePositionPatient || !m.rowCosines)) throw new Error('This series lacks image positions; it cannot be analysed as a volume');
  const first = metas[0] as PlaneMeta;
  const normal = cross(first.rowCosines, first.columnCosines);
  const order = imageIds.map((id, n) => ({ id, meta: metas[n] as PlaneMeta, along: dot((metas[n] as PlaneMeta).imagePositionPatient, normal) })).sort((a, b) => a.along - b.along);
  const sliceSpacing = (order[order.length - 1].along - order[0].along) / (order.length - 1);
  if (!(sliceSpacing > 0)) throw new Error('The images of this series share one position; it is not a volume');
  const rc = first.rowCosines;
  const cc = first.columnCosines;
  const dims: Vec3 = [first.columns, first.rows, order.length];
  const pixels = new Map<number, ArrayLike<number>>();
  const source: VolumeSource = {
    dims,
    // Column spacing is the distance between columns: the step along i.
    spacing: [first.columnPixelSpacing, first.rowPixelSpacing, sliceSpacing],
    origin: order[0].meta.imagePositionPatient.slice(0, 3) as Vec3,
    direction: [rc[0], cc[0], normal[0], rc[1], cc[1], normal[1], rc[2], cc[2], normal[2]] as Mat3,
    readBlock(min, max) {
      const out = new Float32Array((max[0] - min[0] + 1) * (max[1] - min[1] + 1) * (max[2] - min[2] + 1));
      let n = 0;
      for (let k = min[2]; k <= max[2]; k++) {
        const data = pixels.get(k);
        if (!data) throw new Error(`Slice ${k} was not loaded`);
        for (let j = min[1]; j <= max[1]; j++) for (let i = min[0]; i <= max[0]; i++) out[n++] = data[i + dims[0] * j];
      }
      return out;
    },
  };
  return {
    source,
    imageIds: order.map((o) => o.id),
    async prepare(kMin, kMax) {
      for (let k = kMin; k <= kMax; k++) {
        if (pixels.has(k)) continue;
        const image = await cs.cornerstone.imageLoader.loadAndCacheImage(order[k].id);
        pixels.set(k, image.getPixelData());
      }
    },
  };
}
