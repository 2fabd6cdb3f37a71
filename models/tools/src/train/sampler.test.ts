/** The training sampler: shards numpy can read, negatives among them, and one VOI on every grid. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InputContract } from '@abus-tumor-ai/engine';
import { DEFAULT_AUGMENTATION } from './samples';
import { DEFAULT_SAMPLER, runSampler, startSamplers } from './sampler';
import { gridTag, ShardMeta } from './shards';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-sampler-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const contract = (grid: [number, number, number], voxelMm: number): InputContract => ({ grid, voxelMm, voiMm: [grid[0] * voxelMm, grid[1] * voxelMm, grid[2] * voxelMm], normalization: 'zscore-voi' });
const COARSE = contract([32, 16, 32], 2);
const FINE = contract([64, 32, 64], 1);

function readNpy(file: string): { shape: number[]; data: Uint8Array; descr: string } {
  const bytes = fs.readFileSync(file);
  expect(bytes.subarray(0, 6).toString('latin1')).toBe('\x93NUMPY');
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLength).toString('latin1');
  expect((10 + headerLength) % 64).toBe(0);
  const shape = (/'shape': \(([^)]*)\)/.exec(header) as RegExpExecArray)[1].split(',').filter((s) => s.trim()).map(Number);
  const descr = (/'descr': '([^']*)'/.exec(header) as RegExpExecArray)[1];
  return { shape, data: bytes.subarray(10 + headerLength), descr };
}

test('phantom shards hold lesion and normal-tissue VOIs on every grid, the same VOI on each', () => {
  const dir = path.join(tmp, 'one');
  fs.mkdirSync(dir);
  const n = runSampler({ ...DEFAULT_SAMPLER, samplesPerShard: 6, outDir: dir, inputs: [COARSE, FINE], source: { kind: 'phantom', randomize: true }, augmentation: DEFAULT_AUGMENTATION, seed: 4, worker: 0, workers: 1, count: 12 });
  expect(n).toBe(12);
  const metas = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as ShardMeta);
  expect(metas).toHaveLength(2);
  const kinds = metas.flatMap((m) => m.kind);
  const lesion = metas.flatMap((m) => m.lesion);
  expect(kinds.filter((k) => k === 'lesion').length).toBe(lesion.filter((v) => v === 1).length);
  expect(lesion).toContain(0);
  expect(lesion).toContain(1);
  // A negative has no class.
  metas.forEach((m) => m.lesion.forEach((l, i) => l === 0 && expect(m.malignant[i]).toBe(0)));
  for (const m of metas) {
    const coarse = m.grids[gridTag(COARSE)];
    const fine = m.grids[gridTag(FINE)];
    const voi = readNpy(path.join(dir, coarse.voi));
    const mask = readNpy(path.join(dir, coarse.mask));
    expect(voi.descr).toBe('<f2');
    expect(mask.descr).toBe('|u1');
    expect(voi.shape).toEqual([6, 32, 16, 32]);
    expect(voi.data.byteLength).toBe(6 * 32 * 16 * 32 * 2);
    const fineMask = readNpy(path.join(dir, fine.mask));
    expect(fineMask.shape).toEqual([6, 64, 32, 64]);
    // Same VOI on both grids: the lesion's volume agrees (8 fine voxels per coarse voxel).
    for (let i = 0; i < 6; i++) {
      const count = (a: Uint8Array, n: number) => a.subarray(i * n, (i + 1) * n).reduce((s, v) => s + v, 0);
      const c = count(mask.data, 32 * 16 * 32) * 8;
      const f = count(fineMask.data, 64 * 32 * 64);
      if (m.lesion[i]) expect(c).toBeGreaterThan(0);
      expect(Math.abs(c - f)).toBeLessThanOrEqual(Math.max(40, 0.25 * f));
    }
  }
});

test('worker threads write their share; the same seed writes the same bytes', async () => {
  const run = async (name: string) => {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir);
    const names: string[] = [];
    const pool = startSamplers({ ...DEFAULT_SAMPLER, samplesPerShard: 3, outDir: dir, inputs: [COARSE], source: { kind: 'phantom', randomize: true }, augmentation: DEFAULT_AUGMENTATION, seed: 9, workers: 2, count: 6 }, (shard) => names.push(shard));
    expect(await pool.done).toBe(6);
    return { dir, names: names.sort() };
  };
  const a = await run('a');
  const b = await run('b');
  expect(a.names).toEqual(['w0-000000', 'w1-000000']);
  for (const f of fs.readdirSync(a.dir)) expect(fs.readFileSync(path.join(b.dir, f)).equals(fs.readFileSync(path.join(a.dir, f)))).toBe(true);
});
