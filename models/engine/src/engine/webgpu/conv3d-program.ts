/**
 * WebGPU programs for the 3x3x3, stride-1, zero 'same'-padded convolution (NDHWC), written as
 * an implicit GEMM so that no im2col buffer is ever built:
 * - forward: out[m, n] = sum over k of A[m, k] * B[k, n], with m an output voxel, n an output
 *   channel and k = tap * cin + ci (tap = dz*9 + dy*3 + dx), which is also the row order of a
 *   tf.conv3d kernel [3,3,3,cin,cout] read as [27*cin, cout]. A[m, k] is the input voxel m
 *   shifted by the tap, or zero outside the volume.
 * - input gradient: the same program on dy, reading the kernel flipped in space with its channel
 *   axes swapped (`flipKernel`), so no flipped copy is made.
 * - kernel gradient: dW[r, n] = sum over voxels m of A[m, r] * dy[m, n], r = tap * cin + ci,
 *   split over voxel ranges (split-K), because the output is tiny and the sum is long.
 *
 * Two kernels per program (see Staging): 'workgroup' stages tileK-deep slices of both operands in
 * workgroup memory and each thread keeps rowsPerThread x colsPerThread sums in registers (vec4
 * along channels), so one workgroup-memory read feeds several multiply-adds; 'direct' keeps the
 * register blocking but reads the storage buffers directly, which suits CPU emulations.
 * The tfjs shader key only records ranks, so every shape and tiling constant baked into the
 * WGSL is part of `shaderKey`.
 */
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

export interface ConvGeometry {
  batch: number;
  depth: number;
  height: number;
  width: number;
  /** Channels of the tensor the program reads as its input (dy for the input gradient). */
  inChannels: number;
  /** Channels the program writes. */
  outChannels: number;
}

export interface Tiling {
  /** GEMM rows (voxels, or kernel rows for the kernel gradient) per workgroup. */
  tileM: number;
  /** GEMM columns (output channels) per workgroup, a multiple of 4. */
  tileN: number;
  /** Depth of the operand slices staged in workgroup memory per step. */
  tileK: number;
  /** Rows each thread accumulates, a multiple of 4. */
  rowsPerThread: number;
  /** Columns each thread accumulates, a multiple of 4. */
  colsPerThread: number;
  /**
   * Forward only: the K sum split over this many workgroups, each writing partial sums that a
   * second program adds (with the bias and ReLU). For deep layers, whose few output tiles would
   * leave most of a GPU idle.
   */
  splitK?: number;
}

/**
 * The kernel gradient's 'workgroup' tiling (and a forward program's when none is given; the
 * engine passes fast-conv's forwardTiling) for n output channels and m rows: 64 rows (fewer when
 * m is smaller, so deep layers waste less of each tile) x up to 32 channels per workgroup, each
 * thread a 4 x 4 block of sums (8 to 128 threads).
 */
export function defaultTiling(n: number, m = Infinity, tileK = 16): Tiling {
  const tileN = Math.min(32, Math.max(4, 2 ** Math.ceil(Math.log2(n))));
  const tileM = Math.min(64, Math.max(16, 2 ** Math.ceil(Math.log2(m))));
  return { tileM, tileN, tileK, rowsPerThread: 4, colsPerThread: 4 };
}

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

function checkTiling(t: Tiling): { threads: number; tx: number; ty: number } {
  const { tileM, tileN, tileK, rowsPerThread: rm, colsPerThread: rn } = t;
  if (rm % 4 || rn % 4 || tileM % rm || tileN % rn) throw new Error(`conv3x3: bad tiling ${JSON.stringify(t)}`);
  const tx = tileN / rn;
  const ty = tileM / rm;
  const threads = tx * ty;
  // The staging loops below assume power-of-two sizes that divide into each other.
  if (![tileM, tileN, tileK, threads].every(isPow2) || (tileM * tileK) % threads) {
    throw new Error(`conv3x3: tiling ${JSON.stringify(t)} needs power-of-two sizes and tileM*tileK divisible by the ${threads} threads`);
  }
  if (threads > 256) throw new Error(`conv3x3: ${threads} threads per workgroup is above WebGPU's default limit of 256`);
  return { threads, tx, ty };
}

/** Workgroup memory the tiling needs, in bytes (WebGPU guarantees 16 KiB). */
export function workgroupBytes(t: Tiling): number {
  return (t.tileM + t.tileN) * t.tileK * 4;
}

const tilingKey = (t: Tiling) => `${t.tileM}x${t.tileN}x${t.tileK}_${t.rowsPerThread}x${t.colsPerThread}_s${t.splitK ?? 1}`;

/**
 * How a thread's staging loads map onto a tileM x tileK slice: element e = slot*threads + tid,
 * rows fastest (neighbouring threads read neighbouring rows). A thread stages `rowsPerThread`
 * fixed rows, so decoding a row (voxel or kernel row) is done once per workgroup, and every
 * `kStep`-th slice column, so decoding a column is shared by the thread's rows.
 */
