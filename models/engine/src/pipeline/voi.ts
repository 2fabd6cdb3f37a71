/**
 * The volume of interest around a click: which source voxels it covers, its resampling onto
 * the network's isotropic grid, and the way back. Only the VOI's bounding block of the source
 * is ever read or copied, never the whole volume (a real ABUS sweep is ~170 M voxels).
 *
 * Grid axes follow the source voxel axes: grid x = i (lateral), y = j (ABUS depth),
 * z = k (sweep), so the paper's 64 x 32 x 64 mm VOI has its 32 mm side along the beam.
 * The grid tensor is [z][y][x] (tf NDHWC depth = sweep, height = depth, width = lateral).
 */
import type { ModelCard } from '../engine/weights';
import { patientToIndex, Vec3, VolumeGeometry } from '../volume';
import { checkAbort, nextTask } from './abort';

export interface VoiPlan {
  /** Continuous source index of the VOI centre. */
  center: Vec3;
  /** Continuous source index of the point the analysis is about (the click, a lesion's centre); the centre when absent. */
  focus?: Vec3;
  /** Network grid, voxels [x(i), y(j), z(k)]. */
  grid: Vec3;
  voxelMm: number;
  /** Inclusive source index block the VOI touches, clamped to the volume. */
  blockMin: Vec3;
  blockMax: Vec3;
}

/**
 * Reads a block of source voxels, i fastest; the only way the pipeline touches the volume. It is
 * asynchronous so that a viewer's volume can load just the slices a block needs, when it is read.
 */
export interface VolumeSource extends VolumeGeometry {
  readBlock(min: Vec3, max: Vec3): Promise<Float32Array>;
}

export function blockSize(min: Vec3, max: Vec3): Vec3 {
  return [max[0] - min[0] + 1, max[1] - min[1] + 1, max[2] - min[2] + 1];
}

export function centerIndex(geometry: VolumeGeometry, center: Vec3, space: 'patient' | 'voxel'): Vec3 {
  const index = space === 'patient' ? patientToIndex(geometry, center) : center;
  const outside = index.some((v, a) => !(v >= -0.5 && v <= geometry.dims[a] - 0.5));
  if (outside) {
    const shown = index.map((v) => v.toFixed(1)).join(', ');
    throw new Error(`The point is outside the volume: voxel (${shown}) is not within ${geometry.dims.join(' x ')}`);
  }
  return index;
}

/** Grid coordinate -> continuous source index along one axis. */
function toSource(plan: VoiPlan, spacing: Vec3, axis: number, g: number): number {
  return plan.center[axis] + ((g - (plan.grid[axis] - 1) / 2) * plan.voxelMm) / spacing[axis];
}

/** Continuous source index -> grid coordinate along one axis. */
function toGrid(plan: VoiPlan, spacing: Vec3, axis: number, s: number): number {
  return ((s - plan.center[axis]) * spacing[axis]) / plan.voxelMm + (plan.grid[axis] - 1) / 2;
}

/**
 * The VOI's centre on a fixed lattice, one network voxel (voxelMm) apart along each axis from the
 * volume's first voxel. Two clicks a fraction of a millimetre apart then give the network the same
 * samples, not two interpolations of them: measured on the demo lesion, clicks 0.2 mm apart gave
 * P(malignant) 0.20 and 0.23 (one verdict each side of the rule-out point) before this.
 */
export function snapToLattice(center: Vec3, spacing: Vec3, voxelMm: number): Vec3 {
  return center.map((v, a) => {
    const step = voxelMm / spacing[a];
    return Math.round(v / step) * step;
  }) as Vec3;
}

export function planVoi(geometry: VolumeGeometry, center: Vec3, grid: Vec3, voxelMm: number): VoiPlan {
  const plan: VoiPlan = { center, grid, voxelMm, blockMin: [0, 0, 0], blockMax: [0, 0, 0] };
  for (let a = 0; a < 3; a++) {
    const lo = Math.floor(toSource(plan, geometry.spacing, a, 0));
    // floor + 1, not ceil: an interpolation tap at an exact integer still reads its upper neighbour.
    const hi = Math.floor(toSource(plan, geometry.spacing, a, grid[a] - 1)) + 1;
    plan.blockMin[a] = Math.max(0, lo);
    plan.blockMax[a] = Math.min(geometry.dims[a] - 1, hi);
  }
  return plan;
}

