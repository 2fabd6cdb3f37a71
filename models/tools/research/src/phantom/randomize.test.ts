/** Domain randomisation, crop size, lesion size range and negative (normal-tissue) click sites of the phantoms. */
import { createHash } from 'crypto';
import { Vec3 } from '@abus-tumor-ai/engine';
import { CROP_SIZE_MM, generatePhantom, ImagingParams, normalTissueSites, Phantom, planPhantom, RANDOM_LESION_DIAMETER_MM, TissueKind, VOLUME_RANGE_ML } from './generate';

/** Twice the default voxel size along each axis, as in phantom.test.ts. */
const COARSE: Vec3 = [0.8, 0.4, 1.0];

function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function sd(xs: number[]): number {
  const mean = xs.reduce((a, v) => a + v, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, v) => a + (v - mean) ** 2, 0) / xs.length);
}

function diameterMm(volumeMl: number): number {
  return Math.cbrt((6 * volumeMl * 1000) / Math.PI);
}

describe('without randomize', () => {
  test('the output is byte-identical to the generator before these options existed', () => {
    // Recorded with the generator at commit e55b0ab (before sizeMm, randomize, volumeRangeMl).
    const p = generatePhantom({ seed: 7, spacing: COARSE });
    const hash = createHash('sha256').update(p.volume.data).update(p.mask.data).digest('hex');
    expect(hash.slice(0, 32)).toBe('53a48264eb9f9ccadb1b5b41448531b3');
  });

  test('randomize: false and the defaults spelled out give the same bytes as no new options', () => {
    const plain = generatePhantom({ seed: 7 });
    const off = generatePhantom({ seed: 7, randomize: false });
    expect(sameBytes(off.volume.data, plain.volume.data)).toBe(true);
    expect(sameBytes(off.mask.data, plain.mask.data)).toBe(true);
    const coarse = generatePhantom({ seed: 8, spacing: COARSE });
    const explicit = generatePhantom({ seed: 8, spacing: COARSE, randomize: false, sizeMm: CROP_SIZE_MM, volumeRangeMl: VOLUME_RANGE_ML });
    expect(sameBytes(explicit.volume.data, coarse.volume.data)).toBe(true);
    expect(explicit.lesions).toEqual(coarse.lesions);
    expect(explicit.clickCenter).toEqual(coarse.clickCenter);
    expect(plain.imaging).toMatchObject({
      randomized: false,
      psfScale: [1, 1, 1],
      smoothScale: 1,
      scattererDensity: 1,
      coherentRatio: 0,
      dynamicRangeDb: 42,
      greyAtUnit: 178,
      greyGamma: 1,
      attenuationScale: 1,
      noiseFloor: 1,
      glandEcho: 1,
      lesionContrast: 1,
      posteriorScale: 1,
    });
  });
});

