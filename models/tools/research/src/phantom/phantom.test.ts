/** Synthetic ABUS phantoms: determinism, truth, file formats, speed and class statistics. */
import { PNG } from 'pngjs';
import { readDicomFolder, readDicomSeries, Vec3 } from '@abus-tumor-ai/engine';
import { nodeGzipCodec, parseNrrd } from '@abus-tumor-ai/engine/node';
import { auc } from '../metrics';
import { phantomCaseSeed, readPhantomIndex, writePhantomDataset } from './dataset';
import { CROP_SPACING, FULL_DIMS, FULL_SPACING, generatePhantom, Phantom, planPhantom } from './generate';
import { LesionFeatures, sampleFeatures } from './lesion';
import { renderPreview } from './preview';
import { Rng } from './random';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** Twice the default voxel size along each axis: 8x fewer voxels, for tests that need many cases. */
const COARSE: Vec3 = [0.8, 0.4, 1.0];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-phantom-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

function voxelMl(p: Phantom): number {
  return (p.volume.spacing[0] * p.volume.spacing[1] * p.volume.spacing[2]) / 1000;
}

describe('random', () => {
  test('same seed, same stream; normal has mean 0 and sd 1', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(new Rng(43).next()).not.toBe(xs[0]);
    const r = new Rng(1);
    const z = Array.from({ length: 20000 }, () => r.normal());
    const mean = sum(z) / z.length;
    const sd = Math.sqrt(sum(z.map((v) => (v - mean) ** 2)) / z.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(sd - 1)).toBeLessThan(0.03);
    expect(r.choice(['a', 'b', 'c'])).toMatch(/^[abc]$/);
  });
});

describe('default-size phantom', () => {
  let first: Phantom;
  let firstSeconds: number;
  beforeAll(() => {
    const t = performance.now();
    first = generatePhantom({ seed: 7, lesionCount: 1 });
    firstSeconds = (performance.now() - t) / 1000;
  });

  test('has the documented crop geometry, uint8 data and a same-geometry 0/1 mask', () => {
    expect(first.volume.spacing).toEqual(CROP_SPACING);
    expect(first.volume.dims).toEqual([200, 200, 160]);
    expect(first.volume.data).toBeInstanceOf(Uint8Array);
    expect(first.mask.data).toBeInstanceOf(Uint8Array);
    expect(first.mask.dims).toEqual(first.volume.dims);
    expect(Array.from(new Set(first.mask.data)).sort()).toEqual([0, 1]);
  });

  test('same seed gives byte-identical volume and mask; another seed differs', () => {
    const again = generatePhantom({ seed: 7, lesionCount: 1 });
    expect(Buffer.compare(Buffer.from(again.volume.data.buffer), Buffer.from(first.volume.data.buffer))).toBe(0);
    expect(Buffer.compare(Buffer.from(again.mask.data.buffer), Buffer.from(first.mask.data.buffer))).toBe(0);
    expect(again.lesions).toEqual(first.lesions);
    const other = generatePhantom({ seed: 8, lesionCount: 1 });
    expect(Buffer.compare(Buffer.from(other.volume.data.buffer), Buffer.from(first.volume.data.buffer))).not.toBe(0);
  });

  test('generates in under 2 s (after the first, which also compiles)', () => {
    const t = performance.now();
    generatePhantom({ seed: 9 });
    const seconds = (performance.now() - t) / 1000;
    console.log(`default-size phantom: ${seconds.toFixed(2)} s (first call ${firstSeconds.toFixed(2)} s)`);
    expect(seconds).toBeLessThan(2);
  });

  test('the mask is the lesion: its centre, its volume, the click near it', () => {
    const [lesion] = first.lesions;
    const [nx, ny] = first.volume.dims;
    const at = (v: Vec3) => v[0] + nx * (v[1] + ny * v[2]);
    expect(first.mask.data[at(lesion.centerIndex)]).toBe(1);
    expect(Math.abs(sum(first.mask.data) * voxelMl(first) - lesion.volume_ml) / lesion.volume_ml).toBeLessThan(0.05);
    for (let c = 0; c < 3; c++) {
      expect(Math.abs(first.clickCenter[c] - lesion.centerIndex[c]) * first.volume.spacing[c]).toBeLessThanOrEqual(lesion.extentMm[c] / 2);
    }
    // The engine's VOI (64 x 32 x 64 mm) around the click fits laterally and along the sweep.
    for (const c of [0, 2]) {
      const mm = first.clickCenter[c] * first.volume.spacing[c];
      expect(mm).toBeGreaterThanOrEqual(32);
      expect((first.volume.dims[c] - 1) * first.volume.spacing[c] - mm).toBeGreaterThanOrEqual(32);
    }
  });

  test('the lesion is darker than the tissue around it, and the image has a bright skin line', () => {
    const [nx, ny, nz] = first.volume.dims;
    let inside = 0;
    let outside = 0;
    let nIn = 0;
    let nOut = 0;
    const c = first.lesions[0].centerIndex;
    const half = first.lesions[0].extentMm.map((e, a) => Math.ceil(e / first.volume.spacing[a]));
    for (let k = Math.max(0, c[2] - half[2]); k < Math.min(nz, c[2] + half[2]); k++) {
      for (let j = Math.max(0, c[1] - half[1]); j < Math.min(ny, c[1] + half[1]); j++) {
        for (let i = Math.max(0, c[0] - half[0]); i < Math.min(nx, c[0] + half[0]); i++) {
          const n = i + nx * (j + ny * k);
          if (first.mask.data[n]) [inside, nIn] = [inside + first.volume.data[n], nIn + 1];
          else [outside, nOut] = [outside + first.volume.data[n], nOut + 1];
        }
      }
    }
    expect(inside / nIn).toBeLessThan(outside / nOut - 20);
    const skinRow = (j: number) => sum(first.volume.data.subarray(nx * (j + ny * 80), nx * (j + ny * 80) + nx)) / nx;
    expect(skinRow(1)).toBeGreaterThan(skinRow(Math.round(12 / first.volume.spacing[1])));
  });
});