/** The lateral and sweep axes: the ones a VOI is moved along to stay inside the volume (planAbout). */
const INWARD_AXES = [0, 2];

/**
 * The VOI about a point (a click, a lesion's centre; snapped to the lattice), centred on it. With
 * `inward`, it is moved inwards in whole lattice steps where it would reach past the volume's
 * lateral or sweep face and the volume is long enough to hold it; the point is then off the VOI's
 * centre (`focus`). Why: the network was trained on lesions anywhere in a VOI that stays inside
 * its crop, and padding is where the click analysis fails most (docs/engine.md, Normalisation).
 * Not the default: off-centre at the VOI's face, the network often segments only part of a
 * lesion (measured in docs/engine.md), so the scan uses it as a second look only. In depth the
 * VOI stays centred: a click lands in tissue, and the training VOIs reach past the skin as far.
 */
export function planAbout(card: ModelCard, geometry: VolumeGeometry, point: Vec3, inward = false): VoiPlan {
  const { grid, voxelMm } = card.input;
  const focus = snapToLattice(point, geometry.spacing, voxelMm);
  const center = [...focus] as Vec3;
  for (const a of inward ? INWARD_AXES : []) {
    const step = voxelMm / geometry.spacing[a];
    const half = ((grid[a] - 1) / 2) * step;
    const last = geometry.dims[a] - 1;
    if (2 * half > last) continue;
    if (center[a] - half < 0) center[a] += Math.ceil((half - center[a]) / step - 1e-6) * step;
    else if (center[a] + half > last) center[a] -= Math.ceil((center[a] + half - last) / step - 1e-6) * step;
  }
  return { ...planVoi(geometry, center, grid, voxelMm), focus };
}

/** Where a plan's analysis is about, continuous source index. */
export function planFocus(plan: VoiPlan): Vec3 {
  return plan.focus ?? plan.center;
}

/** The focus of a plan on its grid (continuous grid coordinates). */
export function focusOnGrid(plan: VoiPlan, spacing: Vec3): Vec3 {
  const focus = planFocus(plan);
  return [0, 1, 2].map((a) => toGrid(plan, spacing, a, focus[a])) as Vec3;
}

/**
 * The VOI of a click (planAbout), before anything is read: its block is the only part of the volume the first
 * analysis reads (a worker client reads it and sends only that).
 */
export function planClick(card: ModelCard, geometry: VolumeGeometry, click: Vec3, space: 'patient' | 'voxel', inward = false): VoiPlan {
  if (geometry.dims.some((d) => d < 2)) throw new Error(`This is a 2-D image (${geometry.dims.join(' x ')}); the analysis needs a 3-D volume`);
  return planAbout(card, geometry, centerIndex(geometry, click, space), inward);
}

/** Per-axis linear interpolation weights, precomputed once per axis (the grid is separable). */
interface AxisTaps {
  lo: Int32Array;
  frac: Float32Array;
  inside: Uint8Array;
}

function axisTaps(count: number, map: (g: number) => number, dim: number, offset: number): AxisTaps {
  const taps: AxisTaps = { lo: new Int32Array(count), frac: new Float32Array(count), inside: new Uint8Array(count) };
  for (let g = 0; g < count; g++) {
    const s = map(g);
    taps.inside[g] = s >= -0.5 && s <= dim - 0.5 ? 1 : 0;
    const clamped = Math.min(Math.max(s, 0), dim - 1);
    const lo = Math.min(Math.floor(clamped), dim - 2 < 0 ? 0 : dim - 2);
    taps.lo[g] = lo - offset;
    taps.frac[g] = dim === 1 ? 0 : clamped - lo;
  }
  return taps;
}

/**
 * Trilinear resampling of the source block onto the grid. Returns the grid values and a
 * 0/1 map of which grid voxels fall inside the volume.
 */