function stagingShape(tileM: number, tileK: number, threads: number) {
  const rows = Math.max(1, tileM / threads);
  const kStep = Math.max(1, threads / tileM);
  return {
    rows,
    kStep,
    columns: tileK / kStep,
    /** WGSL: the slice row of the thread's v-th staged row. */
    row: (v: string) => `(${v} * ${threads} + tid % ${tileM})`,
    /** WGSL: the slice column of the thread's s-th staged column. */
    column: (s: string) => `(${s} * ${kStep} + tid / ${tileM})`,
  };
}

/** Loads of a tileK x tileN slice of a [K, N] operand into tileB, four columns per load, columns fastest. */
function stageRowMajor(t: Tiling, threads: number, read4: (k: string, c4: string) => string): string {
  const cols = t.tileN / 4;
  const slots = Math.ceil((t.tileK * cols) / threads);
  const store = `tileB[kk * ${cols} + c4] = ${read4('kk', 'c4')};`;
  return `
        for (var s = 0; s < ${slots}; s++) {
          let e = s * ${threads} + tid;
          let kk = e / ${cols};
          let c4 = e % ${cols};
          ${slots * threads > t.tileK * cols ? `if (e < ${t.tileK * cols}) { ${store} }` : store}
        }`;
}

/**
 * The register-tiled multiply-add over one staged slice, and the accumulator declarations.
 * tileA holds the slice as [k][row], four rows per vec4, so a thread's rows arrive in
 * rowsPerThread/4 vector loads; tileB as [k][column], four columns per vec4.
 */
function gemmCore(t: Tiling, tx: number) {
  const rm4 = t.rowsPerThread / 4;
  const rn4 = t.colsPerThread / 4;
  const decl: string[] = [];
  for (let r = 0; r < t.rowsPerThread; r++) for (let j = 0; j < rn4; j++) decl.push(`var acc${r}_${j} = vec4<f32>(0.0);`);
  const body: string[] = [];
  for (let i = 0; i < rm4; i++) body.push(`let a${i} = tileA[k * ${t.tileM / 4} + ty * ${rm4} + ${i}];`);
  for (let j = 0; j < rn4; j++) body.push(`let b${j} = tileB[k * ${t.tileN / 4} + tx * ${rn4} + ${j}];`);
  for (let r = 0; r < t.rowsPerThread; r++) {
    for (let j = 0; j < rn4; j++) body.push(`acc${r}_${j} = fma(vec4<f32>(a${r >> 2}[${r & 3}]), b${j}, acc${r}_${j});`);
  }
  const compute = `
      for (var k = 0; k < ${t.tileK}; k++) {
        ${body.join('\n        ')}
      }`;
  return {
    declarations: decl.join('\n      '),
    compute,
    shared: `
    var<workgroup> tileA: array<vec4<f32>, ${(t.tileM * t.tileK) / 4}>;
    var<workgroup> tileB: array<vec4<f32>, ${(t.tileN * t.tileK) / 4}>;`,
    /** WGSL: stores one value at (slice column kl, row) of tileA. */
    storeA: (kl: string, row: string, value: string) => `tileA[(${kl}) * ${t.tileM / 4} + (${row}) / 4][(${row}) % 4] = ${value};`,
    ids: `
      let tid = i32(localIndex);
      let tx = tid % ${tx};
      let ty = tid / ${tx};
      let tile = i32(workgroupId.x + numWorkgroups.x * (workgroupId.y + numWorkgroups.y * workgroupId.z));
      // tfjs always binds its uniform buffer; a shader that never touches it loses the binding
      // from its 'auto' layout, and the bind group then fails validation.
      _ = uniforms.NAN;`,
  };
}

/**
 * The tiling of a program with n output channels and m GEMM rows. 'direct': every workgroup covers
 * all channels, 4 per thread, `rows` rows per thread and about 64 threads. 'workgroup': the given
 * tiling, or the default one.
 */
function chooseTiling(staging: Staging, n: number, m: number, rows: number, tiling?: Tiling): { tiling: Tiling; threads: number; tx: number } {
  if (staging === 'workgroup') {
    const t = tiling ?? defaultTiling(n, m);
    return { tiling: t, ...checkTiling(t) };
  }
  const tx = Math.ceil(n / 4);
  const ty = Math.max(1, Math.floor(64 / tx));
  return { tiling: { tileM: ty * rows, tileN: tx * 4, tileK: 1, rowsPerThread: rows, colsPerThread: 4 }, threads: tx * ty, tx };
}

/** WGSL constants of the geometry: voxels, channels, and the volume's depth, height and width. */
function geometryConstants(g: ConvGeometry): string {
  return `
    const C_M = ${g.batch * g.depth * g.height * g.width};
    const C_N = ${g.outChannels};
    const C_CIN = ${g.inChannels};
    const C_D = ${g.depth};
    const C_H = ${g.height};
    const C_W = ${g.width};
    const C_HW = ${g.height * g.width};`;
}

