/**
 * Find lesions' detector over one window (the card's `detector`, weights/DetectorCard): the
 * window's grid z-scored as a click's VOI is, averaged over 2 x 2 x 2 voxels, one pass of the
 * detector, and its map back on the window's grid (each coarse cell repeated over its eight
 * voxels, so the scan's map adds it as it adds the click network's).
 */
import * as tf from '@tensorflow/tfjs-core';
import { forwardPass, Weights } from '../engine/network';
import * as ops from '../engine/ops';
import type { DetectorCard } from '../engine/weights';
import type { Vec3 } from '../volume';
import { normalizeVoi } from './voi';

/** The window's grid must halve once and then four more times. */
export const DETECTOR_GRID_MULTIPLE = 32;

export async function detectorProbability(detector: DetectorCard, weights: Weights, grid: Vec3, values: Float32Array, inside: Uint8Array, kernels: ops.KernelOptions): Promise<Float32Array> {
  const [gx, gy, gz] = grid;
  if (grid.some((g) => g % DETECTOR_GRID_MULTIPLE !== 0)) throw new Error(`The detector's window must be a multiple of ${DETECTOR_GRID_MULTIPLE} voxels on every axis, got ${grid.join(' x ')}`);
  const prob = tf.tidy(() => {
    const x = tf.tensor5d(normalizeVoi(values, inside), [1, gz, gy, gx, 1]);
    // The mean of each 2 x 2 x 2 cube as the engine's own stride-2 convolution, the kernel its
    // parity tests hold on every backend (detector.test.ts compares it with tfjs's avgPool3d).
    const coarse = ops.downConv(x, tf.fill([8, 1], 1 / 8) as tf.Tensor2D, kernels);
    return forwardPass(detector.architecture, weights, coarse, undefined, { kernels }).segProb!;
  });
  let cells: Float32Array;
  try {
    cells = (await prob.data()) as Float32Array;
  } finally {
    prob.dispose();
  }
  const out = new Float32Array(gx * gy * gz);
  const [cx, cy] = [gx / 2, gy / 2];
  let n = 0;
  for (let z = 0; z < gz; z++) {
    for (let y = 0; y < gy; y++) {
      const row = cx * ((y >> 1) + cy * (z >> 1));
      for (let x = 0; x < gx; x++, n++) out[n] = cells[row + (x >> 1)];
    }
  }
  return out;
}