describe('phantom truth over many cases', () => {
  test('masks are non-empty exactly for lesion cases, inside the volume, and match volume_ml', () => {
    let negatives = 0;
    let pairs = 0;
    for (let n = 0; n < 40; n++) {
      const p = generatePhantom({ seed: 100 + n, spacing: COARSE });
      const measured = sum(p.mask.data) * voxelMl(p);
      const reported = p.lesions.reduce((s, l) => s + l.volume_ml, 0);
      if (p.lesions.length === 0) {
        negatives++;
        expect(measured).toBe(0);
      } else {
        // Coarse voxels: a 0.1 mL lesion is only ~300 of them.
        expect(Math.abs(measured - reported) / reported).toBeLessThan(0.12);
      }
      if (p.lesions.length === 2) pairs++;
      for (const l of p.lesions) l.centerIndex.forEach((v, c) => expect(v >= 0 && v < p.volume.dims[c]).toBe(true));
      p.clickCenter.forEach((v, c) => expect(v >= 0 && v < p.volume.dims[c]).toBe(true));
    }
    expect(negatives).toBeGreaterThan(0);
    expect(pairs).toBeGreaterThan(0);
  });

  test('BI-RADS feature rates follow Hong et al. (AJR 2005) at a 50/50 class mix', () => {
    const rng = new Rng(3);
    const cases: { malignant: boolean; f: LesionFeatures }[] = [];
    for (let n = 0; n < 6000; n++) {
      const malignant = n % 2 === 0;
      cases.push({ malignant, f: sampleFeatures(rng, malignant) });
    }
    const rate = (pred: (f: LesionFeatures) => boolean, malignant: boolean) => {
      const sel = cases.filter((c) => pred(c.f));
      return sel.filter((c) => c.malignant === malignant).length / sel.length;
    };
    expect(rate((f) => f.margin === 'spiculated', true)).toBeCloseTo(0.86, 1);
    expect(rate((f) => f.orientation === 'not-parallel', true)).toBeCloseTo(0.69, 1);
    expect(rate((f) => f.shape === 'irregular', true)).toBeCloseTo(0.62, 1);
    expect(rate((f) => f.margin === 'circumscribed', false)).toBeCloseTo(0.9, 1);
    expect(rate((f) => f.shape === 'oval', false)).toBeCloseTo(0.84, 1);
    expect(rate((f) => f.orientation === 'parallel', false)).toBeCloseTo(0.78, 1);
    // Simple cysts: anechoic, circumscribed, with posterior enhancement.
    for (const { f } of cases.filter((c) => c.f.echo === 'anechoic')) {
      expect([f.margin, f.posterior]).toEqual(['circumscribed', 'enhancement']);
    }
  });

  test('cases are balanced, volumes span both size groups for both classes', () => {
    const main = Array.from({ length: 400 }, (_, n) => planPhantom({ seed: phantomCaseSeed(11, n) }))
      .filter((p) => p.lesions.length)
      .map((p) => p.lesions[0]);
    const malignant = main.filter((l) => l.malignant);
    expect(malignant.length / main.length).toBeGreaterThan(0.4);
    expect(malignant.length / main.length).toBeLessThan(0.6);
    for (const group of [malignant, main.filter((l) => !l.malignant)]) {
      const small = group.filter((l) => l.volume_ml <= 1).length / group.length;
      expect(small).toBeGreaterThan(0.3);
      expect(small).toBeLessThan(0.7);
      expect(Math.min(...group.map((l) => l.volume_ml))).toBeLessThan(0.15);
      expect(Math.max(...group.map((l) => l.volume_ml))).toBeGreaterThan(8);
    }
  });

  test('neither lesion volume nor mean lesion brightness alone separates the classes', () => {
    const labels: number[] = [];
    const volumes: number[] = [];
    const brightness: number[] = [];
    for (let n = 0; n < 60; n++) {
      const malignant = n % 2 === 0;
      const p = generatePhantom({ seed: 500 + n, spacing: COARSE, lesionCount: 1, malignant });
      let s = 0;
      let count = 0;
      for (let i = 0; i < p.mask.data.length; i++) if (p.mask.data[i]) [s, count] = [s + p.volume.data[i], count + 1];
      labels.push(malignant ? 1 : 0);
      volumes.push(p.lesions[0].volume_ml);
      brightness.push(s / count);
    }
    const aucVolume = auc(labels, volumes);
    const aucBrightness = auc(labels, brightness);
    console.log(`single-feature AUC over 60 cases: volume ${aucVolume.toFixed(3)}, mean brightness ${aucBrightness.toFixed(3)}`);
    for (const a of [aucVolume, aucBrightness]) {
      expect(a).toBeGreaterThan(0.25);
      expect(a).toBeLessThan(0.8);
    }
  });

  test('full size has the TDSC-ABUS geometry and room for the VOI around the click', () => {
    const plan = planPhantom({ seed: 4, fullSize: true, lesionCount: 1 });
    expect(plan.geometry.dims).toEqual(FULL_DIMS);
    expect(plan.geometry.spacing).toEqual(FULL_SPACING);
    for (const c of [0, 2]) {
      const mm = plan.clickCenter[c] * FULL_SPACING[c];
      expect(mm).toBeGreaterThan(30);
      expect((FULL_DIMS[c] - 1) * FULL_SPACING[c] - mm).toBeGreaterThan(30);
    }
  });
});

