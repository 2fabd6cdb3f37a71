/**
 * NRRD <-> Volume, on top of nrrd-js (which parses and serializes headers and raw/ascii data).
 *
 * gzip: nrrd-js does not (de)compress, so gzip goes through a `GzipCodec`. By default the codec
 * is Node's zlib, fetched at run time with `process.getBuiltinModule` (or a hidden `require`),
 * so a browser bundler never sees a static `require('zlib')`. In a browser, pass
 * `{ codec }` built on e.g. fflate's gzipSync/gunzipSync; raw NRRDs need no codec at all.
 */
import * as nrrd from 'nrrd-js';
import { checkVolumeSize, IDENTITY_DIRECTION, Mat3, spacingProblem, Vec3, Volume, VoxelArray } from '../volume';
import { nodeBuiltin } from './node-builtin';
import { toArrayBuffer } from './bytes';

export interface GzipCodec {
  gzip(data: Uint8Array): Uint8Array;
  /** maxBytes: fail rather than inflate more (a gzip stream can decode to far more than its header says). */
  gunzip(data: Uint8Array, maxBytes?: number): Uint8Array;
}

export interface NrrdReadOptions {
  /** Needed only for `encoding: gzip`; defaults to Node's zlib. */
  codec?: GzipCodec;
  /** The voxel spacing in mm, replacing the header's (which is then not checked). */
  spacing?: Vec3;
}

export interface NrrdWriteOptions {
  /** gzip the data. Default false: raw files are simplest to inspect and need no codec. */
  gzip?: boolean;
  codec?: GzipCodec;
  /** The NRRD 'content' field: what the file holds (and, for the CLI, who wrote it). */
  content?: string;
}

/** Node's zlib as a GzipCodec; throws outside Node. */
export function nodeGzipCodec(): GzipCodec {
  const zlib = nodeBuiltin<typeof import('zlib')>('zlib');
  if (!zlib) throw new Error('gzip NRRD needs a codec outside Node: pass { codec } (e.g. built on fflate)');
  return {
    gzip: (data) => new Uint8Array(zlib.gzipSync(data)),
    gunzip: (data, maxBytes) => new Uint8Array(zlib.gunzipSync(data, maxBytes ? { maxOutputLength: maxBytes } : {})),
  };
}

/** The NRRD type names (and their aliases, from the NRRD spec) that are read, with their bytes per voxel. */
const TYPES: Record<string, [string, number]> = {};
for (const [name, bytes, aliases] of [
  ['int8', 1, 'signed char,int8_t'],
  ['uint8', 1, 'uchar,unsigned char,uint8_t'],
  ['int16', 2, 'short,short int,signed short,signed short int,int16_t'],
  ['uint16', 2, 'ushort,unsigned short,unsigned short int,uint16_t'],
  ['int32', 4, 'int,signed int,int32_t'],
  ['uint32', 4, 'uint,unsigned int,uint32_t'],
  ['float', 4, ''],
  ['double', 8, ''],
] as const) {
  for (const n of [name, ...aliases.split(',').filter(Boolean)]) TYPES[n] = [name, bytes];
}

export interface NrrdHeaderSummary {
  type: string;
  sizes: number[];
  bytesPerVoxel: number;
  encoding: string;
}

/**
 * Checks what the header promises before the data is touched (nrrd-js reads the data in the
 * same pass, and its errors for types it lacks are cryptic): the magic, a supported type, three
 * sizes, and a decoded size within MAX_VOLUME_BYTES. `head` may be the first bytes of the file only.
 */
