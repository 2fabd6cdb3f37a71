/**
 * GPU time per tfjs kernel (tf.profile; needs the adapter's timestamp queries), summed by kernel
 * name, largest first. The project's own WebGPU programs show as 'unnamed scope'.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface KernelProfile {
  /** Kernel calls in all. */
  calls: number;
  /** Calls without a time (no timestamp queries). */
  untimed: number;
  totalMs: number;
  byName: { name: string; ms: number; calls: number }[];
}

export async function profileKernels(fn: () => tf.TensorContainer | Promise<tf.TensorContainer>): Promise<KernelProfile> {
  const info = await tf.profile(fn);
  tf.dispose(info.result);
  const byName = new Map<string, { name: string; ms: number; calls: number }>();
  let untimed = 0;
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : undefined;
    if (ms === undefined) untimed++;
    const entry = byName.get(k.name) ?? { name: k.name, ms: 0, calls: 0 };
    entry.ms += ms ?? 0;
    entry.calls++;
    byName.set(k.name, entry);
  }
  const rows = [...byName.values()].sort((a, b) => b.ms - a.ms);
  return { calls: info.kernels.length, untimed, totalMs: rows.reduce((sum, e) => sum + e.ms, 0), byName: rows };
}