export function resampleToGrid(plan: VoiPlan, geometry: VolumeGeometry, block: Float32Array): { values: Float32Array; inside: Uint8Array } {
  const size = blockSize(plan.blockMin, plan.blockMax);
  const [gx, gy, gz] = plan.grid;
  const taps = [0, 1, 2].map((a) =>
    axisTaps(plan.grid[a], (g) => toSource(plan, geometry.spacing, a, g), geometry.dims[a], plan.blockMin[a]),
  );
  const step = [1, size[0], size[0] * size[1]];
  const has = [size[0] > 1 ? 1 : 0, size[1] > 1 ? 1 : 0, size[2] > 1 ? 1 : 0];
  const values = new Float32Array(gx * gy * gz);
  const inside = new Uint8Array(gx * gy * gz);
  let out = 0;
  for (let z = 0; z < gz; z++) {
    const z0 = taps[2].lo[z] * step[2];
    const fz = taps[2].frac[z];
    for (let y = 0; y < gy; y++) {
      const y0 = taps[1].lo[y] * step[1];
      const fy = taps[1].frac[y];
      const inZY = taps[2].inside[z] & taps[1].inside[y];
      for (let x = 0; x < gx; x++, out++) {
        if (!(inZY & taps[0].inside[x])) continue;
        const fx = taps[0].frac[x];
        const base = z0 + y0 + taps[0].lo[x];
        const dx = has[0];
        const dy = has[1] * step[1];
        const dz = has[2] * step[2];
        const c00 = block[base] + (block[base + dx] - block[base]) * fx;
        const c10 = block[base + dy] + (block[base + dy + dx] - block[base + dy]) * fx;
        const c01 = block[base + dz] + (block[base + dz + dx] - block[base + dz]) * fx;
        const c11 = block[base + dz + dy] + (block[base + dz + dy + dx] - block[base + dz + dy]) * fx;
        const c0 = c00 + (c10 - c00) * fy;
        const c1 = c01 + (c11 - c01) * fy;
        values[out] = c0 + (c1 - c0) * fz;
        inside[out] = 1;
      }
    }
  }
  return { values, inside };
}

/**
 * Z-score over the voxels inside the volume; outside voxels become 0 (the mean), so padding
 * looks like average tissue rather than a bright or black wall.
 */
export function normalizeVoi(values: Float32Array, inside: Uint8Array): Float32Array {
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < values.length; i++) {
    if (!inside[i]) continue;
    n++;
    sum += values[i];
    sumSq += values[i] * values[i];
  }
  const mean = n ? sum / n : 0;
  const sd = n ? Math.sqrt(Math.max(sumSq / n - mean * mean, 0)) : 1;
  const scale = 1 / Math.max(sd, 1e-6);
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = inside[i] ? (values[i] - mean) * scale : 0;
  return out;
}

export interface SourceMask {
  /** 0/1 per source voxel of the box, i fastest. */
  mask: Uint8Array;
  /** Inclusive source index box of `mask`. */
  min: Vec3;
  max: Vec3;
  voxelCount: number;
}

/**
 * Maps a 0/1 grid mask back onto source voxels: each source voxel takes the trilinear value
 * of the grid mask at its position, >= 0.5 is foreground. Only the box around the mask is visited.
 */
export function gridMaskToSource(plan: VoiPlan, geometry: VolumeGeometry, gridMask: Uint8Array): SourceMask {
  const [gx, gy, gz] = plan.grid;
  const gMin: Vec3 = [gx, gy, gz];
  const gMax: Vec3 = [-1, -1, -1];
  for (let z = 0, n = 0; z < gz; z++)
    for (let y = 0; y < gy; y++)
      for (let x = 0; x < gx; x++, n++) {
        if (!gridMask[n]) continue;
        const p = [x, y, z];
        for (let a = 0; a < 3; a++) {
          if (p[a] < gMin[a]) gMin[a] = p[a];
          if (p[a] > gMax[a]) gMax[a] = p[a];
        }
      }
  const empty: SourceMask = { mask: new Uint8Array(0), min: [0, 0, 0], max: [-1, -1, -1], voxelCount: 0 };
  if (gMax[0] < 0) return empty;
  const min: Vec3 = [0, 0, 0];
  const max: Vec3 = [0, 0, 0];
  for (let a = 0; a < 3; a++) {
    min[a] = Math.max(0, Math.floor(toSource(plan, geometry.spacing, a, gMin[a] - 1)));
    max[a] = Math.min(geometry.dims[a] - 1, Math.ceil(toSource(plan, geometry.spacing, a, gMax[a] + 1)));
  }
  const size = blockSize(min, max);
  const coords = [0, 1, 2].map((a) => Float64Array.from({ length: size[a] }, (_, t) => toGrid(plan, geometry.spacing, a, min[a] + t)));
  const sample = (x: number, y: number, z: number) => (x >= 0 && y >= 0 && z >= 0 && x < gx && y < gy && z < gz ? gridMask[x + gx * (y + gy * z)] : 0);
  const mask = new Uint8Array(size[0] * size[1] * size[2]);
  let count = 0;
  let out = 0;
  for (let k = 0; k < size[2]; k++) {
    const z = coords[2][k];
    const z0 = Math.floor(z);
    const fz = z - z0;
    for (let j = 0; j < size[1]; j++) {
      const y = coords[1][j];
      const y0 = Math.floor(y);
      const fy = y - y0;
      for (let i = 0; i < size[0]; i++, out++) {
        const x = coords[0][i];
        const x0 = Math.floor(x);
        const fx = x - x0;
        let v = 0;
        for (let c = 0; c < 8; c++) {
          const wx = c & 1 ? fx : 1 - fx;
          const wy = c & 2 ? fy : 1 - fy;
          const wz = c & 4 ? fz : 1 - fz;
          const w = wx * wy * wz;
          if (w > 0) v += w * sample(x0 + (c & 1), y0 + ((c >> 1) & 1), z0 + ((c >> 2) & 1));
        }
        if (v >= 0.5) {
          mask[out] = 1;
          count++;
        }
      }
    }
  }
  return { mask, min, max, voxelCount: count };
}

