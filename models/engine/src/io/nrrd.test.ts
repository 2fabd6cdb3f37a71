import { gzipSync } from 'zlib';
import { Mat3, Volume, VoxelArray } from '../volume';
import { checkNrrdHeader, parseNrrd, writeNrrd } from './nrrd';

function ramp<T extends VoxelArray>(make: (n: number) => T, n: number, scale = 1): T {
  const a = make(n);
  for (let i = 0; i < n; i++) a[i] = (i * 7 + 3) % 251 * scale;
  return a;
}

// A non-identity direction: 30 degrees about z.
const c30 = Math.cos(Math.PI / 6);
const s30 = Math.sin(Math.PI / 6);
const ROTATED: Mat3 = [c30, -s30, 0, s30, c30, 0, 0, 0, 1];

function volume(data: VoxelArray): Volume {
  return { dims: [5, 4, 3], spacing: [0.2, 0.073, 0.5], origin: [-12.5, 3.25, 40], direction: ROTATED, data };
}

function expectGeometry(actual: Volume, expected: Volume): void {
  expect(actual.dims).toEqual(expected.dims);
  actual.spacing.forEach((s, c) => expect(s).toBeCloseTo(expected.spacing[c], 9));
  actual.origin.forEach((o, c) => expect(o).toBeCloseTo(expected.origin[c], 9));
  actual.direction.forEach((d, c) => expect(d).toBeCloseTo(expected.direction[c], 9));
}

describe('NRRD round trip', () => {
  const cases: [string, Volume, boolean][] = [
    ['uint8 raw', volume(ramp((n) => new Uint8Array(n), 60)), false],
    ['uint8 gzip', volume(ramp((n) => new Uint8Array(n), 60)), true],
    ['float32 raw', volume(ramp((n) => new Float32Array(n), 60, -0.37)), false],
    ['float32 gzip', volume(ramp((n) => new Float32Array(n), 60, -0.37)), true],
    ['int16 gzip', volume(ramp((n) => new Int16Array(n), 60, -129)), true],
  ];
  test.each(cases)('%s', (_name, vol, gzip) => {
    const bytes = writeNrrd(vol, { gzip });
    const header = new TextDecoder().decode(bytes.subarray(0, 400));
    expect(header).toContain('space: left-posterior-superior');
    expect(header).toContain(`encoding: ${gzip ? 'gzip' : 'raw'}`);
    const back = parseNrrd(bytes);
    expectGeometry(back, vol);
    expect(back.data.constructor).toBe(vol.data.constructor);
    expect(Array.from(back.data)).toEqual(Array.from(vol.data));
  });

  test('gzip output is smaller for a mask', () => {
    const mask = new Uint8Array(64 * 64 * 16);
    mask.fill(1, 1000, 5000);
    const vol: Volume = { dims: [64, 64, 16], spacing: [1, 1, 1], origin: [0, 0, 0], direction: ROTATED, data: mask };
    expect(writeNrrd(vol, { gzip: true }).length).toBeLessThan(writeNrrd(vol).length / 10);
  });
});