/** Spreads the workgroups over x, then y, as tfjs's own dispatch reshaping does past 65535. */
function dispatchFor(workgroups: number): [number, number, number] {
  if (workgroups <= 65535) return [workgroups, 1, 1];
  const side = Math.ceil(Math.sqrt(workgroups));
  return [side, side, 1];
}

/**
 * How operands reach the registers:
 * - 'workgroup': tiles of both operands are staged in workgroup memory, shared by the threads
 *   of a workgroup (the usual GPU GEMM; the default on hardware adapters).
 * - 'direct': each thread reads its voxels and kernel values straight from the storage buffers
 *   (cached), with no workgroup memory and no barriers. On SwiftShader this was 3-6x faster than
 *   'workgroup' (its workgroup-memory loads are slow), so it is the default on software adapters.
 */
export type Staging = 'workgroup' | 'direct';

export interface ConvProgramOptions {
  bias?: boolean;
  relu?: boolean;
  /** Read the [3,3,3,outChannels,inChannels] kernel flipped in space, channels swapped (input gradient). */
  flipKernel?: boolean;
  staging?: Staging;
  /** 'workgroup' staging only. */
  tiling?: Tiling;
  /** 'direct' staging only: voxels per thread (default 8, at most 8). */
  rowsPerThread?: number;
}

/** What tfjs-webgpu reads from each of this file's programs; every constructor sets its own values. */
abstract class FlatProgram implements WebGPUProgram {
  outputShape: number[] = [];
  shaderKey = '';
  /** A flat dispatch: main(index) with the tiles taken from workgroupId. */
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number] = [1, 1, 1];
  variableNames: string[] = [];
  variableComponents: number[] = [];
  outputComponent = 1;
  workgroupSize: [number, number, number] = [64, 1, 1];
  abstract getUserCode(): string;
}

/**
 * Forward 3x3x3 convolution. Inputs: x as [voxels, inChannels], the kernel as
 * [27*inChannels, outChannels] (or, with flipKernel, the forward kernel as [27*outChannels, inChannels]),
 * and optionally a bias [outChannels]. Output: [voxels, outChannels].
 */
export class Conv3x3Program extends FlatProgram {
  readonly staging: Staging;
  readonly tiling: Tiling;
  readonly workgroups: number;
  /** K splits (split-K): the output is then [splits * voxels, outChannels] partial sums, to be added by SplitSumProgram. */
  readonly splits: number;
  private readonly threads: number;
  private readonly tx: number;
  /** The input is read four channels per load ('workgroup' staging, channels a multiple of 4). */
  private readonly vec4Input: boolean;
  /** K values per split, a multiple of tileK. */
  private readonly chunkK: number;

  constructor(
    private readonly g: ConvGeometry,
    private readonly options: ConvProgramOptions = {},
  ) {
    super();
    const m = g.batch * g.depth * g.height * g.width;
    const n = g.outChannels;
    this.staging = options.staging ?? 'workgroup';
    // 'direct': 8 voxels per thread ran 2-5x faster than 4 on SwiftShader; 16 made its shader
    // compiler grow past 16 GB, so that is refused.
    const rows = options.rowsPerThread ?? 8;
    if (this.staging === 'direct' && rows > 8) throw new Error(`conv3x3: at most 8 voxels per thread, got ${rows}`);
    ({ tiling: this.tiling, threads: this.threads, tx: this.tx } = chooseTiling(this.staging, n, m, rows, options.tiling));
    const k = 27 * g.inChannels;
    const wantedSplits = this.staging === 'workgroup' ? Math.max(1, Math.floor(this.tiling.splitK ?? 1)) : 1;
    if (wantedSplits > 1 && (n % 4 || options.bias || options.relu)) {
      throw new Error('conv3x3: split-K needs a multiple of 4 output channels, and the bias and ReLU go to SplitSumProgram');
    }
    const tk = this.tiling.tileK;
    this.chunkK = Math.ceil(Math.ceil(k / wantedSplits) / tk) * tk;
    this.splits = Math.ceil(k / this.chunkK);
    this.workgroupSize = [this.threads, 1, 1];
    this.outputShape = [this.splits * m, n];
    const vec4Channels = n % 4 === 0;
    this.vec4Input = this.staging === 'workgroup' && g.inChannels % 4 === 0;
    // Four channels per store (and per kernel and bias read) where the channel count allows it.
    this.outputComponent = vec4Channels ? 4 : 1;
    this.variableNames = ['x', 'weights', ...(options.bias ? ['bias'] : [])];
    this.variableComponents = [this.vec4Input ? 4 : 1, vec4Channels && !options.flipKernel ? 4 : 1, ...(options.bias ? [vec4Channels ? 4 : 1] : [])];
    this.workgroups = Math.ceil(m / this.tiling.tileM) * Math.ceil(n / this.tiling.tileN) * this.splits;
    this.dispatch = dispatchFor(this.workgroups);
    const flags = `${options.bias ? 'b' : ''}${options.relu ? 'r' : ''}${options.flipKernel ? 'f' : ''}${this.vec4Input ? 'v' : ''}`;
    this.shaderKey = `abusConv3x3_${this.staging}_${[g.batch, g.depth, g.height, g.width, g.inChannels, n].join('x')}_${tilingKey(this.tiling)}_${flags}`;
  }

