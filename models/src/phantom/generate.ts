/**
 * Synthetic ABUS volumes with known truth: anatomy, lesions and a simple image-formation model.
 *
 * Axes as everywhere in the engine: i lateral, j depth (away from the skin), k sweep; physical
 * coordinates x = i*si, y = j*sj, z = k*sk (mm, origin 0, identity direction).
 *
 * Image formation, one sweep slice at a time so that memory stays at a few slices of floats:
 *   echogenicity E (tissue amplitude) x attenuation gain (cumulative along each beam: incomplete
 *   TGC, lesion shadowing/enhancement, rib and nipple shadows)
 *   -> complex scatterers (random amplitudes modulated by that product)
 *   -> separable Gaussian point-spread function along i, j (in the slice) and k (across a ring
 *      of slices). The PSF's axial carrier is left out: it only rotates the phase of circular
 *      complex noise, so the envelope statistics are the same without it.
 *   -> envelope |.| (Rayleigh speckle) -> log compression to 8 bits.
 */
import { indexToPatient, IDENTITY_DIRECTION, Vec3, Volume, VolumeGeometry } from '../volume';
import { buildLesion, LesionFeatures, LesionModel, lesionRatio, sampleFeatures, SPICULE_DEPTH_STRETCH, spiculeAt } from './lesion';
import { hashSeed, Rng } from './random';

// Bound once: inside jest's vm sandbox every `Math.` lookup is slow, and these run per voxel.
const { LN10, PI, abs, atan, atan2, ceil, cos, exp, floor, hypot, log, max, min, round, sin, sqrt } = Math;

export interface PhantomOptions {
  seed: number;
  /** Real TDSC-ABUS size (865 x 608 x 330 voxels of 0.2 x 0.073 x 0.476 mm) instead of a crop. */
  fullSize?: boolean;
  /** Voxel spacing of a crop (mm); default CROP_SPACING. Coarser spacing makes quick tests. */
  spacing?: Vec3;
  /** Force the number of lesions (0 = a negative case) and the main lesion's class. */
  lesionCount?: 0 | 1 | 2;
  malignant?: boolean;
}

export interface LesionInfo {
  /** Voxel index of the centre (integers) and its patient position (mm). */
  centerIndex: Vec3;
  centerMm: Vec3;
  malignant: boolean;
  /** Volume of the lesion's mask shape (mL = cm^3). */
  volume_ml: number;
  /** Extent of the mask along i, j, k (mm). */
  extentMm: Vec3;
  features: LesionFeatures;
}

export interface Phantom {
  seed: number;
  volume: Volume;
  /** Same geometry, 1 inside any lesion, 0 elsewhere. */
  mask: Volume;
  /** Main lesion first; empty for a negative case. */
  lesions: LesionInfo[];
  /** Where a reader would click: near the main lesion's centre, or a random tissue point. */
  clickCenter: Vec3;
}

/** Default crop: 80 x 40 x 80 mm at 0.4 x 0.2 x 0.5 mm (200 x 200 x 160 voxels, 6.4 MB). */
export const CROP_SIZE_MM: Vec3 = [80, 40, 80];
export const CROP_SPACING: Vec3 = [0.4, 0.2, 0.5];
export const FULL_DIMS: Vec3 = [865, 608, 330];
export const FULL_SPACING: Vec3 = [0.2, 0.073, 0.476];
/** Gaussian PSF standard deviation (mm): lateral, axial, elevational (a 10-14 MHz linear array). */
const PSF_SIGMA_MM: Vec3 = [0.35, 0.16, 0.5];
/** Incoherent smoothing of the intensity (mm, i and j), like a scanner's speckle reduction. */
const SMOOTH_SIGMA_MM = [0.3, 0.12];
/**
 * In a crop the main lesion lies within CROP_JITTER_MM of the centre (i and k) and the click within
 * CLICK_JITTER_MM of the lesion, so the engine's 64 mm VOI around the click stays inside the 80 mm crop.
 */
const CROP_JITTER_MM = 4;
const CLICK_JITTER_MM = 2;
export const P_NO_LESION = 0.08;
export const P_TWO_LESIONS = 0.12;
export const VOLUME_RANGE_ML: [number, number] = [0.1, 15];

// Tissue amplitudes (fat = 0.22). Log compression maps one decade to 127 grey levels.
const GEL = 0.01;
const SKIN_LINE = 2.2;
const DERMIS = 0.8;
const FAT = 0.22;
const LIGAMENT = 1.3;
const GLAND = 0.75;
const FASCIA = 1.2;
const MUSCLE = 0.2;
const STRIATION = 0.55;
const RIB_SURFACE = 3.2;
const RIB = 0.3;
const PLEURA = 2.0;
const LUNG = 0.45;
const NIPPLE = 0.13;
const DUCT = 0.05;
const DYNAMIC_RANGE_DB = 42;
const GREY_AT_UNIT = 178;