describe('NRRD headers written by other tools', () => {
  function file(header: string, data: Uint8Array): Uint8Array {
    const head = new TextEncoder().encode(header);
    const out = new Uint8Array(head.length + data.length);
    out.set(head);
    out.set(data, head.length);
    return out;
  }

  test('TDSC-ABUS style: gzip, identity space directions, LPS', () => {
    const header = [
      'NRRD0004',
      '# Complete NRRD file format specification at:',
      '# http://teem.sourceforge.net/nrrd/format.html',
      'type: unsigned char',
      'dimension: 3',
      'space: left-posterior-superior',
      'sizes: 4 3 2',
      'space directions: (1,0,0) (0,1,0) (0,0,1)',
      'kinds: domain domain domain',
      'endian: little',
      'encoding: gzip',
      'space origin: (0,0,0)',
      '',
      '',
    ].join('\n');
    const values = Uint8Array.from({ length: 24 }, (_, i) => i * 10);
    const vol = parseNrrd(file(header, gzipSync(values)));
    expect(vol.dims).toEqual([4, 3, 2]);
    expect(vol.spacing).toEqual([1, 1, 1]);
    expect(vol.origin).toEqual([0, 0, 0]);
    expect(vol.direction).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(vol.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(vol.data)).toEqual(Array.from(values));
  });

  test('RAS space is converted to LPS', () => {
    const header = 'NRRD0004\ntype: uint8\ndimension: 3\nspace: RAS\nsizes: 2 2 2\n' +
      'space directions: (0.5,0,0) (0,0.6,0) (0,0,2)\nencoding: raw\nspace origin: (10,20,30)\n\n';
    const vol = parseNrrd(file(header, new Uint8Array(8)));
    expect(vol.origin).toEqual([-10, -20, 30]);
    expect(vol.spacing).toEqual([0.5, 0.6, 2]);
    expect(vol.direction).toEqual([-1, 0, 0, 0, -1, 0, 0, 0, 1]);
  });

  test('spacings without space directions; big-endian int16', () => {
    const header = 'NRRD0004\ntype: short\ndimension: 3\nsizes: 2 1 1\nspacings: 0.3 0.4 0.5\nendian: big\nencoding: raw\n\n';
    const vol = parseNrrd(file(header, new Uint8Array([0x01, 0x02, 0xff, 0xfe])));
    expect(vol.spacing).toEqual([0.3, 0.4, 0.5]);
    expect(vol.direction).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(vol.data).toBeInstanceOf(Int16Array);
    expect(Array.from(vol.data)).toEqual([0x0102, -2]);
  });

  test('a spacing that is not a finite positive number is an error naming the field, unless one is given', () => {
    const data = new Uint8Array([1, 2]);
    for (const bad of ['0.3 0.4 NaN', 'nan nan nan', '0.3 -0.4 0.5', '0 1 1', '0.3 inf 1']) {
      const header = `NRRD0004\ntype: uint8\ndimension: 3\nsizes: 2 1 1\nspacings: ${bad}\nencoding: raw\n\n`;
      expect(() => parseNrrd(file(header, data))).toThrow(/^NRRD field 'spacings' is '.*': .* is not a finite number of mm above 0/);
      expect(parseNrrd(file(header, data), { spacing: [0.2, 0.1, 0.5] }).spacing).toEqual([0.2, 0.1, 0.5]);
    }
    const directions = 'NRRD0004\ntype: uint8\ndimension: 3\nsizes: 2 1 1\nspace: LPS\nspace directions: (nan,0,0) (0,1,0) (0,0,1)\nencoding: raw\n\n';
    expect(() => parseNrrd(file(directions, data))).toThrow(/NRRD field 'space directions' of axis 0/);
  });

  test('no spacing at all, or one over 10 mm, is an error naming the field: never an assumed 1 mm', () => {
    const data = new Uint8Array([1, 2]);
    const none = 'NRRD0004\ntype: uint8\ndimension: 3\nsizes: 2 1 1\nencoding: raw\n\n';
    expect(() => parseNrrd(file(none, data))).toThrow("the NRRD header gives no spacing (neither 'space directions' nor 'spacings')");
    expect(parseNrrd(file(none, data), { spacing: [0.2, 0.1, 0.5] }).spacing).toEqual([0.2, 0.1, 0.5]);
    const cm = 'NRRD0004\ntype: uint8\ndimension: 3\nsizes: 2 1 1\nspacings: 0.5 20 1\nencoding: raw\n\n';
    expect(() => parseNrrd(file(cm, data))).toThrow(/^NRRD field 'spacings' is '0.5 20 1': 20 mm is over 10 mm per voxel/);
    const directions = 'NRRD0004\ntype: uint8\ndimension: 3\nsizes: 2 1 1\nspace: LPS\nspace directions: (40,0,0) (0,1,0) (0,0,1)\nencoding: raw\n\n';
    expect(() => parseNrrd(file(directions, data))).toThrow(/^NRRD field 'space directions' gives the spacing 40 x 1 x 1 mm: 40 mm is over 10 mm/);
  });

  test('the header is checked before the data: size budget, type, endianness; corrupt gzip is said so', () => {
    const huge = 'NRRD0004\ntype: uint16\ndimension: 3\nsizes: 2000 2000 1000\nendian: little\nspacings: 1 1 1\nencoding: gzip\n\n';
    // Only the header: nothing is gunzipped or allocated for the 7.45 GiB it announces.
    expect(() => checkNrrdHeader(new TextEncoder().encode(huge))).toThrow(/^The NRRD volume is 2000 x 2000 x 1000 voxels of 2 bytes, 7.45 GiB decoded: over the 1.5 GiB limit/);
    expect(() => parseNrrd(new TextEncoder().encode(huge))).toThrow(/over the 1.5 GiB limit/);
    const quaternion = 'NRRD0004\ntype: quaternion\ndimension: 3\nsizes: 1 1 1\nencoding: raw\n\n';
    expect(() => parseNrrd(file(quaternion, new Uint8Array(16)))).toThrow("NRRD field 'type' is 'quaternion': not supported");
    const noEndian = 'NRRD0004\ntype: uint16\ndimension: 3\nsizes: 1 1 1\nspacings: 1 1 1\nencoding: raw\n\n';
    expect(() => parseNrrd(file(noEndian, new Uint8Array(2)))).toThrow("NRRD field 'endian' is '(missing)': uint16 data needs 'little' or 'big'");
    const gz = writeNrrd({ dims: [8, 8, 8], spacing: [1, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1], data: new Uint8Array(512).map((_, i) => i % 251) }, { gzip: true });
    expect(() => parseNrrd(gz.subarray(0, gz.length - 20))).toThrow(/^its gzip data is corrupt or truncated \(unexpected end of file\)/);
    const flipped = gz.slice();
    flipped[flipped.length - 6] ^= 0xff; // the CRC-32 at the end
    expect(() => parseNrrd(flipped)).toThrow(/^its gzip data is corrupt or truncated \(incorrect data check\)/);
  });

  test('clear errors for 2-D, 4-D and unsupported types', () => {
    const twoD = 'NRRD0004\ntype: uint8\ndimension: 2\nsizes: 512 512\nencoding: raw\n\n';
    expect(() => parseNrrd(file(twoD, new Uint8Array(512 * 512)))).toThrow('NRRD is 2-D (512x512); a 3-D volume is needed');
    const fourD = 'NRRD0004\ntype: uint8\ndimension: 4\nsizes: 3 2 2 2\nencoding: raw\n\n';
    expect(() => parseNrrd(file(fourD, new Uint8Array(24)))).toThrow('NRRD is 4-D (3x2x2x2); a 3-D volume is needed');
    const int64 = 'NRRD0004\ntype: int64\ndimension: 3\nsizes: 1 1 1\nendian: little\nencoding: raw\n\n';
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect(() => parseNrrd(file(int64, new Uint8Array(8)))).toThrow("NRRD field 'type' is 'int64': not supported");
    warn.mockRestore();
    expect(() => parseNrrd(new TextEncoder().encode('P5\n1 1\n255\n\n\0'))).toThrow('not an NRRD');
  });
});