  getUserCode(): string {
    const { g, tiling: t, options } = this;
    const vec4Out = this.outputComponent === 4;
    const vec4Weights = this.variableComponents[1] === 4;
    const activate = (v: string, zero: string) => (options.relu ? `max(${v}, ${zero})` : v);
    const helpers = [
      options.flipKernel
        ? // The input gradient's kernel at tap t, in-channel c (a forward out-channel) and out-channel n
          // (a forward in-channel) is the forward kernel at tap 26 - t, [n, c].
          `fn readWeights(k: i32, n: i32) -> f32 {
      if (k >= C_K || n >= C_N) { return 0.0; }
      let tap = k / C_CIN;
      let c = k - tap * C_CIN;
      return weights[((26 - tap) * C_N + n) * C_CIN + c];
    }`
        : vec4Weights
          ? `fn readWeights4(k: i32, n4: i32) -> vec4<f32> {
      if (k >= C_K || n4 >= C_N / 4) { return vec4<f32>(0.0); }
      return weights[k * (C_N / 4) + n4];
    }`
          : `fn readWeights(k: i32, n: i32) -> f32 {
      if (k >= C_K || n >= C_N) { return 0.0; }
      return weights[k * C_N + n];
    }`,
      vec4Out
        ? `fn store4(m: i32, n: i32, value: vec4<f32>) {
      if (m < C_M && n < C_N) {
        result[(m * C_N + n) / 4] = ${activate(options.bias ? 'value + bias[n / 4]' : 'value', 'vec4<f32>(0.0)')};
      }
    }`
        : `fn store(m: i32, n: i32, value: f32) {
      if (m < C_M && n < C_N) {
        result[m * C_N + n] = ${activate(options.bias ? 'value + bias[n]' : 'value', '0.0')};
      }
    }`,
    ].join('\n    ');

    const epilogue = perAccumulator(t, (r, j) => {
      const n = `n0 + tx * ${t.colsPerThread} + ${4 * j}`;
      const m = `row0 + ${r}`;
      return this.splits > 1
        ? `if (${m} < C_M && ${n} < C_N) { result[(split * C_M + ${m}) * (C_N / 4) + (${n}) / 4] = acc${r}_${j}; }`
        : vec4Out
        ? `store4(${m}, ${n}, acc${r}_${j});`
        : `for (var c = 0; c < 4; c++) { store(${m}, ${n} + c, acc${r}_${j}[c]); }`;
    });
    const constants = `${geometryConstants(g)}
    const C_K = ${27 * g.inChannels};
    ${helpers}
    // Flat voxel index, then z, y, x; z < 0 marks a voxel past the end.
    fn decodeVoxel(m: i32) -> vec4<i32> {
      if (m >= C_M) { return vec4<i32>(m, -4, 0, 0); }
      return vec4<i32>(m, (m / C_HW) % C_D, (m / C_W) % C_H, m % C_W);
    }
    // K column kg's tap as its z, y, x shift and flat voxel offset. A z shift past any depth
    // marks a column past K (the padding of the last slice), which then reads zeros.
    fn tapShift(kg: i32) -> vec4<i32> {
      let tap = kg / C_CIN;
      let dz = select(1000, tap / 9 - 1, kg < C_K);
      let dy = (tap / 3) % 3 - 1;
      let dx = tap % 3 - 1;
      return vec4<i32>(dz, dy, dx, dz * C_HW + dy * C_W + dx);
    }
    // Whether voxel q (from decodeVoxel) shifted by tap t (from tapShift) lies inside the volume.
    fn shiftedInside(q: vec4<i32>, t: vec4<i32>) -> bool {
      return u32(q.y + t.x) < u32(C_D) && u32(q.z + t.y) < u32(C_H) && u32(q.w + t.z) < u32(C_W);
    }
`;
    const body = this.staging === 'direct' ? this.directBody(vec4Weights) : this.workgroupBody(vec4Weights);
    return `${constants}
    ${body.declarations}

    ${entryPoint(body.main, epilogue)}`;
  }