export function generatePhantom(options: PhantomOptions): Phantom {
  const plan = planPhantom(options);
  const { image, mask } = render(plan.renderSeed, plan.anatomy, plan.placed, plan.geometry.dims, plan.geometry.spacing);
  return {
    seed: options.seed,
    volume: { ...plan.geometry, data: image },
    mask: { ...plan.geometry, data: mask },
    lesions: plan.lesions,
    clickCenter: plan.clickCenter,
  };
}

/** Everything but the pixels: cheap, for statistics over many cases. */
export interface PhantomPlan {
  geometry: VolumeGeometry;
  lesions: LesionInfo[];
  clickCenter: Vec3;
  anatomy: Anatomy;
  placed: Placed[];
  renderSeed: number;
}

export function planPhantom(options: PhantomOptions): PhantomPlan {
  const rng = new Rng(hashSeed('phantom', options.seed));
  const full = options.fullSize === true;
  const spacing: Vec3 = full ? [...FULL_SPACING] : [...(options.spacing ?? CROP_SPACING)];
  const dims: Vec3 = full ? [...FULL_DIMS] : (CROP_SIZE_MM.map((mm, c) => round(mm / spacing[c])) as Vec3);
  const size = dims.map((n, c) => (n - 1) * spacing[c]) as Vec3;
  const anatomy = sampleAnatomy(rng, size, full);

  const count = options.lesionCount ?? (rng.bool(P_NO_LESION) ? 0 : rng.bool(P_TWO_LESIONS / (1 - P_NO_LESION)) ? 2 : 1);
  const placed = placeLesions(rng, anatomy, size, full, count, options.malignant);
  const geometry: VolumeGeometry = { dims, spacing, origin: [0, 0, 0], direction: [...IDENTITY_DIRECTION] };
  const lesions: LesionInfo[] = placed.map(({ model, center }) => {
    const centerIndex = center.map((mm, c) => round(mm / spacing[c])) as Vec3;
    return {
      centerIndex,
      centerMm: indexToPatient(geometry, centerIndex).map((v) => roundTo(v, 1e-6)) as Vec3,
      malignant: model.malignant,
      volume_ml: roundTo(model.volumeMl, 1e-5),
      extentMm: model.extentMm.map((e) => roundTo(2 * e, 1e-3)) as Vec3,
      features: model.features,
    };
  });
  // Snap the models onto the reported voxel centres so the mask and the info agree exactly.
  placed.forEach((p, n) => (p.center = lesions[n].centerIndex.map((i, c) => i * spacing[c]) as Vec3));
  const clickCenter = chooseClick(rng, anatomy, size, spacing, full, placed);
  return { geometry, lesions, clickCenter, anatomy, placed, renderSeed: rng.next() };
}

/** Rounded to a multiple of `step`, so the truth files read cleanly (44.8, not 44.800000000000004). */
export function roundTo(x: number, step: number): number {
  return Number((round(x / step) * step).toPrecision(12)) + 0; // + 0: no -0
}

// ---------------------------------------------------------------------------------------------
// Anatomy: layer surfaces as smooth functions of (x, z), plus 3-D noise for lobules and texture.

interface Wave {
  amp: number;
  kx: number;
  kz: number;
  phase: number;
}

export interface Anatomy {
  skinMm: number;
  fatMm: number;
  glandThickMm: number;
  muscleTopMm: number;
  muscleThickMm: number;
  waves: Wave[][];
  ribs: { spacingMm: number; phaseMm: number; slope: number; halfWidthMm: number; belowMuscleMm: number; pleuraMm: number };
  nipple: { x: number; z: number; radiusMm: number; depthMm: number; ducts: number[] } | null;
  contact: { axis: 0 | 2; fromLow: boolean; widthMm: number; db: number } | null;
  tgcDbPerMm: number;
  striationMm: number;
  striationSlope: number;
  ligamentWidth: number;
}

