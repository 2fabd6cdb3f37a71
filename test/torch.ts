/**
 * Test helpers for the PyTorch twin (models/torch): which Python runs it, whether it can start,
 * and the named-tensor files the two sides exchange (models/torch/abus_torch/tensors_io.py).
 */
import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as path from 'path';
import { PYTHON } from './prerequisites';

export { PYTHON };
export const TORCH_DIR = path.join(__dirname, '..', 'models', 'torch');

export function runPython(args: string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
  const r = spawnSync(PYTHON, args, { cwd: TORCH_DIR, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2', ...env }, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${PYTHON} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

export type { NamedArray } from '@abus-tumor-ai/research';
export { readTensors, writeTensors } from '@abus-tumor-ai/research';