describe('randomize', () => {
  const scalarKeys: (keyof ImagingParams)[] = [
    'smoothScale', 'dynamicRangeDb', 'greyAtUnit', 'greyGamma', 'tgcDbPerMm', 'attenuationScale', 'noiseFloor', 'glandEcho', 'lesionContrast', 'posteriorScale', 'skinMm', 'muscleTopMm',
  ];

  test('draws different imaging parameters per seed, within their ranges, the same for one seed', () => {
    const looks = Array.from({ length: 12 }, (_, n) => planPhantom({ seed: 30 + n, randomize: true }).imaging);
    for (const key of scalarKeys) expect(new Set(looks.map((im) => im[key])).size).toBe(looks.length);
    for (const im of looks) {
      expect(im.randomized).toBe(true);
      im.psfScale.forEach((s) => expect(s > 0.59 && s < 1.83).toBe(true));
      expect(im.smoothScale >= 0 && im.smoothScale <= 2).toBe(true);
      expect(im.dynamicRangeDb >= 35 && im.dynamicRangeDb <= 60).toBe(true);
      expect(im.noiseFloor >= 0.3 && im.noiseFloor <= 3).toBe(true);
      expect(im.posteriorScale >= 0.3 && im.posteriorScale <= 2).toBe(true);
      expect(im.scattererDensity > 0 && im.scattererDensity <= 1).toBe(true);
      expect(im.skinMm < im.fatMm && im.fatMm < im.muscleTopMm).toBe(true);
    }
    expect(planPhantom({ seed: 31, randomize: true }).imaging).toEqual(looks[1]);
    const a = generatePhantom({ seed: 5, spacing: COARSE, sizeMm: [40, 40, 40], randomize: true });
    const b = generatePhantom({ seed: 5, spacing: COARSE, sizeMm: [40, 40, 40], randomize: true });
    expect(sameBytes(a.volume.data, b.volume.data)).toBe(true);
    expect(b.imaging).toEqual(a.imaging);
  });

  test('randomised images vary more across seeds in mean grey and speckle contrast', () => {
    // Mean grey, and the mean lateral neighbour difference over the mean (speckle contrast and grain), in 20-60% of the depth.
    const stats = (p: Phantom): [number, number] => {
      const [nx, ny, nz] = p.volume.dims;
      let sum = 0;
      let diff = 0;
      let n = 0;
      for (let k = 0; k < nz; k++) {
        for (let j = Math.round(ny * 0.2); j < Math.round(ny * 0.6); j++) {
          for (let i = 0, at = nx * (j + ny * k); i + 1 < nx; i++, at++) {
            sum += p.volume.data[at];
            diff += Math.abs(p.volume.data[at + 1] - p.volume.data[at]);
            n++;
          }
        }
      }
      return [sum / n, diff / sum];
    };
    const spread = (randomize: boolean) => {
      const s = Array.from({ length: 8 }, (_, n) => stats(generatePhantom({ seed: 1 + n, spacing: COARSE, sizeMm: [40, 40, 40], randomize })));
      return { mean: sd(s.map((v) => v[0])), contrast: sd(s.map((v) => v[1])) };
    };
    const plain = spread(false);
    const random = spread(true);
    console.log(`sd over 8 seeds: mean grey ${plain.mean.toFixed(1)} -> ${random.mean.toFixed(1)}, speckle contrast ${plain.contrast.toFixed(3)} -> ${random.contrast.toFixed(3)}`);
    expect(random.mean).toBeGreaterThan(1.3 * plain.mean);
    expect(random.contrast).toBeGreaterThan(2 * plain.contrast);
  });

  test('main lesions span 3-30 mm in equivalent diameter; volumeRangeMl overrides it', () => {
    const diameters = Array.from({ length: 40 }, (_, n) => diameterMm(planPhantom({ seed: 200 + n, randomize: true, lesionCount: 1 }).lesions[0].volume_ml));
    expect(Math.min(...diameters)).toBeLessThan(6);
    expect(Math.max(...diameters)).toBeGreaterThan(20);
    for (const d of diameters) {
      expect(d).toBeGreaterThan(RANDOM_LESION_DIAMETER_MM[0] * 0.99);
      expect(d).toBeLessThan(RANDOM_LESION_DIAMETER_MM[1] * 1.01);
    }
    for (let n = 0; n < 10; n++) {
      const [lesion] = planPhantom({ seed: 300 + n, randomize: n % 2 === 0, lesionCount: 1, volumeRangeMl: [1, 2] }).lesions;
      expect(lesion.volume_ml).toBeGreaterThanOrEqual(0.999);
      expect(lesion.volume_ml).toBeLessThanOrEqual(2.001);
    }
  });

  test('sizeMm sets the crop; the main lesion stays near its centre and inside it, at any spacing', () => {
    for (const spacing of [[0.5, 0.25, 0.5], [0.4, 0.2, 0.5], COARSE] as Vec3[]) {
      for (let n = 0; n < 8; n++) {
        const plan = planPhantom({ seed: 400 + n, sizeMm: [72, 36, 72], spacing, randomize: n % 2 === 1, lesionCount: 1 });
        const dims = plan.geometry.dims;
        expect(dims).toEqual([72, 36, 72].map((mm, c) => Math.round(mm / spacing[c])));
        const size = dims.map((d, c) => (d - 1) * spacing[c]);
        const [lesion] = plan.lesions;
        for (const c of [0, 2]) expect(Math.abs(lesion.centerMm[c] - size[c] / 2)).toBeLessThanOrEqual(4 + spacing[c]);
        for (let c = 0; c < 3; c++) {
          expect(lesion.centerMm[c] - lesion.extentMm[c] / 2).toBeGreaterThan(-spacing[c]);
          expect(lesion.centerMm[c] + lesion.extentMm[c] / 2).toBeLessThan(size[c] + spacing[c]);
          expect(plan.clickCenter[c] >= 0 && plan.clickCenter[c] < dims[c]).toBe(true);
        }
      }
    }
    const p = generatePhantom({ seed: 3, sizeMm: [48, 30, 40], spacing: COARSE, randomize: true, lesionCount: 1 });
    expect(p.volume.dims).toEqual([60, 75, 40]);
    expect(p.mask.data.some((v) => v === 1)).toBe(true);
  });
});

