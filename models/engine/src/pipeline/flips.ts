/**
 * Test-time flips: the network also sees the VOI mirrored along the lateral and/or the sweep axis,
 * and the maps (mirrored back) and outputs are averaged. Never the depth axis: the beam comes from
 * the skin, and a mirrored depth puts the posterior shadow above the mass, which the network never saw.
 */
import { Vec3 } from '../volume';

export type FlipAxis = 'lateral' | 'sweep';

/** Every combination of the axes, the unflipped view first: none -> 1 view, one axis -> 2, both -> 4. */
export function flipViews(axes: FlipAxis[]): FlipAxis[][] {
  const unique = [...new Set(axes)];
  for (const a of unique) if (a !== 'lateral' && a !== 'sweep') throw new Error(`A flip is 'lateral' or 'sweep' (never depth), got '${a}'`);
  return unique.reduce<FlipAxis[][]>((views, axis) => [...views, ...views.map((v) => [...v, axis])], [[]]);
}

/** The grid (x = lateral fastest, then y = depth, z = sweep) mirrored along the axes; its own inverse. */
export function flipGrid<T extends Float32Array>(data: T, grid: Vec3, axes: FlipAxis[]): T {
  if (!axes.length) return data;
  const [gx, gy, gz] = grid;
  const fx = axes.includes('lateral');
  const fz = axes.includes('sweep');
  const out = new (data.constructor as new (n: number) => T)(data.length);
  for (let z = 0, n = 0; z < gz; z++) {
    const zz = fz ? gz - 1 - z : z;
    for (let y = 0; y < gy; y++) {
      const row = gx * (y + gy * zz);
      for (let x = 0; x < gx; x++, n++) out[n] = data[row + (fx ? gx - 1 - x : x)];
    }
  }
  return out;
}
