/**
 * BI-RADS-style descriptors of a segmented lesion on the network grid (isotropic voxels), from its
 * mask and the normalised VOI: shape (sphericity, irregularity against its moment ellipsoid,
 * orientation), margin (radial roughness, what an opening removes, the texture of the surrounding
 * shell, where spicules show), echo pattern (interior contrast and heterogeneity, an echogenic rim)
 * and posterior features (shadowing or enhancement). With the network's own classification
 * logit they feed the model card's calibrated classifier (see eval/calibrate.ts). They are
 * measured, not learned, so they mean the same on scanners and simulators the network never saw.
 */
import { Vec3 } from '../volume';

export const DESCRIPTOR_NAMES = [
  'networkLogit',
  'sphericity',
  'ellipsoidMismatch',
  'radialRoughness',
  'openingLoss',
  'depthToLongAxis',
  'depthToShortAxis',
  'interiorContrast',
  'interiorSd',
  'rimContrast',
  'shellSd',
  'posteriorContrast',
] as const;
export type DescriptorName = (typeof DESCRIPTOR_NAMES)[number];
export type Descriptors = Record<DescriptorName, number>;

/** 6-connected dilation of `from` by one voxel (grid [x, y, z], x fastest). */
function dilate(from: Uint8Array, dims: Vec3): Uint8Array {
  const [nx, ny, nz] = dims;
  const out = from.slice();
  const plane = nx * ny;
  for (let z = 0, v = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++, v++) {
        if (!from[v]) continue;
        if (x > 0) out[v - 1] = 1;
        if (x < nx - 1) out[v + 1] = 1;
        if (y > 0) out[v - nx] = 1;
        if (y < ny - 1) out[v + nx] = 1;
        if (z > 0) out[v - plane] = 1;
        if (z < nz - 1) out[v + plane] = 1;
      }
  return out;
}

function erode(from: Uint8Array, dims: Vec3): Uint8Array {
  const inverted = from.map((v) => 1 - v);
  return dilate(inverted, dims).map((v) => 1 - v);
}

/** Mean and standard deviation of `values` where `where` is set. */
function stats(values: Float32Array, where: (v: number) => boolean, n: number): { mean: number; sd: number; count: number } {
  let count = 0;
  let sum = 0;
  let sq = 0;
  for (let v = 0; v < n; v++) {
    if (!where(v)) continue;
    count++;
    sum += values[v];
    sq += values[v] * values[v];
  }
  const mean = count ? sum / count : 0;
  return { mean, sd: count ? Math.sqrt(Math.max(0, sq / count - mean * mean)) : 0, count };
}

/** Inverse of a symmetric 3x3 matrix (row-major), or undefined when it is singular. */
function inverse3(m: number[]): number[] | undefined {
  const [a, b, c, , e, f, , , i] = m;
  const d = m[3];
  const g = m[6];
  const h = m[7];
  const co = [e * i - f * h, -(d * i - f * g), d * h - e * g, -(b * i - c * h), a * i - c * g, -(a * h - b * g), b * f - c * e, -(a * f - c * d), a * e - b * d];
  const det = a * co[0] + b * co[1] + c * co[2];
  if (!(Math.abs(det) > 1e-12)) return undefined;
  return [co[0], co[3], co[6], co[1], co[4], co[7], co[2], co[5], co[8]].map((v) => v / det);
}

/**
 * mask: the lesion's component on the grid (1 inside); voi: the normalised VOI; both [z][y][x]
 * with x fastest; dims [x(lateral), y(depth), z(sweep)]. logit: the network's classification logit.
 */
