/** From a probability map to one lesion: threshold, the connected component at the click, and its size. */
import { Vec3 } from '../volume';
import { labelComponents } from './components';
import { blockSize, SourceMask } from './voi';

/**
 * Keeps the 6-connected component of (prob >= threshold) that contains the centre voxel, or
 * else the one with a voxel nearest to it, if that voxel is within maxDistance (voxels). Returns
 * an empty mask when there is none.
 */
export function componentAtCenter(prob: ArrayLike<number>, dims: Vec3, center: Vec3, threshold = 0.5, maxDistance = Infinity): Uint8Array {
  let best = -1;
  let bestDist = Infinity;
  const { labels } = labelComponents(prob, dims, threshold, (label, x, y, z) => {
    const d = (x - center[0]) ** 2 + (y - center[1]) ** 2 + (z - center[2]) ** 2;
    if (d < bestDist) {
      bestDist = d;
      best = label;
    }
  });
  const mask = new Uint8Array(labels.length);
  if (bestDist > maxDistance * maxDistance) return mask;
  if (best > 0) for (let i = 0; i < labels.length; i++) if (labels[i] === best) mask[i] = 1;
  return mask;
}

export interface LesionSize {
  volumeMl: number;
  /** Longest distance between two voxel centres of the lesion, mm. */
  longestMm: number;
  /** Extent along each voxel axis, mm: lateral (i), depth (j), sweep (k). */
  extentMm: { lateral: number; depth: number; sweep: number };
}

/** Cap on the surface points compared pairwise for the longest diameter (O(n^2)). */
const MAX_DIAMETER_POINTS = 4000;

export function measureLesion(lesion: SourceMask, spacing: Vec3): LesionSize {
  const none: LesionSize = { volumeMl: 0, longestMm: 0, extentMm: { lateral: 0, depth: 0, sweep: 0 } };
  if (!lesion.voxelCount) return none;
  const size = blockSize(lesion.min, lesion.max);
  const lo: Vec3 = [Infinity, Infinity, Infinity];
  const hi: Vec3 = [-Infinity, -Infinity, -Infinity];
  const surface: number[] = [];
  const at = (i: number, j: number, k: number) =>
    i >= 0 && j >= 0 && k >= 0 && i < size[0] && j < size[1] && k < size[2] ? lesion.mask[i + size[0] * (j + size[1] * k)] : 0;
  for (let k = 0; k < size[2]; k++)
    for (let j = 0; j < size[1]; j++)
      for (let i = 0; i < size[0]; i++) {
        if (!at(i, j, k)) continue;
        // No array per voxel: on the page thread (a scan's lesions) the garbage set off long GC pauses.
        if (i < lo[0]) lo[0] = i;
        if (i > hi[0]) hi[0] = i;
        if (j < lo[1]) lo[1] = j;
        if (j > hi[1]) hi[1] = j;
        if (k < lo[2]) lo[2] = k;
        if (k > hi[2]) hi[2] = k;
        // The longest chord has both ends on the surface, so only surface voxels are compared.
        if (!at(i - 1, j, k) || !at(i + 1, j, k) || !at(i, j - 1, k) || !at(i, j + 1, k) || !at(i, j, k - 1) || !at(i, j, k + 1)) {
          surface.push(i * spacing[0], j * spacing[1], k * spacing[2]);
        }
      }
  const points = surface.length / 3;
  const stride = Math.max(1, Math.ceil(points / MAX_DIAMETER_POINTS));
  let longestSq = 0;
  for (let a = 0; a < points; a += stride)
    for (let b = a + stride; b < points; b += stride) {
      const dx = surface[3 * a] - surface[3 * b];
      const dy = surface[3 * a + 1] - surface[3 * b + 1];
      const dz = surface[3 * a + 2] - surface[3 * b + 2];
      longestSq = Math.max(longestSq, dx * dx + dy * dy + dz * dz);
    }
  return {
    volumeMl: (lesion.voxelCount * spacing[0] * spacing[1] * spacing[2]) / 1000,
    longestMm: Math.sqrt(longestSq),
    extentMm: {
      lateral: (hi[0] - lo[0] + 1) * spacing[0],
      depth: (hi[1] - lo[1] + 1) * spacing[1],
      sweep: (hi[2] - lo[2] + 1) * spacing[2],
    },
  };
}
