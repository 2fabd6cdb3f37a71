/**
 * Phase 1 of a retrain, its slow half: a trained model's classification features of every lesion
 * VOI in a shard folder, under both poolings, cached once as named tensors for
 * models/torch/abus_torch/head.py, which fits a new head on them in seconds. Run by the engine
 * itself (wasm with its SIMD kernels), the fastest forward pass this project has on a CPU.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { Float16Array } from '@petamoriken/float16';
import { folderReader, forward, loadModel, tryBackend } from '@abus-tumor-ai/engine/lab';
import { ShardMeta } from './shards';
import { NamedArray, writeTensors } from './tensors-io';

/** A shard's .npy array (version 1.0, as shards.ts writes it). */
export function readNpy(file: string): { shape: number[]; descr: string; data: Uint8Array } {
  const bytes = fs.readFileSync(file);
  if (bytes.subarray(0, 6).toString('latin1') !== '\x93NUMPY') throw new Error(`${file} is not a .npy file`);
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLength).toString('latin1');
  const shape = (/'shape': \(([^)]*)\)/.exec(header)?.[1] ?? '').split(',').filter((s) => s.trim()).map(Number);
  const descr = /'descr': '([^']*)'/.exec(header)?.[1] ?? '';
  const data = new Uint8Array(bytes.buffer.slice(bytes.byteOffset + 10 + headerLength, bytes.byteOffset + bytes.byteLength));
  return { shape, descr, data };
}

export interface HeadFeatureOptions {
  weights: string;
  shards: string;
  tag: string;
  /** Written as <out>.json + <out>.bin (tensors_io.read_tensors reads it). */
  out: string;
  limit?: number;
  /** Where tfjs-wasm's binaries are; the engine's package by default. */
  wasmPath?: string;
  onProgress?: (done: number, total: number) => void;
}

export async function headFeatures(o: HeadFeatureOptions): Promise<number> {
  const why = await tryBackend('wasm', true, { wasmPath: o.wasmPath });
  if (why) throw new Error(`head features need the wasm backend: ${why}`);
  const model = await loadModel(folderReader(o.weights));
  const config = model.card.architecture;
  const names = fs.readdirSync(o.shards).filter((f) => f.endsWith('.json')).sort();
  const rows: { global: Float32Array; lesion: Float32Array; label: number; logit: number }[] = [];
  const total = Math.min(o.limit ?? Infinity, names.reduce((n, f) => n + (JSON.parse(fs.readFileSync(path.join(o.shards, f), 'utf8')) as ShardMeta).lesion.filter(Boolean).length, 0));
  for (const name of names) {
    const meta = JSON.parse(fs.readFileSync(path.join(o.shards, name), 'utf8')) as ShardMeta;
    const files = meta.grids[o.tag];
    if (!files) throw new Error(`${name} has no grid ${o.tag}; it has ${Object.keys(meta.grids).join(', ')}`);
    const voi = readNpy(path.join(o.shards, files.voi));
    const [count, gz, gy, gx] = voi.shape;
    const n = gz * gy * gx;
    const values = new Float16Array(voi.data.buffer);
    for (let i = 0; i < count && rows.length < total; i++) {
      if (!meta.lesion[i]) continue;
      const row = tf.tidy(() => {
        const x = tf.tensor5d(Float32Array.from(values.subarray(i * n, (i + 1) * n)), [1, gz, gy, gx, 1]);
        const last = forward(config, model.weights, x, { keepPooled: true }).at(-1)!;
        return {
          global: last.pooled!.global.dataSync() as Float32Array,
          lesion: last.pooled!.lesion!.dataSync() as Float32Array,
          label: meta.malignant[i],
          logit: last.clsLogit!.dataSync()[0],
        };
      });
      rows.push(row);
      o.onProgress?.(rows.length, total);
    }
  }
  tf.dispose(Object.values(model.weights));
  const width = rows[0]?.global.length ?? 0;
  const stack = (pick: (r: (typeof rows)[number]) => Float32Array): NamedArray => {
    const data = new Float32Array(rows.length * width);
    rows.forEach((r, i) => data.set(pick(r), i * width));
    return { shape: [rows.length, width], data };
  };
  writeTensors(o.out, {
    global: stack((r) => r.global),
    lesion: stack((r) => r.lesion),
    label: { shape: [rows.length], data: Float32Array.from(rows.map((r) => r.label)) },
    logit: { shape: [rows.length], data: Float32Array.from(rows.map((r) => r.logit)) },
  });
  return rows.length;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const get = (flag: string) => {
    const i = args.indexOf(flag);
    if (i < 0 || !args[i + 1]) throw new Error(`${flag} is needed`);
    return args[i + 1];
  };
  const limit = args.includes('--limit') ? Number(get('--limit')) : undefined;
  const start = Date.now();
  headFeatures({
    weights: get('--weights'), shards: get('--shards'), tag: get('--tag'), out: get('--out'), limit,
    onProgress: (done, total) => {
      if (done % 20 === 0 || done === total) process.stderr.write(`${done} of ${total} lesion VOIs, ${((Date.now() - start) / 1000 / done).toFixed(1)} s each\n`);
    },
  }).then((n) => console.log(`${n} lesion VOIs -> ${get('--out')}.json/.bin`), (err) => {
    console.error(String(err instanceof Error ? err.message : err));
    process.exit(1);
  });
}
