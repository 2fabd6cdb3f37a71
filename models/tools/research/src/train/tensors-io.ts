/**
 * Named float32 tensors as one JSON index plus one little-endian binary file: how the engine's
 * side hands arrays to the PyTorch twin and back (models/torch/abus_torch/tensors_io.py).
 */
import * as fs from 'fs';

export interface NamedArray {
  shape: number[];
  data: Float32Array;
}

export function writeTensors(file: string, tensors: Record<string, NamedArray>): void {
  const index: Record<string, { shape: number[]; offset: number }> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    index[name] = { shape: t.shape, offset };
    offset += t.data.length;
  }
  const all = new Float32Array(offset);
  for (const [name, t] of Object.entries(tensors)) all.set(t.data, index[name].offset);
  fs.writeFileSync(`${file}.json`, JSON.stringify(index));
  fs.writeFileSync(`${file}.bin`, new Uint8Array(all.buffer));
}

export function readTensors(file: string): Record<string, NamedArray> {
  const index = JSON.parse(fs.readFileSync(`${file}.json`, 'utf8')) as Record<string, { shape: number[]; offset: number }>;
  const bytes = fs.readFileSync(`${file}.bin`);
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const out: Record<string, NamedArray> = {};
  for (const [name, e] of Object.entries(index)) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    out[name] = { shape: e.shape, data: all.subarray(e.offset, e.offset + n) };
  }
  return out;
}
