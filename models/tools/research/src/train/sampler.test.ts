/** The training sampler: shards numpy can read, negatives among them, and one VOI on every grid. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InputContract } from '@abus-tumor-ai/engine';
import { DEFAULT_AUGMENTATION } from './samples';
import { planPhantom } from '../phantom/generate';
import { suspiciousCount } from '../phantom/lesion';
import { CENTRED_MIX, DEFAULT_SAMPLER, Drawn, phantomVois, runSampler, SamplerOptions, startSamplers, SUSPICIOUS_MIN_SIGNS, VoiMode } from './sampler';
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
  // A negative has no class and no mode.
  metas.forEach((m) => m.lesion.forEach((l, i) => l === 0 && expect(m.malignant[i]).toBe(0)));
  metas.forEach((m) => m.lesion.forEach((l, i) => expect(m.mode?.[i] === '').toBe(l === 0)));
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

// ---- Where the lesion lies in the VOI (issue #21) ----

/** The first `count` lesion VOIs of a sampler whose crops all use one mode (one VOI per crop). */
function lesionVois(mode: VoiMode, count: number, input: InputContract, seed: number): Drawn[] {
  const o: SamplerOptions = { ...DEFAULT_SAMPLER, mix: { ...CENTRED_MIX, centred: 0, [mode]: 1 }, copies: 1, emptyCropFraction: 0, outDir: '', inputs: [input], source: { kind: 'phantom', randomize: true }, augmentation: DEFAULT_AUGMENTATION, seed, worker: 0, workers: 1 };
  const out: Drawn[] = [];
  for (const d of phantomVois(o, true)) {
    if (d.kind === 'lesion') out.push(d);
    if (out.length === count) return out;
  }
  return out;
}

/** The mask's centroid minus the VOI's centre, mm, per axis; undefined for an empty mask. */
function maskOffsetMm(mask: Float32Array, input: InputContract): number[] | undefined {
  const [gx, gy] = input.grid;
  const sum = [0, 0, 0];
  let n = 0;
  mask.forEach((v, i) => {
    if (!v) return;
    n++;
    sum[0] += i % gx;
    sum[1] += Math.floor(i / gx) % gy;
    sum[2] += Math.floor(i / (gx * gy));
  });
  return n ? sum.map((s, a) => (s / n - (input.grid[a] - 1) / 2) * input.voxelMm) : undefined;
}

/** 6-connected components of a 0/1 mask. */
function components(mask: Float32Array, grid: number[]): number {
  const [gx, gy, gz] = grid;
  const seen = new Uint8Array(mask.length);
  let count = 0;
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || seen[start]) continue;
    count++;
    const stack = [start];
    seen[start] = 1;
    while (stack.length) {
      const i = stack.pop() as number;
      const [x, y, z] = [i % gx, Math.floor(i / gx) % gy, Math.floor(i / (gx * gy))];
      const next = [x > 0 ? i - 1 : -1, x < gx - 1 ? i + 1 : -1, y > 0 ? i - gx : -1, y < gy - 1 ? i + gx : -1, z > 0 ? i - gx * gy : -1, z < gz - 1 ? i + gx * gy : -1];
      for (const j of next) if (j >= 0 && mask[j] && !seen[j]) (seen[j] = 1), stack.push(j);
    }
  }
  return count;
}

/** Whether any voxel of the plane x = i (axis 0) or z = i (axis 2) satisfies `test`. */
function onFace(data: Float32Array, grid: number[], axis: 0 | 2, at: number, test: (v: number) => boolean): { any: boolean; all: boolean } {
  const [gx, gy, gz] = grid;
  let any = false;
  let all = true;
  for (let z = 0; z < gz; z++)
    for (let y = 0; y < gy; y++)
      for (let x = 0; x < gx; x++) {
        if ((axis === 0 ? x : z) !== at) continue;
        const ok = test(data[x + gx * (y + gy * z)]);
        any ||= ok;
        all &&= ok;
      }
  return { any, all };
}
const FACES: [0 | 2, (g: number[]) => number][] = [[0, () => 0], [0, (g) => g[0] - 1], [2, () => 0], [2, (g) => g[2] - 1]];