describe('normalTissueSites', () => {
  const phantoms = [0, 1, 2, 3, 4].map((n) =>
    generatePhantom({ seed: 600 + n, spacing: COARSE, randomize: n > 0, lesionCount: n === 3 ? 2 : 1, sizeMm: n === 4 ? [72, 36, 72] : undefined }),
  );

  test('sites are in the volume, outside every lesion by at least clearMm, and of every kind', () => {
    const kinds = new Set<TissueKind>();
    for (const p of phantoms) {
      const clearMm = p.seed === 602 ? 10 : 6;
      const sites = clearMm === 6 ? normalTissueSites(p, 12, 1) : normalTissueSites(p, 12, 1, clearMm);
      expect(sites.length).toBe(12);
      const [nx, ny, nz] = p.volume.dims;
      const [sx, sy, sz] = p.volume.spacing;
      const lesionVoxels: Vec3[] = [];
      for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) if (p.mask.data[i + nx * (j + ny * k)]) lesionVoxels.push([i, j, k]);
      expect(lesionVoxels.length).toBeGreaterThan(0);
      for (const { index, kind } of sites) {
        kinds.add(kind);
        const [i, j, k] = index;
        index.forEach((v, c) => expect(Number.isInteger(v) && v >= 0 && v < p.volume.dims[c]).toBe(true));
        expect(p.mask.data[i + nx * (j + ny * k)]).toBe(0);
        let nearest = Infinity;
        for (const [a, b, c] of lesionVoxels) nearest = Math.min(nearest, Math.hypot((a - i) * sx, (b - j) * sy, (c - k) * sz));
        expect(nearest).toBeGreaterThanOrEqual(clearMm);
        if (kind === 'near-skin') {
          expect(j * sy - p.imaging.skinMm).toBeGreaterThanOrEqual(2);
          expect(j * sy - p.imaging.skinMm).toBeLessThan(6);
        }
      }
      expect(new Set(sites.map((s) => s.index.join())).size).toBe(sites.length);
    }
    expect([...kinds].sort()).toEqual(['fat', 'gland', 'ligament', 'near-chest-wall', 'near-skin']);
  });

  test('the kinds match what was rendered: ligaments brightest, then gland, then fat', () => {
    const grey: Partial<Record<TissueKind, number[]>> = {};
    for (const p of phantoms.slice(0, 1)) {
      const [nx, ny] = p.volume.dims;
      for (const { index: [i, j, k], kind } of normalTissueSites(p, 60, 2)) (grey[kind] ??= []).push(p.volume.data[i + nx * (j + ny * k)]);
    }
    const mean = (kind: TissueKind) => grey[kind]!.reduce((a, v) => a + v, 0) / grey[kind]!.length;
    expect(mean('ligament')).toBeGreaterThan(mean('gland'));
    expect(mean('gland')).toBeGreaterThan(mean('fat'));
  });

  test('deterministic for (phantom, seed); another seed gives other sites; only generated phantoms', () => {
    const p = phantoms[1];
    const sites = normalTissueSites(p, 8, 5);
    expect(normalTissueSites(p, 8, 5)).toEqual(sites);
    const again = generatePhantom({ seed: p.seed, spacing: COARSE, randomize: true, lesionCount: 1 });
    expect(normalTissueSites(again, 8, 5)).toEqual(sites);
    expect(normalTissueSites(p, 8, 6)).not.toEqual(sites);
    expect(() => normalTissueSites({ ...p }, 8, 5)).toThrow(/generatePhantom/);
  });

  test('returns fewer sites when the crop has no room', () => {
    const p = generatePhantom({ seed: 9, spacing: COARSE, sizeMm: [30, 30, 30], volumeRangeMl: [8, 10], lesionCount: 1 });
    expect(normalTissueSites(p, 10, 1, 30)).toEqual([]);
  });
});