function sampleAnatomy(rng: Rng, size: Vec3, full: boolean): Anatomy {
  // Each layer surface undulates as a sum of a few plane waves (unit total power, so about +-1).
  const waves = Array.from({ length: 4 }, () => {
    const ws = Array.from({ length: 5 }, () => {
      const lambda = rng.uniform(15, 70);
      const theta = rng.uniform(0, PI);
      return { amp: rng.uniform(0.2, 1), kx: (2 * PI * cos(theta)) / lambda, kz: (2 * PI * sin(theta)) / lambda, phase: rng.uniform(0, 2 * PI) };
    });
    const norm = sqrt(ws.reduce((acc, w) => acc + w.amp * w.amp, 0) / 2);
    return ws.map((w) => ({ ...w, amp: w.amp / norm }));
  });
  const muscleTopMm = rng.uniform(26, size[1] - 6);
  const fatMm = rng.uniform(3.5, 9);
  const spacingMm = rng.uniform(18, 26);
  const centre = [size[0] / 2, size[2] / 2];
  let nipple: Anatomy['nipple'] = null;
  const ducts = Array.from({ length: rng.int(7, 12) }, () => rng.uniform(0, 2 * PI));
  if (full) {
    nipple = { x: centre[0] + rng.uniform(-12, 12), z: centre[1] + rng.uniform(-12, 12), radiusMm: rng.uniform(5, 7.5), depthMm: rng.uniform(4, 7), ducts };
  } else {
    // A crop holds the nipple now and then; otherwise ducts may still run in from one outside.
    const inside = rng.bool(0.25);
    const angle = rng.uniform(0, 2 * PI);
    const dist = inside ? rng.uniform(20, 30) : rng.uniform(45, 80);
    nipple = { x: centre[0] + dist * cos(angle), z: centre[1] + dist * sin(angle), radiusMm: rng.uniform(5, 7), depthMm: rng.uniform(4, 6.5), ducts };
  }
  const contact = rng.bool(full ? 0.5 : 0.1)
    ? { axis: rng.choice([0, 2] as const), fromLow: rng.bool(0.5), widthMm: rng.uniform(4, full ? 18 : 8), db: rng.uniform(10, 30) }
    : null;
  return {
    skinMm: rng.uniform(1.3, 2.0),
    fatMm,
    glandThickMm: rng.uniform(10, max(11, muscleTopMm - fatMm - 3)),
    muscleTopMm,
    muscleThickMm: rng.uniform(4, 8),
    waves,
    ribs: { spacingMm, phaseMm: rng.uniform(0, spacingMm), slope: rng.uniform(-0.35, 0.35), halfWidthMm: rng.uniform(5, 7), belowMuscleMm: rng.uniform(0.5, 2), pleuraMm: rng.uniform(3, 5) },
    nipple,
    contact,
    tgcDbPerMm: rng.uniform(0.05, 0.2),
    striationMm: rng.uniform(1.3, 2.4),
    striationSlope: rng.uniform(-0.12, 0.12),
    ligamentWidth: rng.uniform(0.035, 0.06),
  };
}

function wave(ws: Wave[], x: number, z: number): number {
  let s = 0;
  for (const w of ws) s += w.amp * sin(w.kx * x + w.kz * z + w.phase);
  return s;
}

/** Per-column (x, z) layer depths (mm), filled for one sweep slice. */
class Columns {
  fatBottom: Float64Array;
  glandBottom: Float64Array;
  muscleTop: Float64Array;
  muscleBottom: Float64Array;
  ribTop: Float64Array;
  pleura: Float64Array;
  nippleBottom: Float64Array;
  ductDepth: Float64Array;
  ductHalf: Float64Array;
  contactDb: Float64Array;

  constructor(n: number) {
    [this.fatBottom, this.glandBottom, this.muscleTop, this.muscleBottom, this.ribTop, this.pleura, this.nippleBottom, this.ductDepth, this.ductHalf, this.contactDb] =
      Array.from({ length: 10 }, () => new Float64Array(n));
  }