export function lesionDescriptors(mask: Uint8Array, voi: Float32Array, dims: Vec3, logit: number): Descriptors {
  const [nx, ny, nz] = dims;
  const n = nx * ny * nz;
  // Moments (voxel units; the grid is isotropic).
  let count = 0;
  const mean = [0, 0, 0];
  for (let z = 0, v = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++, v++) {
        if (!mask[v]) continue;
        count++;
        mean[0] += x;
        mean[1] += y;
        mean[2] += z;
      }
  if (!count) throw new Error('lesionDescriptors: empty mask');
  for (let a = 0; a < 3; a++) mean[a] /= count;
  const cov = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  let faces = 0;
  let yMax = 0;
  for (let z = 0, v = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++, v++) {
        if (!mask[v]) continue;
        const d = [x - mean[0], y - mean[1], z - mean[2]];
        for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) cov[3 * r + c] += d[r] * d[c];
        faces += Number(x === 0 || !mask[v - 1]) + Number(x === nx - 1 || !mask[v + 1]) + Number(y === 0 || !mask[v - nx]) + Number(y === ny - 1 || !mask[v + nx]);
        faces += Number(z === 0 || !mask[v - nx * ny]) + Number(z === nz - 1 || !mask[v + nx * ny]);
        if (y > yMax) yMax = y;
      }
  // + 1/12 per axis: a voxel is a unit cube, not a point, so a one-voxel lesion is not singular.
  for (let r = 0; r < 9; r++) cov[r] = cov[r] / count + (r % 4 === 0 ? 1 / 12 : 0);
  const inv = inverse3(cov) ?? [12, 0, 0, 0, 12, 0, 0, 0, 12];

  // A uniform solid ellipsoid with moment covariance C has the surface d^T C^-1 d = 5.
  const radius2 = (x: number, y: number, z: number) => {
    const d = [x - mean[0], y - mean[1], z - mean[2]];
    let s = 0;
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) s += d[r] * inv[3 * r + c] * d[c];
    return s / 5;
  };
  let mismatch = 0;
  let rSum = 0;
  let rSq = 0;
  let boundary = 0;
  for (let z = 0, v = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++, v++) {
        const r2 = radius2(x, y, z);
        if ((r2 <= 1) !== Boolean(mask[v])) mismatch++;
        if (!mask[v]) continue;
        const edge = x === 0 || x === nx - 1 || y === 0 || y === ny - 1 || z === 0 || z === nz - 1 || !mask[v - 1] || !mask[v + 1] || !mask[v - nx] || !mask[v + nx] || !mask[v - nx * ny] || !mask[v + nx * ny];
        if (!edge) continue;
        const r = Math.sqrt(r2);
        boundary++;
        rSum += r;
        rSq += r * r;
      }
  const rMean = rSum / Math.max(1, boundary);
  const roughness = boundary ? Math.sqrt(Math.max(0, rSq / boundary - rMean * rMean)) / Math.max(rMean, 1e-6) : 0;
  const opened = dilate(erode(mask, dims), dims);
  let kept = 0;
  for (let v = 0; v < n; v++) kept += opened[v] & mask[v];

  // Orientation: depth (y) spread against the long and short axes of the horizontal (x, z) spread.
  const [sxx, sxz, szz] = [cov[0], cov[2], cov[8]];
  const half = (sxx + szz) / 2;
  const root = Math.sqrt(((sxx - szz) / 2) ** 2 + sxz * sxz);
  const depthToLongAxis = 0.5 * Math.log(cov[4] / (half + root));
  const depthToShortAxis = 0.5 * Math.log(cov[4] / Math.max(half - root, 1 / 12));

  // Shells around the mass: the rim (1-2 voxels out) and the surround (3-5 voxels out).
  let grown = mask;
  const ring: Uint8Array[] = [];
  for (let k = 1; k <= 5; k++) {
    const next = dilate(grown, dims);
    ring.push(next.map((value, v) => value & (1 - grown[v])));
    grown = next;
  }
  const inRim = (v: number) => Boolean(ring[0][v] || ring[1][v]);
  const inShell = (v: number) => Boolean(ring[2][v] || ring[3][v] || ring[4][v]);
  const interior = stats(voi, (v) => Boolean(mask[v]), n);
  const rim = stats(voi, inRim, n);
  const shell = stats(voi, inShell, n);

  // Posterior: the columns under the lesion, 2-8 voxels below its deepest voxel, against columns
  // beside it at the same depths (within its lateral and sweep reach plus half as much again).
  const footprint = new Uint8Array(nx * nz);
  for (let v = 0; v < n; v++) if (mask[v]) footprint[(v % nx) + nx * Math.floor(v / (nx * ny))] = 1;
  const y0 = Math.min(ny - 1, yMax + 2);
  const y1 = Math.min(ny - 1, yMax + 8);
  const reach = Math.sqrt(half + root) * 3;
  let below = 0;
  let belowN = 0;
  let beside = 0;
  let besideN = 0;
  for (let z = 0; z < nz; z++)
    for (let x = 0; x < nx; x++) {
      const under = footprint[x + nx * z];
      const near = Math.hypot(x - mean[0], z - mean[2]) <= reach;
      if (!under && !near) continue;
      for (let y = y0; y <= y1; y++) {
        const value = voi[x + nx * (y + ny * z)];
        if (under) {
          below += value;
          belowN++;
        } else {
          beside += value;
          besideN++;
        }
      }
    }
  const posterior = belowN && besideN ? below / belowN - beside / besideN : 0;

  return {
    networkLogit: logit,
    // 1 for a sphere (with voxel faces' surface, a little below).
    sphericity: (Math.cbrt(Math.PI) * Math.cbrt(6 * count) ** 2) / Math.max(faces, 1),
    ellipsoidMismatch: mismatch / count,
    radialRoughness: roughness,
    openingLoss: 1 - kept / count,
    depthToLongAxis,
    depthToShortAxis,
    interiorContrast: interior.mean - shell.mean,
    interiorSd: interior.sd,
    rimContrast: rim.mean - shell.mean,
    shellSd: shell.sd,
    posteriorContrast: posterior,
  };
}