test('contactShadow: a shadow 4-18 mm wide at a face, darker than the rest, and the case otherwise the same', () => {
  for (let seed = 60; seed < 64; seed++) {
    const plain = planPhantom({ seed, spacing: COARSE });
    const shadowed = planPhantom({ seed, spacing: COARSE, contactShadow: true });
    const c = shadowed.anatomy.contact!;
    expect(c.widthMm).toBeGreaterThanOrEqual(4);
    expect(c.widthMm).toBeLessThanOrEqual(18);
    expect(shadowed.lesions).toEqual(plain.lesions);
    expect(shadowed.clickCenter).toEqual(plain.clickCenter);
  }
  // The band the shadow covers, against the same band without it (a case the generator left unshadowed).
  const seed = [60, 61, 62, 63].find((s) => planPhantom({ seed: s, spacing: COARSE }).anatomy.contact === null)!;
  const [plain, shadowed] = [false, true].map((contactShadow) => generatePhantom({ seed, spacing: COARSE, contactShadow }));
  const { axis, fromLow } = planPhantom({ seed, spacing: COARSE, contactShadow: true }).anatomy.contact!;
  const [nx, ny, nz] = plain.volume.dims;
  const n = axis === 0 ? nx : nz;
  const faceBand = (p: Phantom) => {
    let s = 0;
    let count = 0;
    for (let k = 0; k < nz; k++)
      for (let j = 0; j < ny; j++)
        for (let i = 0; i < nx; i++) {
          const along = axis === 0 ? i : k;
          if ((fromLow ? along : n - 1 - along) >= Math.round(3 / p.volume.spacing[axis])) continue;
          s += p.volume.data[i + nx * (j + ny * k)];
          count++;
        }
    return s / count;
  };
  expect(faceBand(shadowed)).toBeLessThan(faceBand(plain) - 5);
});

