/**
 * Training samples on disk for the PyTorch trainer (models/torch/abus_torch/data.py): a shard is
 * `<name>.json` (the labels and what made them) next to one float16 VOI array and one uint8 mask
 * array per network grid, as .npy files that numpy reads directly. The .json is written last,
 * after the arrays are renamed into place, so a reader that sees it sees a whole shard.
 */
import { Float16Array } from '@petamoriken/float16';
import { InputContract } from '@abus-tumor-ai/engine';
import { Sample } from './samples';
import * as fs from 'fs';
import * as path from 'path';

export interface ShardMeta {
  /** Per sample: 1 malignant, 0 benign (0 too for a negative). */
  malignant: number[];
  /** Per sample: 1 a lesion VOI, 0 a VOI centred on normal tissue. */
  lesion: number[];
  /** Per sample: the lesion's kind or the normal tissue's ('lesion', 'fat', 'ligament', ...). */
  kind: string[];
  /** Per sample: where the lesion lies in the VOI (sampler.ts VoiMode), '' for a negative. */
  mode?: string[];
  /** grid tag (gridTag) -> the .npy files of that grid. */
  grids: Record<string, { voi: string; mask: string; shape: number[] }>;
  source: string;
}

/** 'g64x32x64v1': a grid's name in shard files and on the trainer's command line. */
export function gridTag(input: InputContract): string {
  return `g${input.grid.join('x')}v${input.voxelMm}`;
}

/**
 * The .npy format (version 1.0): magic, a little-endian header length, then a Python dict
 * literal padded so the data starts on a 64-byte boundary. Written here because it is ten lines
 * and no npm package writes it for Node buffers.
 */
function npy(descr: '<f2' | '|u1', shape: number[], data: Uint8Array): Buffer {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + dict.length + 1;
  const header = dict + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

function writeAtomic(file: string, bytes: Buffer | string): void {
  fs.writeFileSync(`${file}.tmp`, bytes);
  fs.renameSync(`${file}.tmp`, file);
}

/** Writes one shard; samples[g][n] is sample n on grid g (every grid holds the same VOIs). */
export function writeShard(dir: string, name: string, inputs: InputContract[], samples: Sample[][], kinds: string[], source: string, modes?: string[]): void {
  const count = samples[0].length;
  const meta: ShardMeta = {
    malignant: samples[0].map((s) => (s.malignant ? 1 : 0)),
    lesion: samples[0].map((s) => (s.lesion ? 1 : 0)),
    kind: kinds,
    ...(modes ? { mode: modes } : {}),
    grids: {},
    source,
  };
  inputs.forEach((input, g) => {
    const [gx, gy, gz] = input.grid;
    const n = gx * gy * gz;
    const voi = new Float16Array(count * n);
    const mask = new Uint8Array(count * n);
    samples[g].forEach((s, i) => {
      voi.set(s.voi, i * n);
      for (let v = 0; v < n; v++) mask[i * n + v] = s.mask[v];
    });
    const tag = gridTag(input);
    const shape = [count, gz, gy, gx];
    const files = { voi: `${name}.${tag}.voi.npy`, mask: `${name}.${tag}.mask.npy`, shape };
    writeAtomic(path.join(dir, files.voi), npy('<f2', shape, new Uint8Array(voi.buffer)));
    writeAtomic(path.join(dir, files.mask), npy('|u1', shape, mask));
    meta.grids[tag] = files;
  });
  writeAtomic(path.join(dir, `${name}.json`), JSON.stringify(meta));
}