  fill(a: Anatomy, xs: Float64Array, z: number, size: Vec3): void {
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i];
      const fat = a.fatMm + 1.8 * wave(a.waves[0], x, z);
      const muscleTop = a.muscleTopMm + 1.5 * wave(a.waves[2], x, z);
      this.fatBottom[i] = fat;
      this.glandBottom[i] = min(fat + a.glandThickMm + 2.5 * wave(a.waves[1], x, z), muscleTop - 1.5);
      this.muscleTop[i] = muscleTop;
      this.muscleBottom[i] = muscleTop + a.muscleThickMm + 0.8 * wave(a.waves[3], x, z);
      // Ribs run roughly along i, one every spacingMm along k; the pleura lies deeper between them.
      const r = a.ribs;
      this.pleura[i] = this.muscleBottom[i] + r.belowMuscleMm + r.pleuraMm;
      const u = (z - r.slope * x - r.phaseMm) / r.spacingMm;
      const across = (u - round(u)) * r.spacingMm * cos(atan(r.slope));
      // The rib's rounded top: deepest at its edges.
      this.ribTop[i] = abs(across) < r.halfWidthMm ? this.muscleBottom[i] + r.belowMuscleMm + 2.2 * (across / r.halfWidthMm) ** 2 : Infinity;
      this.nippleBottom[i] = -1;
      this.ductDepth[i] = -100;
      this.ductHalf[i] = 0;
      if (a.nipple) {
        const n = a.nipple;
        const [dx, dz] = [x - n.x, z - n.z];
        const rho = hypot(dx, dz);
        if (rho < n.radiusMm) this.nippleBottom[i] = a.skinMm + n.depthMm * sqrt(1 - (rho / n.radiusMm) ** 2);
        // Ducts converge on the nipple in the coronal plane, running from its base down into the gland.
        const reach = 45;
        if (rho > n.radiusMm * 0.6 && rho < reach) {
          const phi = atan2(dz, dx);
          for (const duct of n.ducts) {
            let d = abs(phi - duct) % (2 * PI);
            if (d > PI) d = 2 * PI - d;
            const t = rho / reach;
            const half = 1.2 - 0.6 * t;
            if (d * rho < half) {
              this.ductDepth[i] = a.skinMm + n.depthMm * (1 - t) + (fat + 2) * t;
              this.ductHalf[i] = half * 0.7;
              break;
            }
          }
        }
      }
      this.contactDb[i] = 0;
      if (a.contact) {
        const c = a.contact;
        const pos = c.axis === 0 ? x : z;
        const from = c.fromLow ? pos : size[c.axis] - pos;
        const edge = c.widthMm + 3 * wave(a.waves[3], z, x);
        if (from < edge + 2) this.contactDb[i] = c.db * min(1, (edge + 2 - from) / 4);
      }
    }
  }
}

/** Value noise on a lattice (cells in mm), evaluated a row at a time for speed. */
class LatticeNoise {
  private values: Float64Array;
  private n: Vec3;
  private origin: Vec3;
  private line: Float64Array;
  private x0: Int32Array;
  private wx: Float64Array;

  constructor(rng: Rng, private cell: Vec3, lo: Vec3, hi: Vec3, xs: Float64Array) {
    this.n = [0, 1, 2].map((c) => ceil((hi[c] - lo[c]) / cell[c]) + 3) as Vec3;
    this.origin = [lo[0] - cell[0], lo[1] - cell[1], lo[2] - cell[2]];
    this.values = new Float64Array(this.n[0] * this.n[1] * this.n[2]);
    for (let i = 0; i < this.values.length; i++) this.values[i] = rng.uniform(-1, 1);
    this.line = new Float64Array(this.n[0]);
    this.x0 = new Int32Array(xs.length);
    this.wx = new Float64Array(xs.length);
    xs.forEach((x, i) => {
      const f = (x - this.origin[0]) / cell[0];
      this.x0[i] = floor(f);
      this.wx[i] = smooth(f - floor(f));
    });
  }

  /** Adds weight * noise(x_i, y, z) to out[i] for every column i. */
  addRow(y: number, z: number, weight: number, out: Float64Array): void {
    const fy = (y - this.origin[1]) / this.cell[1];
    const fz = (z - this.origin[2]) / this.cell[2];
    const y0 = max(0, min(this.n[1] - 2, floor(fy)));
    const z0 = max(0, min(this.n[2] - 2, floor(fz)));
    const wy = smooth(min(1, max(0, fy - y0)));
    const wz = smooth(min(1, max(0, fz - z0)));
    const nx = this.n[0];
    const v = this.values;
    for (let x = 0; x < nx; x++) {
      const b = x + nx * (y0 + this.n[1] * z0);
      const a00 = v[b] + (v[b + nx] - v[b]) * wy;
      const b1 = b + nx * this.n[1];
      const a01 = v[b1] + (v[b1 + nx] - v[b1]) * wy;
      this.line[x] = a00 + (a01 - a00) * wz;
    }
    const { line, x0, wx } = this;
    for (let i = 0; i < out.length; i++) {
      const a = x0[i];
      out[i] += weight * (line[a] + (line[a + 1] - line[a]) * wx[i]);
    }
  }
}

function smooth(t: number): number {
  return t * t * (3 - 2 * t);
}

// ---------------------------------------------------------------------------------------------
// Lesions: class, features, volume, position.

export interface Placed {
  model: LesionModel;
  /** Centre in mm (x, y, z). */
  center: Vec3;
}