test('a detection set: 0-3 lesions in turn, anywhere in the volume, inside it and apart', () => {
  const counts: number[] = [];
  let offCentre = 0;
  for (let n = 0; n < 16; n++) {
    const count = (n % 4) as 0 | 1 | 2 | 3;
    const plan = planPhantom({ seed: 900 + n, lesionCount: count, lesionsAnywhere: true, sizeMm: [120, 44, 120] });
    const [nx, ny, nz] = plan.geometry.dims;
    counts.push(plan.lesions.length);
    expect(plan.lesions.length).toBeLessThanOrEqual(count);
    for (const l of plan.lesions) {
      const [x, y, z] = l.centerIndex;
      expect(x >= 0 && x < nx && y >= 0 && y < ny && z >= 0 && z < nz).toBe(true);
      // Not held near the centre as a crop's main lesion is (within 4 mm there).
      if (Math.abs(l.centerMm[0] - 60) > 10 || Math.abs(l.centerMm[2] - 60) > 10) offCentre++;
    }
    plan.lesions.forEach((a, i) => plan.lesions.slice(i + 1).forEach((b) => expect(Math.hypot(...a.centerMm.map((v, c) => v - b.centerMm[c]))).toBeGreaterThan(3)));
  }
  // Nearly every volume gets all it asked for; lesions spread over the whole volume.
  expect(counts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(22);
  expect(offCentre).toBeGreaterThan(12);
});

describe('dataset', () => {
  const dir = path.join(tmp, 'ds');
  let seed = 0;
  let index: ReturnType<typeof writePhantomDataset>;
  const progress: number[] = [];
  beforeAll(() => {
    // A dataset seed whose case 1 has no lesion, so the negative handling is exercised.
    while (planPhantom({ seed: phantomCaseSeed(seed, 1), spacing: COARSE }).lesions.length !== 0) seed++;
    index = writePhantomDataset(dir, { count: 3, seed, formats: ['nrrd', 'dicom', 'dicom-multiframe'], phantom: { spacing: COARSE } }, (done) => progress.push(done));
  });

  test('has the TDSC-ABUS layout; negatives are written but not labelled', () => {
    expect(progress).toEqual([1, 2, 3]);
    for (const name of ['DATA_000.nrrd', 'MASK_000.nrrd', 'DATA_002.nrrd', 'MASK_002.nrrd', 'labels.csv', 'phantoms.json', 'dicom-multiframe/DATA_000.dcm']) {
      expect(fs.existsSync(path.join(dir, name))).toBe(true);
    }
    const lines = fs.readFileSync(path.join(dir, 'labels.csv'), 'utf8').trim().split('\n');
    expect(lines[0]).toBe('case_id,label,data_path,mask_path');
    expect(lines.slice(1)).toEqual(
      index.cases.filter((c) => c.case_id !== 1).map((c) => `${c.case_id},${c.label},DATA_00${c.case_id}.nrrd,MASK_00${c.case_id}.nrrd`),
    );
    expect(lines.slice(1).every((l) => /^\d+,[MB],DATA_\d{3}\.nrrd,MASK_\d{3}\.nrrd$/.test(l))).toBe(true);
    const read = readPhantomIndex(dir);
    expect(read.negatives).toEqual([1]);
    expect(read.cases[1].lesions).toEqual([]);
    expect(read.cases[1].label).toBeNull();
    expect(read.cases[0].lesions[0].features.shape).toMatch(/oval|round|irregular/);
    expect(read.cases[0].spacing).toEqual(COARSE);
    expect(sum(parseNrrd(fs.readFileSync(path.join(dir, 'MASK_001.nrrd')), { codec: nodeGzipCodec() }).data)).toBe(0);
  });

  test('every case is its own study and patient; the UIDs come from the seed', () => {
    expect(new Set(index.cases.map((c) => c.study_instance_uid)).size).toBe(3);
    expect(new Set(index.cases.map((c) => c.patient_id)).size).toBe(3);
    const again = writePhantomDataset(path.join(tmp, 'ds-again'), { count: 1, seed, formats: ['dicom-multiframe'], phantom: { spacing: COARSE } });
    expect(again.cases[0].study_instance_uid).toBe(index.cases[0].study_instance_uid);
    expect(again.cases[0].data_path).toBe('dicom-multiframe/DATA_000.dcm');
    expect(fs.readFileSync(path.join(tmp, 'ds-again', 'dicom-multiframe/DATA_000.dcm')).equals(fs.readFileSync(path.join(dir, 'dicom-multiframe/DATA_000.dcm')))).toBe(true);
  });

  test('NRRD, single-frame DICOM and multi-frame DICOM agree voxel for voxel', () => {
    const nrrd = parseNrrd(fs.readFileSync(path.join(dir, 'DATA_000.nrrd')), { codec: nodeGzipCodec() });
    const series = readDicomFolder(path.join(dir, 'dicom', 'DATA_000'));
    const multi = readDicomSeries([fs.readFileSync(path.join(dir, 'dicom-multiframe', 'DATA_000.dcm'))]);
    const expected = generatePhantom({ seed: index.cases[0].seed, spacing: COARSE });
    for (const v of [nrrd, series, multi]) {
      expect(v.dims).toEqual(expected.volume.dims);
      v.spacing.forEach((s, c) => expect(s).toBeCloseTo(COARSE[c], 6));
      expect(Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength).equals(Buffer.from(expected.volume.data.buffer))).toBe(true);
    }
    expect(series.assumedGeometry).toEqual([]);
  });
});