export function checkNrrdHeader(head: Uint8Array): NrrdHeaderSummary {
  const text = new TextDecoder('latin1').decode(head.subarray(0, Math.min(head.length, 1 << 20)));
  if (!text.startsWith('NRRD000')) throw new Error('not an NRRD file (it does not start with NRRD000x)');
  const end = headerEnd(head);
  if (end < 0) throw new Error('the NRRD header has no end (no blank line within its first MiB): the file is truncated or not an NRRD');
  const fields = new Map<string, string>();
  for (const line of text.slice(0, end).split(/\r?\n/)) {
    const m = /^([^:#][^:]*):=?\s*(.*?)\s*$/.exec(line);
    if (m) fields.set(m[1].trim().toLowerCase(), m[2]);
  }
  const typeName = (fields.get('type') ?? '').toLowerCase();
  const type = TYPES[typeName];
  if (!type) throw new Error(`NRRD field 'type' is '${typeName || '(missing)'}': not supported (use one of ${[...new Set(Object.values(TYPES).map(([n]) => n))].join(', ')})`);
  const sizes = (fields.get('sizes') ?? '').split(/\s+/).filter(Boolean).map(Number);
  if (sizes.length !== 3) throw new Error(`NRRD is ${sizes.length}-D (${sizes.join('x')}); a 3-D volume is needed`);
  if (sizes.some((n) => !(Number.isInteger(n) && n > 0))) throw new Error(`NRRD field 'sizes' is '${fields.get('sizes')}': three whole numbers above 0 are needed`);
  checkVolumeSize(sizes, type[1], 'The NRRD volume');
  const encoding = (fields.get('encoding') ?? '').toLowerCase();
  if (!['raw', 'ascii', 'text', 'txt', 'gzip', 'gz'].includes(encoding)) throw new Error(`NRRD encoding "${encoding}" is not supported (use raw, gzip or ascii)`);
  if (type[1] > 1 && !['ascii', 'text', 'txt'].includes(encoding) && !/^(little|big)$/i.test(fields.get('endian') ?? '')) {
    throw new Error(`NRRD field 'endian' is '${fields.get('endian') ?? '(missing)'}': ${type[0]} data needs 'little' or 'big'`);
  }
  return { type: type[0], sizes, bytesPerVoxel: type[1], encoding };
}

export function parseNrrd(bytes: Uint8Array, opts: NrrdReadOptions = {}): Volume {
  const summary = checkNrrdHeader(bytes);
  const header = nrrd.parse(toArrayBuffer(inflateIfGzip(bytes, opts, summary)));
  const sizes = header.sizes ?? [];
  if (header.dataFile !== undefined) throw new Error('detached NRRD (separate data file) is not supported; use a .nrrd with inline data');
  if (header.lineSkip || header.byteSkip) throw new Error('NRRD "line skip"/"byte skip" is not supported');
  if (!header.data) throw new Error('NRRD has no readable data');
  const voxels = sizes.reduce((n, d) => n * d, 1);
  if (header.data.length < voxels) throw new Error(`NRRD data is truncated: ${header.data.length} of ${voxels} voxels`);
  return { dims: sizes as Vec3, ...nrrdGeometry(header, opts.spacing), data: header.data as unknown as VoxelArray };
}

export function writeNrrd(volume: Volume, opts: NrrdWriteOptions = {}): Uint8Array {
  const { dims, spacing, origin, direction: d, data } = volume;
  const fields: nrrd.NrrdFields = {
    sizes: [...dims],
    space: 'left-posterior-superior',
    spaceDirections: [0, 1, 2].map((c) => [d[c], d[3 + c], d[6 + c]].map((x) => x * spacing[c])),
    kinds: ['domain', 'domain', 'domain'],
    spaceOrigin: [...origin],
    ...(opts.content ? { content: opts.content } : {}),
  };
  // The data goes in pre-encoded as `buffer`: nrrd-js's own `data` path drops 8-bit data
  // (it asks for an endianness that it then clears), and it cannot gzip anyway.
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const buffer = toArrayBuffer(opts.gzip ? (opts.codec ?? nodeGzipCodec()).gzip(raw) : raw);
  const encoding = opts.gzip ? 'gzip' : 'raw';
  const endian = data.BYTES_PER_ELEMENT > 1 ? hostEndian() : undefined;
  return new Uint8Array(nrrd.serialize({ ...fields, type: nrrdTypeOf(data), endian, encoding, buffer }));
}

/**
 * Spacing, origin and direction (LPS) from space directions/origin, or from spacings. A spacing
 * that is not a finite positive number is an error naming its field, never a silent 1 mm: a wrong
 * spacing gives wrong sizes with no sign of it. `override` (the user's explicit spacing) wins.
 */
function nrrdGeometry(h: nrrd.NrrdFields, override?: Vec3): { spacing: Vec3; origin: Vec3; direction: Mat3 } {
  const flip = spaceToLps(h.space);
  const origin = (h.spaceOrigin ?? [0, 0, 0]).map((x, r) => x * flip[r] + 0) as Vec3;
  if (origin.length !== 3 || origin.some((x) => !Number.isFinite(x))) throw new Error(`NRRD field 'space origin' must be three finite numbers (got ${h.spaceOrigin?.join(' ')})`);
  if (!h.spaceDirections) {
    if (override) return { spacing: override, origin, direction: [...IDENTITY_DIRECTION] };
    if (!h.spacings) throw new Error("the NRRD header gives no spacing (neither 'space directions' nor 'spacings')");
    const problem = spacingProblem(h.spacings);
    if (problem) throw new Error(`NRRD field 'spacings' is '${h.spacings.join(' ')}': ${problem}; every spacing must be a finite number of mm above 0 and at most 10`);
    return { spacing: h.spacings as Vec3, origin, direction: [...IDENTITY_DIRECTION] };
  }
  const spacing: Vec3 = [0, 0, 0];
  const direction: Mat3 = [...IDENTITY_DIRECTION];
  h.spaceDirections.forEach((v, c) => {
    if (!v || v.length !== 3) throw new Error(`NRRD field 'space directions' must give a 3-D vector for every axis`);
    const len = Math.hypot(v[0], v[1], v[2]);
    if (!(len > 0) || !Number.isFinite(len)) throw new Error(`NRRD field 'space directions' of axis ${c} is (${v.join(',')}): it must be a finite vector of non-zero length`);
    spacing[c] = override?.[c] ?? len;
    for (let r = 0; r < 3; r++) direction[3 * r + c] = (v[r] * flip[r]) / len + 0; // + 0: no -0
  });
  const problem = override ? undefined : spacingProblem(spacing);
  if (problem) throw new Error(`NRRD field 'space directions' gives the spacing ${spacing.map((x) => +x.toFixed(6)).join(' x ')} mm: ${problem}`);
  return { spacing, origin, direction };
}

/** Per-axis sign that maps the NRRD space to LPS; unnamed or scanner spaces are taken as LPS. */
function spaceToLps(space: string | undefined): Vec3 {
  if (space === 'right-anterior-superior') return [-1, -1, 1];
  if (space === 'left-anterior-superior') return [1, -1, 1];
  if (space && space.endsWith('-time')) throw new Error(`NRRD space "${space}" (with time) is not supported`);
  return [1, 1, 1];
}

/**
 * nrrd-js leaves gzip data undecoded, so a gzip file is rewritten as the equivalent raw file
 * (same header with `encoding: raw`, inflated data) before the library parses it. Finding the
 * blank line that ends the header is the only hand-written parsing here.
 */
function inflateIfGzip(bytes: Uint8Array, opts: NrrdReadOptions, summary: NrrdHeaderSummary): Uint8Array {
  const end = headerEnd(bytes);
  if (end < 0) return bytes;
  const header = new TextDecoder('latin1').decode(bytes.subarray(0, end));
  const encodingLine = /^encoding:[ \t]*(gz|gzip)[ \t]*$/im;
  if (!encodingLine.test(header)) return bytes;
  const expected = summary.sizes.reduce((n, d) => n * d, summary.bytesPerVoxel);
  let data: Uint8Array;
  try {
    // A little over the expected size: extra bytes are an error below, not gigabytes of memory.
    data = (opts.codec ?? nodeGzipCodec()).gunzip(bytes.subarray(end), expected + 1024);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === 'ERR_BUFFER_TOO_LARGE' || /maxOutputLength|larger than/i.test(String(e.message))) {
      throw new Error(`its gzip data decodes to more than the ${expected} bytes its header's sizes and type give`);
    }
    throw new Error(`its gzip data is corrupt or truncated (${String(e.message ?? err)})`);
  }
  if (data.length < expected) throw new Error(`its gzip data is truncated: ${data.length} of ${expected} bytes`);
  const rawHeader = new TextEncoder().encode(header.replace(encodingLine, 'encoding: raw'));
  const out = new Uint8Array(rawHeader.length + data.length);
  out.set(rawHeader);
  out.set(data, rawHeader.length);
  return out;
}

/** Offset just past the blank line (LF LF or LF CR LF) that ends the header, or -1. */
function headerEnd(bytes: Uint8Array): number {
  const limit = Math.min(bytes.length, 1 << 20);
  for (let i = 1; i < limit; i++) {
    if (bytes[i] !== 10) continue;
    if (bytes[i - 1] === 10 || (bytes[i - 1] === 13 && bytes[i - 2] === 10)) return i + 1;
  }
  return -1;
}

function nrrdTypeOf(data: VoxelArray): string {
  if (data instanceof Float32Array) return 'float';
  if (data instanceof Float64Array) return 'double';
  return data.constructor.name.replace('Array', '').toLowerCase(); // Uint8Array -> uint8, ...
}

function hostEndian(): 'little' | 'big' {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 'little' : 'big';
}
