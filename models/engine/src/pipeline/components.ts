/** The 6-connected components of a thresholded grid: the one flood fill of the click's segment (postprocess.ts) and the scan's map (scan.ts). */
import type { Vec3 } from '../volume';

/**
 * Labels the 6-connected components of (values >= threshold) 1, 2, ... in the order their first
 * voxel comes in the grid, and calls `visit` once for every voxel of each, a component's voxels
 * one after another. Returns the labels (0: below threshold) and how many components there are.
 */
export function labelComponents(values: ArrayLike<number>, dims: Vec3, threshold: number, visit: (label: number, x: number, y: number, z: number) => void): { labels: Int32Array; count: number } {
  const [nx, ny, nz] = dims;
  const n = nx * ny * nz;
  const labels = new Int32Array(n);
  const queue = new Int32Array(n);
  let count = 0;
  for (let start = 0; start < n; start++) {
    if (labels[start] || !(values[start] >= threshold)) continue;
    const label = ++count;
    labels[start] = label;
    let head = 0;
    let tail = 0;
    queue[tail++] = start;
    const enqueue = (u: number) => {
      if (!labels[u] && values[u] >= threshold) {
        labels[u] = label;
        queue[tail++] = u;
      }
    };
    while (head < tail) {
      const v = queue[head++];
      const x = v % nx;
      const y = ((v - x) / nx) % ny;
      const z = (v - x - nx * y) / (nx * ny);
      visit(label, x, y, z);
      if (x > 0) enqueue(v - 1);
      if (x < nx - 1) enqueue(v + 1);
      if (y > 0) enqueue(v - nx);
      if (y < ny - 1) enqueue(v + nx);
      if (z > 0) enqueue(v - nx * ny);
      if (z < nz - 1) enqueue(v + nx * ny);
    }
  }
  return { labels, count };
}
