/**
 * A scalar 3-D image and its patient geometry, in the DICOM / ITK convention:
 * voxel (i, j, k) lies at patient point origin + D * diag(spacing) * [i, j, k]^T (millimetres, LPS),
 * where D's columns are the unit directions of the i, j and k axes.
 *
 * ABUS convention used throughout the engine: i = lateral (across the transducer),
 * j = depth (away from the skin, the beam direction), k = sweep (along the scan).
 * Voxel (i, j, k) is stored at data[i + nx * (j + ny * k)].
 */
export type Vec3 = [number, number, number];

/** Row-major 3x3 matrix; column c is the patient direction of voxel axis c. */
export type Mat3 = [number, number, number, number, number, number, number, number, number];

export type VoxelArray = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

export interface VolumeGeometry {
  /** Voxels along i, j, k. */
  dims: Vec3;
  /** Millimetres between voxel centres along i, j, k. */
  spacing: Vec3;
  /** Patient position (mm) of voxel (0, 0, 0). */
  origin: Vec3;
  direction: Mat3;
}

export interface Volume extends VolumeGeometry {
  data: VoxelArray;
}

export const IDENTITY_DIRECTION: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];

/** Continuous voxel index of a patient point. Assumes an orthonormal direction matrix. */
export function patientToIndex(geometry: VolumeGeometry, point: Vec3): Vec3 {
  const d = geometry.direction;
  const rel = [point[0] - geometry.origin[0], point[1] - geometry.origin[1], point[2] - geometry.origin[2]];
  const out: Vec3 = [0, 0, 0];
  for (let c = 0; c < 3; c++) {
    // D is orthonormal, so D^-1 = D^T: the component along column c.
    const along = d[c] * rel[0] + d[3 + c] * rel[1] + d[6 + c] * rel[2];
    out[c] = along / geometry.spacing[c];
  }
  return out;
}

/** Patient point (mm) of a continuous voxel index. */
export function indexToPatient(geometry: VolumeGeometry, index: Vec3): Vec3 {
  const d = geometry.direction;
  const s = [index[0] * geometry.spacing[0], index[1] * geometry.spacing[1], index[2] * geometry.spacing[2]];
  return [
    geometry.origin[0] + d[0] * s[0] + d[1] * s[1] + d[2] * s[2],
    geometry.origin[1] + d[3] * s[0] + d[4] * s[1] + d[5] * s[2],
    geometry.origin[2] + d[6] * s[0] + d[7] * s[1] + d[8] * s[2],
  ];
}

export function voxelCount(dims: Vec3): number {
  return dims[0] * dims[1] * dims[2];
}

/** No ultrasound voxel is 10 mm wide: a larger spacing is a unit mistake (cm, m) or a broken header. */
export const MAX_SPACING_MM = 10;

/**
 * The largest decoded volume the readers accept (1.5 GiB, e.g. 800 M voxels of 16 bits). A full
 * ABUS sweep is about 175 M voxels; checked from the header, before anything is allocated.
 */
export const MAX_VOLUME_BYTES = 1.5 * 2 ** 30;

/** Why a spacing (mm per voxel, one value per axis) cannot be used, or undefined. */
export function spacingProblem(spacing: readonly number[]): string | undefined {
  if (spacing.length !== 3) return `it has ${spacing.length} values, not 3`;
  const bad = spacing.find((s) => !Number.isFinite(s) || s <= 0);
  if (bad !== undefined) return `${bad} is not a finite number of mm above 0`;
  const huge = spacing.find((s) => s > MAX_SPACING_MM);
  if (huge !== undefined) return `${huge} mm is over ${MAX_SPACING_MM} mm per voxel (a unit mistake?)`;
  return undefined;
}

/** Throws, naming the size, when a volume of `dims` voxels of `bytesPerVoxel` is over MAX_VOLUME_BYTES. */
export function checkVolumeSize(dims: readonly number[], bytesPerVoxel: number, what: string): void {
  const bytes = dims.reduce((n, d) => n * d, 1) * bytesPerVoxel;
  if (!(bytes <= MAX_VOLUME_BYTES)) {
    throw new Error(`${what} is ${dims.join(' x ')} voxels of ${bytesPerVoxel} byte${bytesPerVoxel > 1 ? 's' : ''}, ${(bytes / 2 ** 30).toFixed(2)} GiB decoded: over the ${MAX_VOLUME_BYTES / 2 ** 30} GiB limit (MAX_VOLUME_BYTES)`);
  }
}