  /** Each thread: rowsPerThread voxels x 4 channels, operands read from the storage buffers. */
  private directBody(vec4Weights: boolean) {
    const t = this.tiling;
    const rows = t.rowsPerThread;
    const decode: string[] = [];
    const taps: string[] = [];
    const loads: string[] = [];
    const fmas: string[] = [];
    for (let r = 0; r < rows; r++) {
      decode.push(`let m${r} = row0 + ${r};
      var z${r} = -4;
      var y${r} = 0;
      var x${r} = 0;
      if (m${r} < C_M) {
        z${r} = (m${r} / C_HW) % C_D;
        y${r} = (m${r} / C_W) % C_H;
        x${r} = m${r} % C_W;
      }`);
      // Outside the volume the index is clamped to 0 and the value selected away, so no lane reads out of bounds.
      taps.push(`let ok${r} = u32(z${r} + dz) < u32(C_D) && u32(y${r} + dy) < u32(C_H) && u32(x${r} + dx) < u32(C_W);
        let base${r} = select(0, (m${r} + offset) * C_CIN, ok${r});`);
      loads.push(`let a${r} = select(0.0, x[base${r} + ci], ok${r});`);
      fmas.push(`acc${r}_0 = fma(vec4<f32>(a${r}), b, acc${r}_0);`);
    }
    const b = vec4Weights
      ? 'let b = readWeights4(k, n0 / 4 + tx);'
      : 'let n = n0 + tx * 4;\n          let b = vec4<f32>(readWeights(k, n), readWeights(k, n + 1), readWeights(k, n + 2), readWeights(k, n + 3));';
    const acc = Array.from({ length: rows }, (_, r) => `var acc${r}_0 = vec4<f32>(0.0);`);
    return {
      declarations: '',
      main: `
      let tid = i32(localIndex);
      // Neighbouring threads take neighbouring voxel blocks and share their kernel values
      // (measured faster on SwiftShader than neighbours sharing voxels).
      let ty = tid % ${t.tileM / rows};
      let tx = tid / ${t.tileM / rows};
      let tile = i32(workgroupId.x + numWorkgroups.x * (workgroupId.y + numWorkgroups.y * workgroupId.z));
      let row0 = (tile * ${t.tileM / rows} + ty) * ${rows};
      let n0 = 0;
      ${decode.join('\n      ')}
      ${acc.join('\n      ')}
      for (var tap = 0; tap < 27; tap++) {
        let dz = tap / 9 - 1;
        let dy = (tap / 3) % 3 - 1;
        let dx = tap % 3 - 1;
        let offset = dz * C_HW + dy * C_W + dx;
        ${taps.join('\n        ')}
        // A loop bound read from a uniform (x is bound as [voxels, cin]) keeps the compiler from
        // unrolling this loop in full: SwiftShader's compile grew past 16 GB on an unrolled one.
        for (var ci = 0; ci < uniforms.xShape.y; ci++) {
          let k = tap * C_CIN + ci;
          ${b}
          ${loads.join('\n          ')}
          ${fmas.join('\n          ')}
        }
      }`,
    };
  }

  /** The workgroup-memory implicit GEMM. */
  private workgroupBody(vec4Weights: boolean) {
    const { tiling: t, threads } = this;
    const core = gemmCore(t, this.tx);
    const read4 = vec4Weights
      ? (k: string, c4: string) => `readWeights4(k0 + ${k}, n0 / 4 + ${c4})`
      : (k: string, c4: string) => `vec4<f32>(${[0, 1, 2, 3].map((i) => `readWeights(k0 + ${k}, n0 + 4 * ${c4} + ${i})`).join(', ')})`;
    const stageA = this.vec4Input ? this.stageInputVec4(core) : this.stageInputScalar(core);
    return {
      declarations: `const TILES_N = ${Math.ceil(this.g.outChannels / t.tileN)};
    const TILES_MN = TILES_N * ${Math.ceil((this.g.batch * this.g.depth * this.g.height * this.g.width) / t.tileM)};
    const C_CHUNK = ${this.chunkK};
    ${core.shared}`,
      main: `
      ${core.ids}
      let split = tile / TILES_MN;
      let mn = tile - split * TILES_MN;
      let m0 = (mn / TILES_N) * ${t.tileM};
      let n0 = (mn % TILES_N) * ${t.tileN};
      let row0 = m0 + ty * ${t.rowsPerThread};
      ${stageA.setup}
      ${core.declarations}
      // A constant trip count keeps the barriers in uniform control flow (tfjs passes the
      // workgroup id through a private variable, which WGSL's analysis treats as non-uniform);
      // the last split's steps past K read zeros.
      for (var step = 0; step < ${this.chunkK / t.tileK}; step++) {
        let k0 = split * C_CHUNK + step * ${t.tileK};
        ${stageA.load}
        ${stageRowMajor(t, threads, read4)}
        workgroupBarrier();
        ${core.compute}
        workgroupBarrier();
      }`,
    };
  }

  /**
   * Staging of the input slice one value per load (any channel count). Slices never straddle a
   * split, because a split's length is a multiple of tileK, so only K's end needs zeros.
   */
  private stageInputScalar(core: ReturnType<typeof gemmCore>) {
    const t = this.tiling;
    const a = stagingShape(t.tileM, t.tileK, this.threads);
    return {
      setup: `
      // The voxels this thread stages: flat index, then z, y, x (z < 0 marks a row past the end).
      var rowsA: array<vec4<i32>, ${a.rows}>;
      for (var v = 0; v < ${a.rows}; v++) {
        rowsA[v] = decodeVoxel(m0 + ${a.row('v')});
      }`,
      load: `
        for (var s = 0; s < ${a.columns}; s++) {
          let kl = ${a.column('s')};
          let kg = k0 + kl;
          let shift = tapShift(kg);
          let ci = kg % C_CIN;
          for (var v = 0; v < ${a.rows}; v++) {
            let q = rowsA[v];
            var value = 0.0;
            if (shiftedInside(q, shift)) {
              value = x[(q.x + shift.w) * C_CIN + ci];
            }
            ${core.storeA('kl', a.row('v'), 'value')}
          }
        }`,
    };
  }