describe('preview', () => {
  test('the preview is a PNG of three planes with a coloured outline', () => {
    const p = generatePhantom({ seed: 21, spacing: COARSE, lesionCount: 1, malignant: true });
    const png = PNG.sync.read(Buffer.from(renderPreview(p)));
    // Coronal (i x k), transverse (i x j), sagittal (k x j) at 0.25 mm, 6-pixel gaps; the crop spans 79.2 x 39.6 x 79 mm.
    expect(png.width).toBe(317 + 6 + 317 + 6 + 317);
    expect(png.height).toBe(317);
    let red = 0;
    for (let n = 0; n < png.data.length; n += 4) if (png.data[n] === 255 && png.data[n + 1] === 50) red++;
    expect(red).toBeGreaterThan(50);
  });
});

describe('class separability ceiling', () => {
  test('an oracle that knows every true BI-RADS feature reaches an AUC of about 0.95, not 1', () => {
    const { featureOracleAuc } = require('./oracle') as typeof import('./oracle');
    const { auc, lesions } = featureOracleAuc(99, 600);
    console.log(`feature-oracle AUC ${auc.toFixed(3)} over ${lesions} planned lesions`);
    expect(lesions).toBeGreaterThan(550);
    expect(auc).toBeGreaterThan(0.9);
    expect(auc).toBeLessThan(0.99);
  });
});
