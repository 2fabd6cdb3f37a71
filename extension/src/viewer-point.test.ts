import { describe, expect, it } from '@jest/globals';
import type { Cornerstone } from './host';
import { imagePointAt, nearestImage, pixelAt, worldAt } from './viewer-point';

type V3 = [number, number, number];

// An oblique plane (rotated about z by 30 degrees, then about x by 20) so that no axis lines up
// with the patient frame, and anisotropic pixels, as in the 0.8 x 0.4 mm sweep that once mapped
// column 50 to 100.
const rad = Math.PI / 180;
const [cz, sz, cx, sx] = [Math.cos(30 * rad), Math.sin(30 * rad), Math.cos(20 * rad), Math.sin(20 * rad)];
const ALONG: V3 = [cz, sz * cx, sz * sx];
const DOWN: V3 = [-sz, cz * cx, cz * sx];
const NORMAL: V3 = [0, -sx, cx];
const ORIGIN: V3 = [-40, 25, 110];
const COLUMN_MM = 0.8;
const ROW_MM = 0.4;
const SLICE_MM = 0.5;
const COLUMNS = 50;
const ROWS = 40;
const SLICES = 10;

const add = (a: number[], b: number[], s = 1): V3 => [a[0] + s * b[0], a[1] + s * b[1], a[2] + s * b[2]];
const dist = (a: number[], b: number[]) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

const ids = Array.from({ length: SLICES }, (_, k) => `us:${k}`);
const sliceOf = (imageId: string) => Number(imageId.split(':')[1]);

function planeFor(imageId: string) {
  return {
    imagePositionPatient: add(ORIGIN, NORMAL, sliceOf(imageId) * SLICE_MM),
    rowCosines: ALONG,
    columnCosines: DOWN,
    columnPixelSpacing: COLUMN_MM,
    rowPixelSpacing: ROW_MM,
    columns: COLUMNS,
    rows: ROWS,
  };
}

const cs: Cornerstone = {
  cornerstone: { metaData: { get: (type: string, imageId: string) => (type === 'imagePlaneModule' ? planeFor(imageId) : undefined) } },
  cornerstoneTools: {},
};

/** The world point of a continuous (column, row) on slice k, `offMm` off its plane along the normal. */
function point(column: number, row: number, k: number, offMm = 0): V3 {
  const onPlane = add(add(add(ORIGIN, NORMAL, k * SLICE_MM), ALONG, column * COLUMN_MM), DOWN, row * ROW_MM);
  return add(onPlane, NORMAL, offMm);
}

describe('pixelAt / worldAt', () => {
  it('round-trip on an oblique, anisotropic plane', () => {
    for (const [column, row] of [[0, 0], [12.25, 7.5], [49, 39], [-3, 60]]) {
      const world = worldAt(cs, 'us:4', column, row);
      const back = pixelAt(cs, 'us:4', world);
      expect(back.column).toBeCloseTo(column, 9);
      expect(back.row).toBeCloseTo(row, 9);
    }
    const world: V3 = point(17.3, 22.9, 4);
    const { column, row } = pixelAt(cs, 'us:4', world);
    worldAt(cs, 'us:4', column, row).forEach((v, a) => expect(v).toBeCloseTo(world[a], 9));
  });

  it('uses the column spacing along a row and the row spacing down a column', () => {
    const origin = worldAt(cs, 'us:0', 0, 0);
    expect(dist(worldAt(cs, 'us:0', 50, 0), origin)).toBeCloseTo(50 * COLUMN_MM, 9);
    expect(dist(worldAt(cs, 'us:0', 0, 50), origin)).toBeCloseTo(50 * ROW_MM, 9);
    expect(pixelAt(cs, 'us:0', point(50, 0, 0)).column).toBeCloseTo(50, 9);
  });

  it('drops the distance off the plane', () => {
    const { column, row } = pixelAt(cs, 'us:3', point(8, 9, 3, 0.2));
    expect(column).toBeCloseTo(8, 9);
    expect(row).toBeCloseTo(9, 9);
  });
});

describe('nearestImage', () => {
  it('picks the slice nearest to the point, in the order given', () => {
    const shuffled = ['us:5', 'us:0', 'us:9', 'us:7', 'us:2', 'us:1', 'us:8', 'us:3', 'us:6', 'us:4'];
    const { index, distanceMm } = nearestImage(cs, shuffled, point(10, 10, 7, 0.2));
    expect(shuffled[index]).toBe('us:7');
    expect(distanceMm).toBeCloseTo(0.2, 9);
    expect(shuffled[nearestImage(cs, shuffled, point(10, 10, 7, -0.2)).index]).toBe('us:7');
    expect(shuffled[nearestImage(cs, shuffled, point(10, 10, 6, 0.3)).index]).toBe('us:7');
  });
});

describe('imagePointAt', () => {
  const outside = /The click is outside the image volume/;

  it('gives the image and pixel of a point inside the volume', () => {
    const hit = imagePointAt(cs, ids, point(10.3, 20.7, 3, 0.1));
    expect(hit.imageId).toBe('us:3');
    expect(hit.column).toBeCloseTo(10.3, 9);
    expect(hit.row).toBeCloseTo(20.7, 9);
  });

  it('accepts up to half a slice before the first and after the last image, no further', () => {
    expect(imagePointAt(cs, ids, point(5, 5, 0, -0.2)).imageId).toBe('us:0');
    expect(() => imagePointAt(cs, ids, point(5, 5, 0, -0.3))).toThrow(outside);
    expect(imagePointAt(cs, ids, point(5, 5, SLICES - 1, 0.2)).imageId).toBe(`us:${SLICES - 1}`);
    expect(() => imagePointAt(cs, ids, point(5, 5, SLICES - 1, 0.3))).toThrow(outside);
    expect(() => imagePointAt(cs, ids, point(5, 5, SLICES + 20))).toThrow(outside);
  });

  it('accepts up to half a pixel outside the columns and rows, no further', () => {
    expect(imagePointAt(cs, ids, point(-0.4, 5, 2)).column).toBeCloseTo(-0.4, 9);
    expect(() => imagePointAt(cs, ids, point(-0.6, 5, 2))).toThrow(outside);
    expect(imagePointAt(cs, ids, point(COLUMNS - 0.6, 5, 2)).column).toBeCloseTo(COLUMNS - 0.6, 9);
    expect(() => imagePointAt(cs, ids, point(COLUMNS - 0.4, 5, 2))).toThrow(outside);
    expect(imagePointAt(cs, ids, point(5, -0.4, 2)).row).toBeCloseTo(-0.4, 9);
    expect(() => imagePointAt(cs, ids, point(5, -0.6, 2))).toThrow(outside);
    expect(imagePointAt(cs, ids, point(5, ROWS - 0.6, 2)).row).toBeCloseTo(ROWS - 0.6, 9);
    expect(() => imagePointAt(cs, ids, point(5, ROWS - 0.4, 2))).toThrow(outside);
  });

  it('takes the slice spacing from the images whatever their order', () => {
    const reversed = [...ids].reverse();
    expect(imagePointAt(cs, reversed, point(5, 5, SLICES - 1, 0.2)).imageId).toBe(`us:${SLICES - 1}`);
    expect(() => imagePointAt(cs, reversed, point(5, 5, 0, -0.3))).toThrow(outside);
  });
});
