/**
 * Between cornerstone's world (patient) coordinates and the images of a series: which image a
 * world point lies on and where in it, and back. Uses cornerstone's own plane metadata, so a
 * sweep without positions (for which the viewer invents frame positions) maps consistently with
 * what the viewer draws.
 */
import type { Cornerstone } from './host';

interface Plane {
  origin: number[];
  along: number[];
  down: number[];
  normal: number[];
  columnSpacing: number;
  rowSpacing: number;
  columns: number;
  rows: number;
}

export const dot = (a: number[], b: number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
export const cross = (a: number[], b: number[]) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];

function plane(cs: Cornerstone, imageId: string): Plane {
  const p = cs.cornerstone.metaData.get('imagePlaneModule', imageId) ?? {};
  const along: number[] = p.rowCosines ?? [1, 0, 0];
  const down: number[] = p.columnCosines ?? [0, 1, 0];
  return {
    origin: p.imagePositionPatient ?? [0, 0, 0],
    along,
    down,
    normal: cross(along, down),
    columnSpacing: p.columnPixelSpacing || 1,
    rowSpacing: p.rowPixelSpacing || 1,
    columns: p.columns ?? 0,
    rows: p.rows ?? 0,
  };
}

/**
 * The pixel (column, row) of an image under a world point. Written out rather than using
 * cornerstone's utilities.worldToImageCoords, which in OHIF 3.13 divides the distance along a row
 * by the row spacing (measured: a click on column 50 of 0.8 x 0.4 mm pixels came back as 100).
 */
export function pixelAt(cs: Cornerstone, imageId: string, world: number[]): { column: number; row: number } {
  const p = plane(cs, imageId);
  const d = [world[0] - p.origin[0], world[1] - p.origin[1], world[2] - p.origin[2]];
  return { column: dot(d, p.along) / p.columnSpacing, row: dot(d, p.down) / p.rowSpacing };
}

/** The world point of a (column, row) of an image. */
export function worldAt(cs: Cornerstone, imageId: string, column: number, row: number): [number, number, number] {
  const p = plane(cs, imageId);
  const a = column * p.columnSpacing;
  const b = row * p.rowSpacing;
  return [0, 1, 2].map((x) => p.origin[x] + a * p.along[x] + b * p.down[x]) as [number, number, number];
}

/** Distance of a world point from an image's plane, in mm. */
function offPlane(cs: Cornerstone, imageId: string, world: number[]): number {
  const p = plane(cs, imageId);
  return Math.abs(dot([world[0] - p.origin[0], world[1] - p.origin[1], world[2] - p.origin[2]], p.normal));
}

/** The image of the series nearest to a world point. */
export function nearestImage(cs: Cornerstone, imageIds: string[], world: number[]): { index: number; distanceMm: number } {
  let index = 0;
  let distanceMm = Infinity;
  imageIds.forEach((id, n) => {
    const d = offPlane(cs, id, world);
    if (d < distanceMm) [index, distanceMm] = [n, d];
  });
  return { index, distanceMm };
}

/**
 * The image and pixel under a world point, or an error a user can act on when the point is not in
 * the series' volume (half a slice of tolerance before the first and after the last image).
 */
export function imagePointAt(cs: Cornerstone, imageIds: string[], world: number[]): { imageId: string; column: number; row: number } {
  const { index, distanceMm } = nearestImage(cs, imageIds, world);
  const imageId = imageIds[index];
  const p = plane(cs, imageId);
  const neighbour = imageIds[index + 1] ?? imageIds[index - 1];
  const sliceMm = neighbour ? offPlane(cs, neighbour, p.origin) : 1;
  const { column, row } = pixelAt(cs, imageId, world);
  const outside = distanceMm > sliceMm / 2 + 1e-3 || column < -0.5 || row < -0.5 || (p.columns > 0 && column > p.columns - 0.5) || (p.rows > 0 && row > p.rows - 0.5);
  if (outside) throw new Error('The click is outside the image volume; click inside the breast volume');
  return { imageId, column, row };
}