function placeLesions(rng: Rng, a: Anatomy, size: Vec3, full: boolean, count: number, malignant?: boolean): Placed[] {
  const placed: Placed[] = [];
  const top = a.skinMm + 1.5;
  const bottom = a.muscleTopMm + 1.5;
  const limits = { maxHalfDepthMm: (bottom - top) / 2, maxHalfWidthMm: full ? 35 : 26 };
  for (let n = 0; n < count; n++) {
    const isMain = n === 0;
    const cls = isMain && malignant !== undefined ? malignant : rng.bool(0.5);
    const features = sampleFeatures(rng, cls);
    // Same volume distribution for both classes; a second lesion is kept smaller so it fits.
    const volume = isMain ? rng.logUniform(...VOLUME_RANGE_ML) : rng.logUniform(VOLUME_RANGE_ML[0], 3);
    const model = buildLesion(rng, cls, features, volume, limits);
    const ext = model.extentMm;
    const yLo = top + ext[1];
    const yHi = bottom - ext[1];
    const y = yLo < yHi ? rng.uniform(yLo, yHi) : (top + bottom) / 2;
    if (isMain) {
      const margin = full ? 35 : 0;
      const x = full ? rng.uniform(margin, size[0] - margin) : size[0] / 2 + rng.uniform(-CROP_JITTER_MM, CROP_JITTER_MM);
      const z = full ? rng.uniform(margin, size[2] - margin) : size[2] / 2 + rng.uniform(-CROP_JITTER_MM, CROP_JITTER_MM);
      placed.push({ model, center: [x, y, z] });
      continue;
    }
    // Elsewhere in the volume, clear of the main lesion (its reach plus a gap) and of the edges.
    const main = placed[0];
    const reach = (m: LesionModel) => max(...m.reachMm);
    for (let tries = 0; tries < 60; tries++) {
      const x = rng.uniform(model.reachMm[0] + 1, size[0] - model.reachMm[0] - 1);
      const z = rng.uniform(model.reachMm[2] + 1, size[2] - model.reachMm[2] - 1);
      const d = hypot(x - main.center[0], y - main.center[1], z - main.center[2]);
      if (d > reach(main.model) + reach(model) + 3) {
        placed.push({ model, center: [x, y, z] });
        break;
      }
    }
  }
  return placed;
}

function chooseClick(rng: Rng, a: Anatomy, size: Vec3, spacing: Vec3, full: boolean, placed: Placed[]): Vec3 {
  let mm: Vec3;
  if (placed.length) {
    // A reader clicks near the middle of the mass, not exactly on it.
    const { center, model } = placed[0];
    mm = center.map((c, ax) => {
      const limit = min(CLICK_JITTER_MM, 0.3 * model.extentMm[ax]);
      return c + max(-limit, min(limit, rng.normal(0, 0.1 * model.extentMm[ax])));
    }) as Vec3;
  } else {
    const margin = full ? 35 : 0;
    const jitter = CROP_JITTER_MM + CLICK_JITTER_MM;
    const x = full ? rng.uniform(margin, size[0] - margin) : size[0] / 2 + rng.uniform(-jitter, jitter);
    const z = full ? rng.uniform(margin, size[2] - margin) : size[2] / 2 + rng.uniform(-jitter, jitter);
    mm = [x, rng.uniform(a.fatMm + 2, a.muscleTopMm - 3), z];
  }
  return mm.map((v, c) => max(0, min(round(v / spacing[c]), round(size[c] / spacing[c])))) as Vec3;
}

// ---------------------------------------------------------------------------------------------
// Rendering

function gaussianKernel(sigmaMm: number, spacingMm: number): Float64Array {
  const s = sigmaMm / spacingMm;
  const half = max(1, ceil(2 * s));
  const w = Float64Array.from({ length: 2 * half + 1 }, (_, t) => exp(-0.5 * ((t - half) / max(s, 0.3)) ** 2));
  // Unit energy: a field of unit-variance scatterers keeps unit variance after filtering.
  const norm = sqrt(w.reduce((acc, v) => acc + v * v, 0));
  return w.map((v) => v / norm);
}

/**
 * Log compression by table: grey = GREY_AT_UNIT + (255 / DR) * 10 log10(|field|^2 / 2), so unit
 * amplitude maps to GREY_AT_UNIT before speckle. The table is indexed by the float32 bit pattern
 * of the power without its low 13 mantissa bits (0.1% steps), several times faster than log.
 */
function logCompressor(): { pow32: Float32Array; bits32: Uint32Array; greyLut: Uint8Array } {
  const pow32 = new Float32Array(1);
  const bits32 = new Uint32Array(pow32.buffer);
  const greyLut = new Uint8Array(1 << 19);
  const lnToGrey = (255 / DYNAMIC_RANGE_DB) * (10 / LN10);
  const offset = GREY_AT_UNIT - lnToGrey * log(2);
  for (let n = 0; n < greyLut.length; n++) {
    bits32[0] = (n << 13) | 0x1000; // the middle of the bucket
    const p = pow32[0];
    const grey = p > 0 && Number.isFinite(p) ? offset + lnToGrey * log(p) : p > 0 ? 255 : 0;
    greyLut[n] = grey < 0 ? 0 : grey > 255 ? 255 : round(grey);
  }
  return { pow32, bits32, greyLut };
}