  /**
   * Staging of the input slice four channels per load (channels a multiple of 4, so four
   * neighbouring K columns always share a tap): neighbouring threads read neighbouring channel
   * quads of one voxel, then the next voxel, which is contiguous memory in NDHWC.
   */
  private stageInputVec4(core: ReturnType<typeof gemmCore>) {
    const t = this.tiling;
    const quads = t.tileK / 4;
    const rowStep = Math.max(1, this.threads / quads);
    const slots = Math.ceil(t.tileM / rowStep);
    const guard = rowStep > t.tileM;
    const store = [0, 1, 2, 3].map((c) => core.storeA(`4 * kq + ${c}`, 'row', `value[${c}]`)).join('\n              ');
    return {
      setup: `
      let kq = tid % ${quads};
      var rowsA: array<vec4<i32>, ${slots}>;
      for (var v = 0; v < ${slots}; v++) {
        rowsA[v] = decodeVoxel(m0 + tid / ${quads} + v * ${rowStep});
      }`,
      load: `
        {
          let kg = k0 + 4 * kq;
          let shift = tapShift(kg);
          let ci = kg % C_CIN;
          for (var v = 0; v < ${slots}; v++) {
            let row = tid / ${quads} + v * ${rowStep};
            let q = rowsA[v];
            var value = vec4<f32>(0.0);
            if (shiftedInside(q, shift)) {
              value = x[((q.x + shift.w) * C_CIN + ci) / 4];
            }
            ${guard ? `if (row < ${t.tileM}) {` : '{'}
              ${store}
            }
          }
        }`,
    };
  }
}

/**
 * Kernel gradient, split over voxel ranges. Inputs: x as [voxels, inChannels], dy as
 * [voxels, outChannels]. Output: [splits, 27*inChannels*outChannels] partial sums, added by
 * SplitSumProgram (element r*outChannels + n is kernel element [tap, ci, n]).
 */
export class Conv3x3FilterGradProgram extends FlatProgram {
  override variableNames = ['x', 'dy'];
  readonly tiling: Tiling;
  readonly splits: number;
  readonly workgroups: number;
  private readonly chunk: number;
  private readonly threads: number;
  private readonly tx: number;

  readonly staging: Staging;

  /** targetWorkgroups: enough workgroups to fill the device; more splits only add partial sums. */
  constructor(
    private readonly g: ConvGeometry,
    options: { staging?: Staging; tiling?: Tiling; targetWorkgroups?: number } = {},
  ) {
    super();
    const m = g.batch * g.depth * g.height * g.width;
    const rows = 27 * g.inChannels;
    const n = g.outChannels;
    this.staging = options.staging ?? 'workgroup';
    // 'direct': as the forward kernel, 8 kernel rows x 4 channels per thread.
    ({ tiling: this.tiling, threads: this.threads, tx: this.tx } = chooseTiling(this.staging, n, rows, 8, options.tiling));
    this.workgroupSize = [this.threads, 1, 1];
    const tiles = Math.ceil(rows / this.tiling.tileM) * Math.ceil(n / this.tiling.tileN);
    // At least 256 voxels per split, so each workgroup's sum is long enough to amortise its set-up.
    const wanted = Math.max(1, Math.min(Math.ceil((options.targetWorkgroups ?? 512) / tiles), Math.floor(m / 256)));
    const tk = this.tiling.tileK;
    this.chunk = Math.ceil(Math.ceil(m / wanted) / tk) * tk;
    this.splits = Math.ceil(m / this.chunk);
    this.workgroups = tiles * this.splits;
    this.dispatch = dispatchFor(this.workgroups);
    this.outputShape = [this.splits, rows * n];
    this.variableComponents = [1, n % 4 === 0 ? 4 : 1];
    this.shaderKey = `abusConv3x3dW_${this.staging}_${[g.batch, g.depth, g.height, g.width, g.inChannels, n].join('x')}_${tilingKey(this.tiling)}_${this.splits}`;
  }

  getUserCode(): string {
    const { g, tiling: t } = this;
    const vec4Dy = this.variableComponents[1] === 4;
    const readDy = vec4Dy
      ? `fn readDy4(m: i32, end: i32, n4: i32) -> vec4<f32> {
      if (m >= end || n4 >= C_N / 4) { return vec4<f32>(0.0); }
      return dy[m * (C_N / 4) + n4];
    }`
      : `fn readDy(m: i32, end: i32, n: i32) -> f32 {
      if (m >= end || n >= C_N) { return 0.0; }
      return dy[m * C_N + n];
    }`;
    const epilogue = perAccumulator(t, (r, j) => `store(row0 + ${r}, n0 + tx * ${t.colsPerThread} + ${4 * j}, split, acc${r}_${j});`);
    const body = this.staging === 'direct' ? this.directBody(vec4Dy) : this.workgroupBody(vec4Dy);
    return `${geometryConstants(g)}
    const C_R = ${27 * g.inChannels};
    const C_SPLITS = ${this.splits};
    const C_CHUNK = ${this.chunk};
    ${body.declarations}

    ${readDy}
    fn store(r: i32, n: i32, split: i32, value: vec4<f32>) {
      if (r < C_R && split < C_SPLITS) {
        for (var c = 0; c < 4; c++) {
          if (n + c < C_N) { result[split * C_R * C_N + r * C_N + n + c] = value[c]; }
        }
      }
    }

    ${entryPoint(body.main, epilogue)}`;
  }

