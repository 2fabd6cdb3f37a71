/**
 * Training and validation VOIs, built with the same planning, resampling and normalisation as
 * inference (pipeline/voi.ts), so the network sees in training exactly what it sees in use.
 */
import { LesionSample, LoadedCase } from '../data/tdsc';
import { InputContract, Vec3 } from '@abus-tumor-ai/engine';
import { normalizeVoi, planVoi, readArrayBlock, resampleToGrid } from '@abus-tumor-ai/engine/lab';
import { Rng } from './rng';

export interface Augmentation {
  /** Uniform jitter of the VOI centre, mm, per axis (the click is never exactly central). */
  jitterMm: number;
  /** Mirror lateral (i) and sweep (k); depth is never flipped, shadows fall away from the skin. */
  flip: boolean;
  /** Gamma on 8-bit intensities, drawn from [1/g, g]. */
  gamma: number;
  /** Standard deviation of additive noise on the normalised VOI (speckle-like texture change). */
  noise: number;
}

export const DEFAULT_AUGMENTATION: Augmentation = { jitterMm: 4, flip: true, gamma: 1.25, noise: 0.1 };
export const NO_AUGMENTATION: Augmentation = { jitterMm: 0, flip: false, gamma: 1, noise: 0 };

export interface Sample {
  /** [z][y][x] normalised intensities. */
  voi: Float32Array;
  /** [z][y][x] 0/1 truth. */
  mask: Float32Array;
  malignant: boolean;
  /** False for a VOI centred on normal tissue (a negative sample): it has no class. */
  lesion: boolean;
  /** The VOI's centre (source voxel index, before flips). */
  center: Vec3;
}

function flipAxis(data: Float32Array, grid: Vec3, axis: 0 | 2): Float32Array {
  const [gx, gy, gz] = grid;
  const out = new Float32Array(data.length);
  for (let z = 0; z < gz; z++)
    for (let y = 0; y < gy; y++)
      for (let x = 0; x < gx; x++) {
        const src = axis === 0 ? gx - 1 - x + gx * (y + gy * z) : x + gx * (y + gy * (gz - 1 - z));
        out[x + gx * (y + gy * z)] = data[src];
      }
  return out;
}

/**
 * A VOI around a lesion, or with `negative` around a point of normal tissue. A click lands inside
 * the mass, so a lesion's centre jitter stays within half its equivalent radius.
 */
export function makeSample(c: Pick<LoadedCase, 'volume' | 'mask'>, lesion: LesionSample, input: InputContract, aug: Augmentation, rng: Rng, negative = false): Sample {
  const radiusMm = Math.cbrt((3 * lesion.volumeMl * 1000) / (4 * Math.PI));
  const jitterMm = negative || !(radiusMm > 0) ? aug.jitterMm : Math.min(aug.jitterMm, 0.5 * radiusMm);
  const center: Vec3 = [0, 1, 2].map((a) => lesion.center[a] + (rng.uniform(-1, 1) * jitterMm) / c.volume.spacing[a]) as Vec3;
  return sampleAt(c, center, { lesion: !negative, malignant: !negative && lesion.malignant }, input, aug, rng);
}

/**
 * The VOI centred at `center` (voxel index, clamped into the volume as a click is), with its
 * label: the pipeline's planning and resampling (outside the volume: padded as in inference),
 * then gamma, noise and flips.
 */
export function sampleAt(c: Pick<LoadedCase, 'volume' | 'mask'>, center: Vec3, label: { lesion: boolean; malignant: boolean }, input: InputContract, aug: Augmentation, rng: Rng): Sample {
  center = center.map((v, a) => Math.min(Math.max(v, 0), c.volume.dims[a] - 1)) as Vec3;
  const plan = planVoi(c.volume, center, input.grid, input.voxelMm);
  const { values, inside } = resampleToGrid(plan, c.volume, readArrayBlock(c.volume, plan.blockMin, plan.blockMax));
  const maskGrid = resampleToGrid(plan, c.mask, readArrayBlock(c.mask, plan.blockMin, plan.blockMax)).values;
  if (aug.gamma !== 1) {
    const g = Math.exp(rng.uniform(-1, 1) * Math.log(aug.gamma));
    for (let i = 0; i < values.length; i++) values[i] = 255 * Math.pow(Math.max(values[i], 0) / 255, g);
  }
  let voi: Float32Array = normalizeVoi(values, inside);
  if (aug.noise > 0) {
    const sd = rng.uniform(0, aug.noise);
    for (let i = 0; i < voi.length; i++) if (inside[i]) voi[i] += sd * rng.normal();
  }
  let mask: Float32Array = maskGrid.map((v) => (v >= 0.5 ? 1 : 0));
  for (const axis of [0, 2] as const) {
    if (aug.flip && rng.uniform(0, 1) < 0.5) {
      voi = flipAxis(voi, input.grid, axis);
      mask = flipAxis(mask, input.grid, axis);
    }
  }
  return { voi, mask, malignant: label.lesion && label.malignant, lesion: label.lesion, center };
}