/** Normalised (unit-sum) Gaussian for smoothing intensities; at least 3 taps. */
function smoothingKernel(sigmaMm: number, spacingMm: number): Float64Array {
  const s = max(0.5, sigmaMm / spacingMm);
  const half = max(1, round(2 * s));
  const w = Float64Array.from({ length: 2 * half + 1 }, (_, t) => exp(-0.5 * ((t - half) / s) ** 2));
  const sum = w.reduce((a, v) => a + v, 0);
  return w.map((v) => v / sum);
}

/** Separable smoothing of an nx x ny slice in place (`tmp` is scratch of the same size); edges clamp. */
function smoothSlice(data: Float64Array, tmp: Float64Array, nx: number, ny: number, ki: Float64Array, kj: Float64Array): void {
  const hi = (ki.length - 1) / 2;
  const hj = (kj.length - 1) / 2;
  for (let j = 0; j < ny; j++) {
    const row = j * nx;
    for (let i = 0; i < nx; i++) {
      let acc = 0;
      if (i >= hi && i < nx - hi) {
        for (let t = 0, at = row + i - hi; t < ki.length; t++, at++) acc += ki[t] * data[at];
      } else {
        for (let t = 0; t < ki.length; t++) acc += ki[t] * data[row + min(nx - 1, max(0, i + t - hi))];
      }
      tmp[row + i] = acc;
    }
  }
  for (let j = 0; j < ny; j++) {
    const dst = j * nx;
    for (let i = 0; i < nx; i++) data[dst + i] = 0;
    for (let t = 0; t < kj.length; t++) {
      const w = kj[t];
      const src = min(ny - 1, max(0, j + t - hj)) * nx;
      for (let i = 0; i < nx; i++) data[dst + i] += w * tmp[src + i];
    }
  }
}

interface LesionBox {
  model: LesionModel;
  center: Vec3;
  lo: Vec3;
  hi: Vec3;
  spiculeReach2: number;
}