  /** Each thread: 8 kernel rows x 4 channels summed over its split's voxels, read from the storage buffers. */
  private directBody(vec4Dy: boolean) {
    const t = this.tiling;
    const rows = t.rowsPerThread;
    const decode: string[] = [];
    const fmas: string[] = [];
    const shift = (tap: string, row: string, suffix: string) => `
      // A z shift past any depth marks a row beyond the kernel, which reads zeros.
      let oz${suffix} = select(1000, ${tap} / 9 - 1, ${row} < C_R);
      let oy${suffix} = (${tap} / 3) % 3 - 1;
      let ox${suffix} = ${tap} % 3 - 1;
      let offset${suffix} = oz${suffix} * C_HW + oy${suffix} * C_W + ox${suffix};`;
    const inVolume = (suffix: string) => `u32(z + oz${suffix}) < u32(C_D) && u32(y + oy${suffix}) < u32(C_H) && u32(x0 + ox${suffix}) < u32(C_W)`;
    if (this.g.inChannels % rows === 0) {
      // The thread's rows are neighbouring channels of one tap: one bounds check and one address
      // per voxel serve them all (about 1.25x faster on SwiftShader).
      decode.push(`let tap = row0 / C_CIN;\n      let ci0 = row0 - tap * C_CIN;${shift('tap', 'row0', '')}`);
      fmas.push(`let ok = ${inVolume('')};\n        let base = select(0, (m + offset) * C_CIN + ci0, ok);`);
      for (let r = 0; r < rows; r++) fmas.push(`acc${r}_0 = fma(vec4<f32>(select(0.0, x[base + ${r}], ok)), g, acc${r}_0);`);
    } else {
      for (let r = 0; r < rows; r++) {
        decode.push(`let tap${r} = (row0 + ${r}) / C_CIN;\n      let ci${r} = row0 + ${r} - tap${r} * C_CIN;${shift(`tap${r}`, `row0 + ${r}`, String(r))}`);
        fmas.push(`{
          let ok = ${inVolume(String(r))};
          let a = select(0.0, x[select(0, (m + offset${r}) * C_CIN + ci${r}, ok)], ok);
          acc${r}_0 = fma(vec4<f32>(a), g, acc${r}_0);
        }`);
      }
    }
    for (let r = 0; r < rows; r++) decode.push(`var acc${r}_0 = vec4<f32>(0.0);`);
    const g = vec4Dy
      ? 'let g = readDy4(m, kEnd, tx);'
      : `let g = vec4<f32>(${[0, 1, 2, 3].map((c) => `readDy(m, kEnd, tx * 4 + ${c})`).join(', ')});`;
    const ty = t.tileM / rows;
    return {
      declarations: `const TILES_R = ${Math.ceil((27 * this.g.inChannels) / t.tileM)};`,
      main: `
      _ = uniforms.NAN;
      let tid = i32(localIndex);
      let ty = tid % ${ty};
      let tx = tid / ${ty};
      let tile = i32(workgroupId.x + numWorkgroups.x * (workgroupId.y + numWorkgroups.y * workgroupId.z));
      let split = tile / TILES_R;
      let row0 = ((tile - split * TILES_R) * ${ty} + ty) * ${rows};
      let n0 = 0;
      let kBegin = split * C_CHUNK;
      let kEnd = min(kBegin + C_CHUNK, C_M);
      ${decode.join('\n      ')}
      for (var m = kBegin; m < kEnd; m++) {
        let x0 = m % C_W;
        let y = (m / C_W) % C_H;
        let z = (m / C_HW) % C_D;
        ${g}
        ${fmas.join('\n        ')}
      }`,
    };
  }