/** The block [min, max] of an in-memory volume, i fastest (a copy of just that block). */
export function readArrayBlock(volume: VolumeGeometry & { data: ArrayLike<number> }, min: Vec3, max: Vec3): Float32Array {
  const [nx, ny] = volume.dims;
  const size = blockSize(min, max);
  const out = new Float32Array(size[0] * size[1] * size[2]);
  let n = 0;
  for (let k = min[2]; k <= max[2]; k++)
    for (let j = min[1]; j <= max[1]; j++) {
      const row = nx * (j + ny * k);
      for (let i = min[0]; i <= max[0]; i++) out[n++] = volume.data[row + i];
    }
  return out;
}

/** A VolumeSource over an in-memory array (Node, tests); reads copy only the block. */
export function arraySource(volume: VolumeGeometry & { data: ArrayLike<number> }): VolumeSource {
  return {
    dims: volume.dims,
    spacing: volume.spacing,
    origin: volume.origin,
    direction: volume.direction,
    readBlock: async (min, max) => readArrayBlock(volume, min, max),
  };
}

/** A window's grid values (x fastest) and 1 where the grid voxel lies inside the volume. */
export interface WindowGrid {
  values: Float32Array;
  inside: Uint8Array;
}

/** Grid planes (along the sweep axis) read and resampled at a time: a slab's block is what one read copies. */
export const SLAB_PLANES = 8;

/**
 * A VOI's or a scan window's grid, read slab by slab: SLAB_PLANES grid planes at a time, each slab's source block
 * read on its own and resampled trilinearly (the same values as resampling the window's whole
 * block), so no read is larger than a slab (a few MB on a full-size volume), each slab in a task
 * of its own.
 */
export async function readWindow(source: VolumeSource, plan: VoiPlan, signal?: AbortSignal): Promise<WindowGrid> {
  const [gx, gy, gz] = plan.grid;
  const values = new Float32Array(gx * gy * gz);
  const inside = new Uint8Array(gx * gy * gz);
  for (let z0 = 0; z0 < gz; z0 += SLAB_PLANES) {
    const n = Math.min(SLAB_PLANES, gz - z0);
    // The slab's own plan: same grid spacing, its centre moved to the slab's middle plane.
    const shift = ((z0 + (n - 1) / 2 - (gz - 1) / 2) * plan.voxelMm) / source.spacing[2];
    const slab = planVoi(source, [plan.center[0], plan.center[1], plan.center[2] + shift], [gx, gy, n], plan.voxelMm);
    // A slab wholly outside the volume (a VOI past its edge) reads nothing: its voxels stay outside.
    if (slab.blockMin.some((v, a) => v > slab.blockMax[a])) continue;
    const block = await source.readBlock(slab.blockMin, slab.blockMax);
    checkAbort(signal);
    const part = resampleToGrid(slab, source, block);
    values.set(part.values, z0 * gx * gy);
    inside.set(part.inside, z0 * gx * gy);
    await nextTask();
  }
  return { values, inside };
}