test('off-centre VOIs put the lesion far from the VOI centre, centred VOIs do not', () => {
  const far = (ds: Drawn[]) => {
    const offsets = ds.map((d) => maskOffsetMm(d.perGrid[0].mask, COARSE)).filter((o): o is number[] => !!o);
    return offsets.filter((o) => Math.max(Math.abs(o[0]), Math.abs(o[2])) > 8).length / offsets.length;
  };
  const off = lesionVois('off-centre', 10, COARSE, 21);
  const centred = lesionVois('centred', 10, COARSE, 21);
  console.log(`mask centroid more than 8 mm off the VOI centre (lateral or sweep): off-centre ${far(off)}, centred ${far(centred)}`);
  // Uniform offsets up to 32 mm on two axes: 94% are past 8 mm on one of them.
  expect(far(off)).toBeGreaterThanOrEqual(0.6);
  expect(far(centred)).toBe(0);
  off.forEach((d) => expect(d.mode).toBe('off-centre'));
  expect(Math.max(...off.map((d) => Math.max(Math.abs(d.offsetMm[0]), Math.abs(d.offsetMm[2]))))).toBeGreaterThan(16);
});

test('two-lesion VOIs hold both lesions in the mask and take the class of the one nearest the centre', () => {
  const vois = lesionVois('two-lesions', 8, FINE, 22);
  const two = vois.filter((d) => d.mode === 'two-lesions');
  const both = two.filter((d) => components(d.perGrid[0].mask, FINE.grid) >= 2).length;
  console.log(`two-lesion crops: ${two.length} of ${vois.length}; masks with two or more components: ${both}`);
  expect(two.length).toBeGreaterThanOrEqual(4);
  expect(both / two.length).toBeGreaterThanOrEqual(0.5);
  vois.forEach((d) => expect(d.perGrid[0].lesion).toBe(true));
});

test('cut VOIs: a lateral or sweep face of the VOI cuts the lesion', () => {
  const vois = lesionVois('cut', 8, COARSE, 23);
  const cut = vois.filter((d) => FACES.some(([axis, at]) => onFace(d.perGrid[0].mask, COARSE.grid, axis, at(COARSE.grid), (v) => v > 0).any)).length;
  console.log(`cut VOIs with lesion voxels on a lateral or sweep face: ${cut} of ${vois.length}`);
  expect(cut / vois.length).toBeGreaterThanOrEqual(0.6);
});

test('overhanging VOIs reach past the volume, padded (zero) as inference pads, the lesion inside', () => {
  const vois = lesionVois('overhang', 6, COARSE, 24);
  for (const d of vois) {
    const s = d.perGrid[0];
    // A whole lateral or sweep face outside the volume: zeros in the image and the mask.
    const padded = FACES.filter(([axis, at]) => onFace(s.voi, COARSE.grid, axis, at(COARSE.grid), (v) => v === 0).all);
    expect(padded.length).toBeGreaterThan(0);
    padded.forEach(([axis, at]) => expect(onFace(s.mask, COARSE.grid, axis, at(COARSE.grid), (v) => v > 0).any).toBe(false));
    expect(Math.max(...d.offsetMm.map(Math.abs))).toBeLessThanOrEqual(4.01);
  }
});

test('the suspicious draw gives masses with at least 3 of the 4 signs, its class drawn with them', () => {
  const draw = (min: number | undefined) => Array.from({ length: 60 }, (_, seed) => planPhantom({ seed, sizeMm: [72, 40, 72], spacing: [1, 1, 1], randomize: true, lesionCount: 1, mainMinSuspicious: min }).lesions[0]);
  const plain = draw(undefined);
  const suspicious = draw(SUSPICIOUS_MIN_SIGNS);
  const share = (ls: typeof plain, f: (l: (typeof plain)[0]) => boolean) => ls.filter(f).length / ls.length;
  const signs = (l: (typeof plain)[0]) => suspiciousCount(l.features) >= SUSPICIOUS_MIN_SIGNS;
  console.log(`3+ signs: plain ${share(plain, signs)}, suspicious ${share(suspicious, signs)}; malignant: plain ${share(plain, (l) => l.malignant)}, suspicious ${share(suspicious, (l) => l.malignant)}`);
  expect(share(suspicious, signs)).toBe(1);
  expect(share(plain, signs)).toBeLessThan(0.5);
  // Such masses are mostly cancers under the feature tables (P(M | 3+ signs) is about 0.9).
  expect(share(suspicious, (l) => l.malignant)).toBeGreaterThan(share(plain, (l) => l.malignant));
});
