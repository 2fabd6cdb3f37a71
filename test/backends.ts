/**
 * Test helpers for running the same code on several tfjs backends in one jest process.
 * The webgpu backend is Dawn on SwiftShader (test/setup-webgpu.js); when a backend cannot start,
 * the tests that need it are skipped with the reason in their title (describeOn), never passed.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendName } from '@abus-tumor-ai/engine';
import { tryBackend } from '@abus-tumor-ai/engine/lab';
import { prerequisites } from './prerequisites';

/** describe() for tests that need a backend, or describe.skip() with the reason in its title (test/prerequisites.ts). */
export function describeOn(name: 'wasm' | 'webgpu', title: string, fn: () => void): void {
  const gate = prerequisites([name], title);
  gate.describe(gate.title(title), fn);
}

/** Runs fn on the named backend and returns to cpu afterwards. */
export async function onBackend<T>(name: BackendName, fn: () => Promise<T>): Promise<T> {
  const why = await tryBackend(name);
  if (why) throw new Error(`backend ${name} unavailable: ${why}`);
  try {
    return await fn();
  } finally {
    await tf.setBackend('cpu');
  }
}

/** Largest absolute difference divided by the reference's largest magnitude. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / Math.max(scale, 1e-12);
}

/** Deterministic pseudo-random values in [-1, 1): a tiny LCG, so every backend sees the same data. */
export function randomArray(length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}