function render(seed: number, a: Anatomy, placed: Placed[], dims: Vec3, spacing: Vec3): { image: Uint8Array; mask: Uint8Array } {
  const rng = new Rng(hashSeed('render', seed));
  const [nx, ny, nz] = dims;
  const [sx, sy, sz] = spacing;
  const size = dims.map((n, c) => (n - 1) * spacing[c]) as Vec3;
  const ki = gaussianKernel(PSF_SIGMA_MM[0], sx);
  const smoothI = smoothingKernel(SMOOTH_SIGMA_MM[0], sx);
  const smoothJ = smoothingKernel(SMOOTH_SIGMA_MM[1], sy);
  const kj = gaussianKernel(PSF_SIGMA_MM[1], sy);
  const kk = gaussianKernel(PSF_SIGMA_MM[2], sz);
  const [hi, hj, hk] = [ki, kj, kk].map((k) => (k.length - 1) / 2);
  const W = nx + 2 * hi;
  const H = ny + 2 * hj;
  const xs = Float64Array.from({ length: W }, (_, i) => (i - hi) * sx);

  const lo: Vec3 = [-hi * sx, -hj * sy, -hk * sz];
  const top: Vec3 = [size[0] + hi * sx, size[1] + hj * sy, size[2] + hk * sz];
  const lig = [new LatticeNoise(rng, [4.5, 6, 4.5], lo, top, xs), new LatticeNoise(rng, [2.2, 3, 2.2], lo, top, xs)];
  const tex = [new LatticeNoise(rng, [1.4, 0.9, 1.4], lo, top, xs)];
  const cols = new Columns(W);
  const ligRow = new Float64Array(W);
  const texRow = new Float64Array(W);
  const cum = new Float64Array(W);
  const eRow = new Float64Array(W);
  const alphaRow = new Float64Array(W);

  const boxes: LesionBox[] = placed.map(({ model, center }) => ({
    model,
    center,
    // Voxel indices of the box that holds the lesion's reach (halo, spicules).
    lo: [0, 1, 2].map((c) => floor((center[c] - model.reachMm[c]) / spacing[c])) as Vec3,
    hi: [0, 1, 2].map((c) => ceil((center[c] + model.reachMm[c]) / spacing[c])) as Vec3,
    spiculeReach2: max(0, ...model.spicules.map((s) => s.end + SPICULE_DEPTH_STRETCH * s.halfWidth)) ** 2,
  }));

  // Gain (amplitude) for a cumulative attenuation in dB, tabulated at 0.05 dB.
  const GAIN_MIN_DB = -40;
  const gainLut = Float64Array.from({ length: 4000 }, (_, n) => 10 ** (-(GAIN_MIN_DB + n * 0.05) / 20));
  const { pow32, bits32, greyLut } = logCompressor();

  const image = new Uint8Array(nx * ny * nz);
  const mask = new Uint8Array(nx * ny * nz);
  const re = new Float64Array(W * H);
  const im = new Float64Array(W * H);
  const rowRe = new Float64Array(nx * H);
  const rowIm = new Float64Array(nx * H);
  const ringRe = Array.from({ length: kk.length }, () => new Float64Array(nx * ny));
  const ringIm = Array.from({ length: kk.length }, () => new Float64Array(nx * ny));
  const slice = nx * ny;

  for (let kp = 0; kp < nz + 2 * hk; kp++) {
    const k = kp - hk;
    const z = k * sz;
    cols.fill(a, xs, z, size);
    cum.fill(0);
    // Unit scatterers first; the tissue loop scales them by the local amplitude.
    rng.fillSymmetric(re);
    rng.fillSymmetric(im);
    for (let jp = 0; jp < H; jp++) {
      const j = jp - hj;
      const y = j * sy;
      ligRow.fill(0);
      texRow.fill(0);
      lig[0].addRow(y, z, 1, ligRow);
      lig[1].addRow(y, z, 0.5, ligRow);
      tex[0].addRow(y, z, 1, texRow);
      tissueRow(a, cols, xs, y, ligRow, texRow, eRow, alphaRow);
      const maskRow = k >= 0 && k < nz && j >= 0 && j < ny ? nx * (j + ny * k) - hi : -1;
      for (const box of boxes) {
        if (j >= box.lo[1] && j <= box.hi[1] && k >= box.lo[2] && k <= box.hi[2]) {
          lesionRow(box, xs, y, z, max(0, box.lo[0] + hi), min(W - 1, box.hi[0] + hi), texRow, eRow, alphaRow, maskRow >= 0 ? mask : null, maskRow, hi, hi + nx);
        }
      }
      // Attenuation accumulates down each beam; the electronic-noise floor grows with TGC gain.
      const rowBase = jp * W;
      const noiseFloor = 0.006 * (1 + max(0, y) / 15);
      for (let ip = 0; ip < W; ip++) {
        const c = cum[ip] + alphaRow[ip] * sy;
        cum[ip] = c;
        let g = ((c - GAIN_MIN_DB) * 20) | 0;
        g = g < 0 ? 0 : g > 3999 ? 3999 : g;
        const scale = eRow[ip] * gainLut[g] + noiseFloor;
        re[rowBase + ip] *= scale;
        im[rowBase + ip] *= scale;
      }
    }

    // The PSF along i (rows) and j (columns) within the slice.
    const nki = ki.length;
    for (let jp = 0; jp < H; jp++) {
      const src = jp * W;
      const dst = jp * nx;
      for (let i = 0; i < nx; i++) {
        let sr = 0;
        let sim = 0;
        for (let t = 0, at = src + i; t < nki; t++, at++) {
          sr += ki[t] * re[at];
          sim += ki[t] * im[at];
        }
        rowRe[dst + i] = sr;
        rowIm[dst + i] = sim;
      }
    }
    const slot = kp % kk.length;
    const outRe = ringRe[slot];
    const outIm = ringIm[slot];
    outRe.fill(0);
    outIm.fill(0);
    for (let j = 0; j < ny; j++) {
      const dst = j * nx;
      for (let t = 0; t < kj.length; t++) {
        const w = kj[t];
        const src = (j + t) * nx;
        for (let i = 0; i < nx; i++) {
          outRe[dst + i] += w * rowRe[src + i];
          outIm[dst + i] += w * rowIm[src + i];
        }
      }
    }

    // Once 2*hk + 1 slices are in the ring, the PSF along k gives the slice hk behind.
    const kOut = kp - 2 * hk;
    if (kOut < 0) continue;
    const out = image.subarray(kOut * slice, (kOut + 1) * slice);
    const accRe = rowRe.subarray(0, slice);
    const accIm = rowIm.subarray(0, slice);
    accRe.fill(0);
    accIm.fill(0);
    for (let t = 0; t < kk.length; t++) {
      const w = kk[t];
      const sr = ringRe[(kOut + t) % kk.length];
      const si = ringIm[(kOut + t) % kk.length];
      for (let n = 0; n < slice; n++) {
        accRe[n] += w * sr[n];
        accIm[n] += w * si[n];
      }
    }
    // Intensity, smoothed a little in the slice (the scanner's speckle reduction), then log-compressed.
    for (let n = 0; n < slice; n++) accRe[n] = accRe[n] * accRe[n] + accIm[n] * accIm[n];
    smoothSlice(accRe, accIm, nx, ny, smoothI, smoothJ);
    for (let n = 0; n < slice; n++) {
      pow32[0] = accRe[n];
      out[n] = greyLut[bits32[0] >>> 13];
    }
  }
  return { image, mask };
}

