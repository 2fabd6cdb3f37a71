/** The lesion descriptors measure what they name: shape, orientation, margin, echo and posterior features. */
import { Vec3 } from '../volume';
import { lesionDescriptors } from './descriptors';

const DIMS: Vec3 = [48, 32, 48];
const N = DIMS[0] * DIMS[1] * DIMS[2];
const index = (x: number, y: number, z: number) => x + DIMS[0] * (y + DIMS[1] * z);

/** An ellipsoid of radii r (voxels) at the centre, optionally with bumps on its surface. */
function ellipsoid(r: Vec3, bumps = 0): Uint8Array {
  const m = new Uint8Array(N);
  for (let z = 0; z < DIMS[2]; z++)
    for (let y = 0; y < DIMS[1]; y++)
      for (let x = 0; x < DIMS[0]; x++) {
        const d = [(x - 24) / r[0], (y - 16) / r[1], (z - 24) / r[2]];
        const rho = Math.hypot(d[0], d[1], d[2]);
        const angle = Math.atan2(d[2], d[0]);
        const bump = bumps ? 0.3 * Math.max(0, Math.cos(bumps * angle)) ** 4 : 0;
        if (rho <= 1 + bump) m[index(x, y, z)] = 1;
      }
  return m;
}

const flat = () => new Float32Array(N);

test('a sphere is round, smooth and matches its moment ellipsoid; bumps make it less so', () => {
  const sphere = lesionDescriptors(ellipsoid([8, 8, 8]), flat(), DIMS, 0);
  const bumpy = lesionDescriptors(ellipsoid([8, 8, 8], 7), flat(), DIMS, 0);
  expect(sphere.ellipsoidMismatch).toBeLessThan(0.1);
  expect(sphere.radialRoughness).toBeLessThan(0.05);
  expect(Math.abs(sphere.depthToLongAxis)).toBeLessThan(0.05);
  expect(bumpy.radialRoughness).toBeGreaterThan(2 * sphere.radialRoughness);
  expect(bumpy.ellipsoidMismatch).toBeGreaterThan(sphere.ellipsoidMismatch);
  expect(bumpy.sphericity).toBeLessThan(sphere.sphericity);
});

test('orientation: taller than wide is positive, wider than tall negative', () => {
  expect(lesionDescriptors(ellipsoid([5, 10, 5]), flat(), DIMS, 0).depthToLongAxis).toBeGreaterThan(0.5);
  expect(lesionDescriptors(ellipsoid([12, 5, 8]), flat(), DIMS, 0).depthToLongAxis).toBeLessThan(-0.5);
  const oblong = lesionDescriptors(ellipsoid([12, 5, 6]), flat(), DIMS, 0);
  expect(oblong.depthToShortAxis).toBeGreaterThan(oblong.depthToLongAxis);
});

test('echo: a dark interior, a bright rim and a shadow below are measured with their signs', () => {
  const mask = ellipsoid([6, 5, 6]);
  const voi = flat();
  const rimmed = new Float32Array(N);
  for (let z = 0; z < DIMS[2]; z++)
    for (let y = 0; y < DIMS[1]; y++)
      for (let x = 0; x < DIMS[0]; x++) {
        const v = index(x, y, z);
        const rho = Math.hypot((x - 24) / 6, (y - 16) / 5, (z - 24) / 6);
        voi[v] = mask[v] ? -2 : y > 22 && Math.hypot(x - 24, z - 24) < 6 ? -1 : 0.1 * Math.sin(x * 1.7 + z);
        rimmed[v] = mask[v] ? 0 : rho < 1.35 ? 2 : 0;
      }
  const d = lesionDescriptors(mask, voi, DIMS, 1.5);
  expect(d.networkLogit).toBe(1.5);
  expect(d.interiorContrast).toBeLessThan(-1.5);
  expect(d.posteriorContrast).toBeLessThan(-0.5);
  expect(lesionDescriptors(mask, rimmed, DIMS, 0).rimContrast).toBeGreaterThan(1);
});

test('a one-voxel mask gives finite descriptors; an empty one is an error', () => {
  const one = new Uint8Array(N);
  one[index(24, 16, 24)] = 1;
  expect(Object.values(lesionDescriptors(one, flat(), DIMS, 0)).every(Number.isFinite)).toBe(true);
  expect(() => lesionDescriptors(new Uint8Array(N), flat(), DIMS, 0)).toThrow(/empty/);
});