  /** The workgroup-memory implicit GEMM over (kernel row, channel) tiles and a voxel range. */
  private workgroupBody(vec4Dy: boolean) {
    const { tiling: t, threads } = this;
    const core = gemmCore(t, this.tx);
    const a = stagingShape(t.tileM, t.tileK, threads);
    const stageDy = stageRowMajor(t, threads, vec4Dy
      ? (k, c4) => `readDy4(kBegin + k0 + ${k}, kEnd, n0 / 4 + ${c4})`
      : (k, c4) => `vec4<f32>(${[0, 1, 2, 3].map((i) => `readDy(kBegin + k0 + ${k}, kEnd, n0 + 4 * ${c4} + ${i})`).join(', ')})`);
    return {
      declarations: `const TILES_N = ${Math.ceil(this.g.outChannels / t.tileN)};
    const TILES_R = ${Math.ceil((27 * this.g.inChannels) / t.tileM)};
    ${core.shared}`,
      main: `
      ${core.ids}
      let split = tile / (TILES_R * TILES_N);
      let rest = tile - split * (TILES_R * TILES_N);
      let r0 = (rest / TILES_N) * ${t.tileM};
      let n0 = (rest % TILES_N) * ${t.tileN};
      let row0 = r0 + ty * ${t.rowsPerThread};
      let kBegin = split * C_CHUNK;
      let kEnd = min(kBegin + C_CHUNK, C_M);
      // The kernel rows this thread stages: input channel, then the tap's z, y, x shift
      // (a z shift past any depth marks a row beyond the kernel, which reads zeros).
      var rowsA: array<vec4<i32>, ${a.rows}>;
      for (var v = 0; v < ${a.rows}; v++) {
        let r = r0 + ${a.row('v')};
        let tap = r / C_CIN;
        rowsA[v] = vec4<i32>(r - tap * C_CIN, select(1000, tap / 9 - 1, r < C_R), (tap / 3) % 3 - 1, tap % 3 - 1);
      }
      ${core.declarations}
      for (var k0 = 0; k0 < C_CHUNK; k0 += ${t.tileK}) {
        for (var s = 0; s < ${a.columns}; s++) {
          let kl = ${a.column('s')};
          let m = kBegin + k0 + kl;
          let x0 = m % C_W;
          let y = (m / C_W) % C_H;
          // Voxels past this split's range get a z no shift can bring back into the volume.
          let z = select(-1000, (m / C_HW) % C_D, m < kEnd);
          for (var v = 0; v < ${a.rows}; v++) {
            let q = rowsA[v];
            var value = 0.0;
            if (u32(z + q.y) < u32(C_D) && u32(y + q.z) < u32(C_H) && u32(x0 + q.w) < u32(C_W)) {
              value = x[(m + q.y * C_HW + q.z * C_W + q.w) * C_CIN + q.x];
            }
            ${core.storeA('kl', a.row('v'), 'value')}
          }
        }
        ${stageDy}
        workgroupBarrier();
        ${core.compute}
        workgroupBarrier();
      }`,
    };
  }
}

/**
 * Adds partial sums laid out [splits, values] into [values], then the bias (per channel, the last
 * axis of the result) and ReLU; four values per thread where the channel count allows. Used for
 * the split-K forward and for the kernel gradient's voxel ranges. (Stock tf.sum over the split
 * axis took 0.6-0.9 s on SwiftShader for 27648 x 8 values.)
 */
export class SplitSumProgram extends FlatProgram {
  constructor(
    private readonly values: number,
    private readonly channels: number,
    private readonly splits: number,
    private readonly options: { bias?: boolean; relu?: boolean } = {},
  ) {
    super();
    this.outputComponent = channels % 4 === 0 ? 4 : 1;
    this.outputShape = [values];
    this.variableNames = ['partials', ...(options.bias ? ['bias'] : [])];
    this.variableComponents = [this.outputComponent, ...(options.bias ? [this.outputComponent] : [])];
    this.dispatch = dispatchFor(Math.ceil(values / this.outputComponent / 64));
    this.shaderKey = `abusSplitSum_${values}_${channels}_${splits}_${options.bias ? 'b' : ''}${options.relu ? 'r' : ''}`;
  }

  getUserCode(): string {
    const c = this.outputComponent;
    const type = c === 4 ? 'vec4<f32>' : 'f32';
    const count = this.values / c;
    let value = 'sum';
    if (this.options.bias) value = `${value} + bias[i % ${this.channels / c}]`;
    if (this.options.relu) value = `max(${value}, ${type}(0.0))`;
    return `
    ${mainHeader()} {
      _ = uniforms.NAN;
      let i = i32(localIndex) + 64 * i32(workgroupId.x + numWorkgroups.x * (workgroupId.y + numWorkgroups.y * workgroupId.z));
      if (i < ${count}) {
        var sum = ${type}(0.0);
        for (var s = 0; s < ${this.splits}; s++) {
          sum += partials[s * ${count} + i];
        }
        result[i] = ${value};
      }
    }`;
  }
}

/** tfjs calls main(index) for a flat dispatch layout; the index is unused (tiles come from workgroupId). */
function mainHeader(): string {
  return 'fn main(index: i32)';
}

/** The convolution programs' main: the body's GEMM, then the epilogue that writes each thread's sums. */
function entryPoint(main: string, epilogue: string[]): string {
  return `${mainHeader()} {
      ${main}
      ${epilogue.join('\n      ')}
    }`;
}

/** One line of WGSL per accumulator of a thread: rowsPerThread rows x colsPerThread / 4 vec4 columns. */
function perAccumulator(t: Tiling, line: (r: number, j: number) => string): string[] {
  return Array.from({ length: t.rowsPerThread }, (_, r) => Array.from({ length: t.colsPerThread / 4 }, (__, j) => line(r, j))).flat();
}