/** Echogenicity (amplitude) and extra attenuation (dB/mm) of the anatomy along one row. */
function tissueRow(a: Anatomy, cols: Columns, xs: Float64Array, y: number, lig: Float64Array, tex: Float64Array, e: Float64Array, alpha: Float64Array): void {
  const { fatBottom, glandBottom, muscleTop, muscleBottom, ribTop, pleura, nippleBottom, ductDepth, ductHalf, contactDb } = cols;
  const tgc = y > 0 ? a.tgcDbPerMm : 0;
  const skin = a.skinMm;
  if (y < 0 || y < skin) {
    const level = y < 0 ? GEL : y < 0.35 || y > skin - 0.3 ? SKIN_LINE : DERMIS;
    for (let i = 0; i < xs.length; i++) {
      e[i] = level;
      alpha[i] = tgc + contactDb[i] / skin;
    }
    return;
  }
  for (let i = 0; i < xs.length; i++) {
    const l = lig[i];
    const t = tex[i];
    let v: number;
    let extra = 0;
    if (y < nippleBottom[i]) {
      v = NIPPLE * (1 + 0.3 * t);
      extra = 2.3;
    } else if (y < muscleTop[i]) {
      // Fat above a boundary that the lobule noise makes interdigitate with the gland.
      if (abs(l) < a.ligamentWidth) v = LIGAMENT;
      else if (y < fatBottom[i] + 1.8 * l) v = FAT * (1 + 0.2 * t);
      else if (y < glandBottom[i] + 1.5 * l) v = l < -0.5 ? FAT : GLAND * (1 + 0.45 * t);
      else v = FAT * (1 + 0.2 * t);
      if (abs(y - ductDepth[i]) < ductHalf[i]) v = DUCT;
    } else if (y < muscleTop[i] + 0.35) v = FASCIA;
    else if (y < muscleBottom[i]) {
      // Fibro-fatty septa: thin echogenic lines, roughly along the muscle, a little oblique and wavy.
      const phase = (y - muscleTop[i] + a.striationSlope * xs[i]) / a.striationMm + 0.8 * l;
      v = phase - floor(phase) < 0.16 ? STRIATION : MUSCLE * (1 + 0.3 * t);
      extra = 0.05;
    } else if (y < muscleBottom[i] + 0.3) v = FASCIA;
    else if (y < ribTop[i]) {
      if (y < pleura[i]) v = MUSCLE * (1 + 0.3 * t);
      else if (y < pleura[i] + 0.4) v = PLEURA;
      else {
        v = LUNG * (1 + 0.5 * t);
        extra = 3;
      }
    } else if (y < ribTop[i] + 0.5) v = RIB_SURFACE;
    else {
      v = RIB; // bone: nearly everything is reflected, so a full shadow below
      extra = 25;
    }
    e[i] = v;
    alpha[i] = tgc + extra;
  }
}

/** Overrides a row's echogenicity/attenuation with a lesion (mass, halo, spicules) in columns i0..i1 (padded). */
function lesionRow(
  box: LesionBox, xs: Float64Array, y: number, z: number, i0: number, i1: number, tex: Float64Array,
  e: Float64Array, alpha: Float64Array, mask: Uint8Array | null, maskRow: number, maskLo: number, maskHi: number,
): void {
  const m = box.model;
  const py = y - box.center[1];
  const pz = z - box.center[2];
  for (let i = i0; i <= i1; i++) {
    const px = xs[i] - box.center[0];
    const s = lesionRatio(m, px, py, pz);
    if (s <= 1) {
      e[i] = FAT * lesionEcho(m, tex[i]);
      alpha[i] += m.attenuationDbPerMm;
      if (mask && i >= maskLo && i < maskHi) mask[maskRow + i] = 1;
      continue;
    }
    const r = sqrt(px * px + py * py + pz * pz);
    const outside = r * (1 - 1 / s);
    if (outside < m.haloMm) e[i] = max(e[i], FAT * m.haloLevel * (1 - (0.6 * outside) / m.haloMm) * (1 + 0.3 * tex[i]));
    if (m.spicules.length && r * r < box.spiculeReach2) {
      const sp = spiculeAt(m, px, py, pz);
      if (sp === 1) e[i] = FAT * min(0.5, m.echoLevel);
      else if (sp === 2) e[i] = LIGAMENT * 1.2;
    }
  }
}

function lesionEcho(m: LesionModel, t: number): number {
  if (m.texture < 0) return t > 0.15 ? 0.03 : m.echoLevel * (1 + 0.3 * t); // complex: cystic parts
  return m.echoLevel * max(0.1, 1 + m.texture * t);
}
