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
import { IDENTITY_DIRECTION, indexToPatient, Vec3, Volume, VolumeGeometry } from '@abus-tumor-ai/engine';
import { buildLesion, LesionFeatures, LesionModel, lesionRatio, sampleFeatures, SPICULE_DEPTH_STRETCH, spiculeAt, suspiciousCount } from './lesion';
import { hashSeed, Rng } from './random';

// Bound once: inside jest's vm sandbox every `Math.` lookup is slow, and these run per voxel.
const { LN10, PI, abs, atan, atan2, ceil, cos, exp, floor, hypot, log, max, min, round, sin, sqrt } = Math;

export interface PhantomOptions {
  seed: number;
  /** Real TDSC-ABUS size (865 x 608 x 330 voxels of 0.2 x 0.073 x 0.476 mm) instead of a crop. */
  fullSize?: boolean;
  /** Voxel spacing of a crop (mm); default CROP_SPACING. Coarser spacing makes quick tests. */
  spacing?: Vec3;
  /**
   * Force the number of lesions (0 = a negative case) and the main lesion's class. Lesions after
   * the first are placed where they fit; a crowded crop may hold fewer than asked.
   */
  lesionCount?: 0 | 1 | 2 | 3;
  malignant?: boolean;
  /** Crop size in mm [lateral, depth, sweep]; default CROP_SIZE_MM. Ignored when fullSize. */
  sizeMm?: Vec3;
  /** Draw imaging and anatomy parameters at random (domain randomisation). Default false = today's fixed look. */
  randomize?: boolean;
  /** Main lesion volume range in mL; default VOLUME_RANGE_ML. */
  volumeRangeMl?: [number, number];
  /**
   * Every lesion anywhere in the volume (clear of its edges), the main one too: the truth of a
   * whole-volume scan. Default: a crop's main lesion near its centre, a full volume's 35 mm from
   * its edges.
   */
  lesionsAnywhere?: boolean;
  /**
   * A crop's main lesion at this lateral (i) and sweep (k) position (mm from the crop's first
   * voxel) instead of near its centre; depth is drawn as usual. The same random draws are made
   * either way, so the lesion itself (class, shape, size, depth) does not change with it.
   */
  mainLesionMm?: [number, number];
  /**
   * Redraw the main lesion's class and features together until it shows at least this many of the
   * suspicious signs (suspiciousCount in lesion.ts): the masses a detector must not miss. Drawing
   * both together keeps P(malignant | features) as the tables give it (not with `malignant` set).
   */
  mainMinSuspicious?: number;
  /**
   * A poor-contact shadow at one face, drawn as a full volume's may be (4-18 mm wide), whatever the
   * generator's own draw: the hard negatives a detector needs, since a crop holds one only now and
   * then, and narrower. Its own random stream, so nothing else about the case changes.
   */
  contactShadow?: boolean;
}

/**
 * The imaging/appearance parameters a phantom was rendered with (all 1 / defaults when not randomised).
 * The layer depths and tgcDbPerMm are drawn per case in both modes; randomize only widens their ranges.
 */
export interface ImagingParams {
  /** PhantomOptions.randomize. */
  randomized: boolean;
  /** Multipliers of the PSF sigma along i, j, k: speckle grain size and resolution (1 = a 10-14 MHz linear array). */
  psfScale: Vec3;
  /** Speckle-reduction smoothing of the intensity: 0 none, 1 the default kernel, 2 a kernel twice as wide. */
  smoothScale: number;
  /** Fraction of voxels that hold a scatterer: 1 fully developed (Rayleigh) speckle; lower is sparser, spottier (K-like). */
  scattererDensity: number;
  /** Coherent (specular) to diffuse amplitude ratio of the echo: 0 Rayleigh, above 0 Rician. */
  coherentRatio: number;
  /** Log compression: this many dB span the 255 grey levels. */
  dynamicRangeDb: number;
  /** Grey level of unit tissue amplitude before speckle: the overall gain. */
  greyAtUnit: number;
  /** Grey map after log compression, grey = 255 (grey / 255)^greyGamma; 1 = linear. */
  greyGamma: number;
  /** Attenuation left after time-gain compensation (dB per mm of depth); negative = over-compensated. */
  tgcDbPerMm: number;
  /** Multiplier of the tissues' own extra attenuation (nipple, muscle, lung, rib shadows). */
  attenuationScale: number;
  /** Multiplier of the electronic-noise floor. */
  noiseFloor: number;
  /** Multiplier of the gland's echogenicity (fat is the reference). */
  glandEcho: number;
  /** Exponent on each lesion's echo level relative to fat: below 1 toward isoechoic, above 1 toward anechoic. */
  lesionContrast: number;
  /** Multiplier of the lesions' posterior shadowing or enhancement (their attenuationDbPerMm). */
  posteriorScale: number;
  /** Layer depths below the skin surface (mm): skin thickness, bottom of the subcutaneous fat, gland thickness, pectoral fascia. */
  skinMm: number;
  fatMm: number;
  glandThickMm: number;
  muscleTopMm: number;
}

export type TissueKind = 'fat' | 'ligament' | 'gland' | 'near-skin' | 'near-chest-wall';
export interface TissueSite {
  index: Vec3;
  kind: TissueKind;
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
  imaging: ImagingParams;
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
/** With randomize (and no volumeRangeMl) the main lesion's equivalent-sphere diameter is log-uniform in this range (mm). */
export const RANDOM_LESION_DIAMETER_MM: [number, number] = [3, 30];

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

/** The plan behind each generated phantom, for normalTissueSites (which needs the anatomy, not just the pixels). */
const plans = new WeakMap<Phantom, PhantomPlan>();

export function generatePhantom(options: PhantomOptions): Phantom {
  const plan = planPhantom(options);
  const { image, mask } = render(plan);
  const phantom: Phantom = {
    seed: options.seed,
    volume: { ...plan.geometry, data: image },
    mask: { ...plan.geometry, data: mask },
    lesions: plan.lesions,
    clickCenter: plan.clickCenter,
    imaging: plan.imaging,
  };
  plans.set(phantom, plan);
  return phantom;
}

/** Everything but the pixels: cheap, for statistics over many cases. */
export interface PhantomPlan {
  geometry: VolumeGeometry;
  lesions: LesionInfo[];
  clickCenter: Vec3;
  anatomy: Anatomy;
  placed: Placed[];
  renderSeed: number;
  imaging: ImagingParams;
}

export function planPhantom(options: PhantomOptions): PhantomPlan {
  const rng = new Rng(hashSeed('phantom', options.seed));
  const full = options.fullSize === true;
  const spacing: Vec3 = full ? [...FULL_SPACING] : [...(options.spacing ?? CROP_SPACING)];
  const dims: Vec3 = full ? [...FULL_DIMS] : ((options.sizeMm ?? CROP_SIZE_MM).map((mm, c) => round(mm / spacing[c])) as Vec3);
  const size = dims.map((n, c) => (n - 1) * spacing[c]) as Vec3;
  const anatomy = sampleAnatomy(rng, size, full);
  if (options.contactShadow) anatomy.contact = drawContact(new Rng(hashSeed('contact', options.seed)), true);
  // A stream of its own, so that a randomised case keeps the lesions and layout of the plain one where it can.
  const imaging = options.randomize ? randomizeLook(new Rng(hashSeed('imaging', options.seed)), anatomy, size) : plainLook(anatomy);

  const count = options.lesionCount ?? (rng.bool(P_NO_LESION) ? 0 : rng.bool(P_TWO_LESIONS / (1 - P_NO_LESION)) ? 2 : 1);
  const volumeRange = options.volumeRangeMl ?? (options.randomize ? (RANDOM_LESION_DIAMETER_MM.map(sphereMl) as [number, number]) : VOLUME_RANGE_ML);
  const placed = placeLesions(rng, anatomy, size, full, count, options.malignant, volumeRange, options.lesionsAnywhere === true, options.mainLesionMm, options.mainMinSuspicious);
  for (const { model } of placed) {
    if (imaging.lesionContrast !== 1) model.echoLevel **= imaging.lesionContrast;
    model.attenuationDbPerMm *= imaging.posteriorScale;
  }
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
  return { geometry, lesions, clickCenter, anatomy, placed, renderSeed: rng.next(), imaging };
}

function sphereMl(diameterMm: number): number {
  return ((PI / 6) * diameterMm ** 3) / 1000;
}

function plainLook(a: Anatomy): ImagingParams {
  return {
    randomized: false,
    psfScale: [1, 1, 1],
    smoothScale: 1,
    scattererDensity: 1,
    coherentRatio: 0,
    dynamicRangeDb: DYNAMIC_RANGE_DB,
    greyAtUnit: GREY_AT_UNIT,
    greyGamma: 1,
    tgcDbPerMm: a.tgcDbPerMm,
    attenuationScale: 1,
    noiseFloor: 1,
    glandEcho: 1,
    lesionContrast: 1,
    posteriorScale: 1,
    skinMm: a.skinMm,
    fatMm: a.fatMm,
    glandThickMm: a.glandThickMm,
    muscleTopMm: a.muscleTopMm,
  };
}

/**
 * Domain randomisation: imaging and layer parameters over ranges broad enough to cover other
 * scanners (GE Invenia, Siemens ABVS) and other simulators, not just this one. Redraws the layer
 * depths and TGC of `a` in place.
 */
function randomizeLook(rng: Rng, a: Anatomy, size: Vec3): ImagingParams {
  // Transducer frequency scales all three axes together; focusing and elevation aperture vary each.
  const frequency = rng.logUniform(0.75, 1.4);
  const psfScale = [0, 1, 2].map(() => frequency * rng.logUniform(0.8, 1.3)) as Vec3;
  const smoothScale = rng.uniform(0, 2);
  const scattererDensity = rng.bool(0.6) ? 1 : rng.logUniform(0.2, 1);
  const coherentRatio = rng.bool(0.5) ? 0 : rng.uniform(0, 1);
  const dynamicRangeDb = rng.uniform(35, 60);
  const gainDb = rng.uniform(-7, 7);
  const greyGamma = rng.logUniform(0.75, 1.35);
  const tgcDbPerMm = rng.uniform(-0.1, 0.3);
  const attenuationScale = rng.logUniform(0.5, 2);
  const noiseFloor = rng.logUniform(0.3, 3);
  const glandEcho = rng.logUniform(0.6, 1.6);
  const lesionContrast = rng.uniform(0.35, 1.6);
  const posteriorScale = rng.logUniform(0.3, 2);
  // Layers: thin or thick skin, a fatty or a dense breast, the chest wall from shallow to near the bottom.
  const skinMm = rng.uniform(0.9, 3);
  const muscleTopMm = rng.uniform(min(18, 0.55 * size[1]), size[1] - 2);
  const fatMm = skinMm + rng.uniform(1, max(1.5, min(14, muscleTopMm - skinMm - 8)));
  const glandThickMm = rng.uniform(3, max(4, muscleTopMm - fatMm - 1.5));
  Object.assign(a, { skinMm, fatMm, glandThickMm, muscleTopMm, tgcDbPerMm });
  return {
    randomized: true,
    psfScale,
    smoothScale,
    scattererDensity,
    coherentRatio,
    dynamicRangeDb,
    greyAtUnit: GREY_AT_UNIT + (gainDb * 255) / dynamicRangeDb,
    greyGamma,
    tgcDbPerMm,
    attenuationScale,
    noiseFloor,
    glandEcho,
    lesionContrast,
    posteriorScale,
    skinMm,
    fatMm,
    glandThickMm,
    muscleTopMm,
  };
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

/** Where the probe lost contact: a shadow from one lateral or sweep face inwards. */
function drawContact(rng: Rng, full: boolean): NonNullable<Anatomy['contact']> {
  return { axis: rng.choice([0, 2] as const), fromLow: rng.bool(0.5), widthMm: rng.uniform(4, full ? 18 : 8), db: rng.uniform(10, 30) };
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
  const contact = rng.bool(full ? 0.5 : 0.1) ? drawContact(rng, full) : null;
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

  /** The lattice cell of a row (y, z) and its smoothed weights along y and z: at() and addRow() share them. */
  private rowCell(y: number, z: number): { y0: number; z0: number; wy: number; wz: number } {
    const fy = (y - this.origin[1]) / this.cell[1];
    const fz = (z - this.origin[2]) / this.cell[2];
    const y0 = max(0, min(this.n[1] - 2, floor(fy)));
    const z0 = max(0, min(this.n[2] - 2, floor(fz)));
    return { y0, z0, wy: smooth(min(1, max(0, fy - y0))), wz: smooth(min(1, max(0, fz - z0))) };
  }

  /** noise(x, y, z) at one point, with the same arithmetic as addRow. */
  at(x: number, y: number, z: number): number {
    const { y0, z0, wy, wz } = this.rowCell(y, z);
    const nx = this.n[0];
    const v = this.values;
    const fx = (x - this.origin[0]) / this.cell[0];
    const a = floor(fx);
    const wx = smooth(fx - floor(fx));
    const line = [a, a + 1].map((xi) => {
      const b = xi + nx * (y0 + this.n[1] * z0);
      const a00 = v[b] + (v[b + nx] - v[b]) * wy;
      const b1 = b + nx * this.n[1];
      const a01 = v[b1] + (v[b1 + nx] - v[b1]) * wy;
      return a00 + (a01 - a00) * wz;
    });
    return line[0] + (line[1] - line[0]) * wx;
  }

  /** Adds weight * noise(x_i, y, z) to out[i] for every column i. */
  addRow(y: number, z: number, weight: number, out: Float64Array): void {
    const { y0, z0, wy, wz } = this.rowCell(y, z);
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

/** Tries before a suspicious main lesion gives up and keeps the last draw (P(3 of 4 signs) is about 0.27). */
const SUSPICIOUS_TRIES = 100;

function placeLesions(
  rng: Rng,
  a: Anatomy,
  size: Vec3,
  full: boolean,
  count: number,
  malignant: boolean | undefined,
  volumeRange: [number, number],
  anywhere: boolean,
  mainAt?: [number, number],
  minSuspicious = 0,
): Placed[] {
  const placed: Placed[] = [];
  const top = a.skinMm + 1.5;
  const bottom = min(a.muscleTopMm + 1.5, size[1] - 1);
  // A small crop (sizeMm) caps the width so the main lesion stays inside it.
  const maxHalfWidthMm = full ? 35 : min(26, min(size[0], size[2]) / 2 - CROP_JITTER_MM - 1);
  const limits = { maxHalfDepthMm: (bottom - top) / 2, maxHalfWidthMm };
  for (let n = 0; n < count; n++) {
    const isMain = n === 0;
    let cls = isMain && malignant !== undefined ? malignant : rng.bool(0.5);
    let features = sampleFeatures(rng, cls);
    for (let tries = 1; isMain && tries < SUSPICIOUS_TRIES && suspiciousCount(features) < minSuspicious; tries++) {
      cls = malignant ?? rng.bool(0.5);
      features = sampleFeatures(rng, cls);
    }
    // Same volume distribution for both classes; a second lesion is kept smaller so it fits.
    const volume = isMain ? rng.logUniform(...volumeRange) : rng.logUniform(volumeRange[0], min(3, volumeRange[1]));
    const model = buildLesion(rng, cls, features, volume, limits);
    const ext = model.extentMm;
    const yLo = top + ext[1];
    const yHi = bottom - ext[1];
    const y = yLo < yHi ? rng.uniform(yLo, yHi) : (top + bottom) / 2;
    if (isMain && anywhere) {
      // Clear of the edges by its reach, or in the middle where the volume is too small for that.
      const along = (c: 0 | 2) => (size[c] > 2 * model.reachMm[c] + 2 ? rng.uniform(model.reachMm[c] + 1, size[c] - model.reachMm[c] - 1) : size[c] / 2);
      const x = along(0);
      placed.push({ model, center: [x, y, along(2)] });
      continue;
    }
    if (isMain) {
      const margin = full ? 35 : 0;
      const x = full ? rng.uniform(margin, size[0] - margin) : size[0] / 2 + rng.uniform(-CROP_JITTER_MM, CROP_JITTER_MM);
      const z = full ? rng.uniform(margin, size[2] - margin) : size[2] / 2 + rng.uniform(-CROP_JITTER_MM, CROP_JITTER_MM);
      placed.push({ model, center: mainAt && !full ? [mainAt[0], y, mainAt[1]] : [x, y, z] });
      continue;
    }
    // Elsewhere in the volume, clear of the lesions placed so far (their reach plus a gap) and of the edges.
    const reach = (m: LesionModel) => max(...m.reachMm);
    for (let tries = 0; tries < 60; tries++) {
      const x = rng.uniform(model.reachMm[0] + 1, size[0] - model.reachMm[0] - 1);
      const z = rng.uniform(model.reachMm[2] + 1, size[2] - model.reachMm[2] - 1);
      const clear = placed.every((p) => hypot(x - p.center[0], y - p.center[1], z - p.center[2]) > reach(p.model) + reach(model) + 3);
      if (clear) {
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
 * Log compression by table: grey = greyAtUnit + (255 / DR) * 10 log10(|field|^2 / 2), so unit
 * amplitude maps to greyAtUnit before speckle, then the grey map's gamma. The table is indexed by
 * the float32 bit pattern of the power without its low 13 mantissa bits (0.1% steps), several
 * times faster than log.
 */
function logCompressor(im: ImagingParams): { pow32: Float32Array; bits32: Uint32Array; greyLut: Uint8Array } {
  const pow32 = new Float32Array(1);
  const bits32 = new Uint32Array(pow32.buffer);
  const greyLut = new Uint8Array(1 << 19);
  const lnToGrey = (255 / im.dynamicRangeDb) * (10 / LN10);
  const offset = im.greyAtUnit - lnToGrey * log(2);
  for (let n = 0; n < greyLut.length; n++) {
    bits32[0] = (n << 13) | 0x1000; // the middle of the bucket
    const p = pow32[0];
    let grey = p > 0 && Number.isFinite(p) ? offset + lnToGrey * log(p) : p > 0 ? 255 : 0;
    grey = grey < 0 ? 0 : grey > 255 ? 255 : grey;
    if (im.greyGamma !== 1) grey = 255 * (grey / 255) ** im.greyGamma;
    greyLut[n] = round(grey);
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

/**
 * Speckle reduction `scale` times the default: a wider kernel above 1; below 1 a blend with no
 * smoothing at all, because the narrowest kernel (3 taps) is already the default at coarse spacing.
 */
function speckleReduction(sigmaMm: number, spacingMm: number, scale: number): Float64Array {
  if (scale >= 1) return smoothingKernel(sigmaMm * scale, spacingMm);
  const k = smoothingKernel(sigmaMm, spacingMm).map((v) => v * scale);
  k[(k.length - 1) / 2] += 1 - scale;
  return k;
}

function psfKernels(spacing: Vec3, im: ImagingParams): Float64Array[] {
  return [0, 1, 2].map((c) => gaussianKernel(PSF_SIGMA_MM[c] * im.psfScale[c], spacing[c]));
}

/** Lobule/ligament and texture noise, the first draws of the render stream (normalTissueSites redraws them). */
function tissueNoise(rng: Rng, lo: Vec3, top: Vec3, xs: Float64Array): { lig: LatticeNoise[]; tex: LatticeNoise[] } {
  const lig = [new LatticeNoise(rng, [4.5, 6, 4.5], lo, top, xs), new LatticeNoise(rng, [2.2, 3, 2.2], lo, top, xs)];
  const tex = [new LatticeNoise(rng, [1.4, 0.9, 1.4], lo, top, xs)];
  return { lig, tex };
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

function lesionBoxes(placed: Placed[], spacing: Vec3): LesionBox[] {
  return placed.map(({ model, center }) => ({
    model,
    center,
    // Voxel indices of the box that holds the lesion's reach (halo, spicules).
    lo: [0, 1, 2].map((c) => floor((center[c] - model.reachMm[c]) / spacing[c])) as Vec3,
    hi: [0, 1, 2].map((c) => ceil((center[c] + model.reachMm[c]) / spacing[c])) as Vec3,
    spiculeReach2: max(0, ...model.spicules.map((s) => s.end + SPICULE_DEPTH_STRETCH * s.halfWidth)) ** 2,
  }));
}

function render(plan: PhantomPlan): { image: Uint8Array; mask: Uint8Array } {
  const { anatomy: a, placed, imaging, geometry } = plan;
  const { dims, spacing } = geometry;
  const rng = new Rng(hashSeed('render', plan.renderSeed));
  const [nx, ny, nz] = dims;
  const [sx, sy, sz] = spacing;
  const size = dims.map((n, c) => (n - 1) * spacing[c]) as Vec3;
  const [ki, kj, kk] = psfKernels(spacing, imaging);
  const smoothI = speckleReduction(SMOOTH_SIGMA_MM[0], sx, imaging.smoothScale);
  const smoothJ = speckleReduction(SMOOTH_SIGMA_MM[1], sy, imaging.smoothScale);
  const [hi, hj, hk] = [ki, kj, kk].map((k) => (k.length - 1) / 2);
  const W = nx + 2 * hi;
  const H = ny + 2 * hj;
  const xs = Float64Array.from({ length: W }, (_, i) => (i - hi) * sx);

  const lo: Vec3 = [-hi * sx, -hj * sy, -hk * sz];
  const top: Vec3 = [size[0] + hi * sx, size[1] + hj * sy, size[2] + hk * sz];
  const { lig, tex } = tissueNoise(rng, lo, top, xs);
  const cols = new Columns(W);
  const ligRow = new Float64Array(W);
  const texRow = new Float64Array(W);
  const cum = new Float64Array(W);
  const eRow = new Float64Array(W);
  const alphaRow = new Float64Array(W);

  const boxes = lesionBoxes(placed, spacing);

  // Gain (amplitude) for a cumulative attenuation in dB, tabulated at 0.05 dB.
  const GAIN_MIN_DB = -40;
  const gainLut = Float64Array.from({ length: 4000 }, (_, n) => 10 ** (-(GAIN_MIN_DB + n * 0.05) / 20));
  const { pow32, bits32, greyLut } = logCompressor(imaging);
  const noiseAmp = 0.006 * imaging.noiseFloor;
  // The PSF sums sum(k) times a constant but only sqrt(sum k^2) = 1 times the diffuse part; scale the
  // coherent term so that coherentRatio is its amplitude against the diffuse rms (both components).
  const kernelSum = (k: Float64Array) => k.reduce((acc, v) => acc + v, 0);
  const coherent = (imaging.coherentRatio * sqrt(2)) / (kernelSum(ki) * kernelSum(kj) * kernelSum(kk));
  // Sparse scatterers: keep the sites where |re| exceeds a threshold (a fraction `density` of them), rescaled to unit variance.
  const density = imaging.scattererDensity;
  const keepAbove = sqrt(3) * (1 - density);
  const keepScaleRe = 1 / sqrt(1 - keepAbove ** 3 / (3 * sqrt(3)));
  const keepScaleIm = 1 / sqrt(density);

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
    if (density < 1) {
      for (let n = 0; n < re.length; n++) {
        const v = re[n];
        if (v < keepAbove && v > -keepAbove) re[n] = im[n] = 0;
        else {
          re[n] = v * keepScaleRe;
          im[n] *= keepScaleIm;
        }
      }
    }
    for (let jp = 0; jp < H; jp++) {
      const j = jp - hj;
      const y = j * sy;
      ligRow.fill(0);
      texRow.fill(0);
      lig[0].addRow(y, z, 1, ligRow);
      lig[1].addRow(y, z, 0.5, ligRow);
      tex[0].addRow(y, z, 1, texRow);
      tissueRow(a, imaging, cols, xs, y, ligRow, texRow, eRow, alphaRow);
      const maskRow = k >= 0 && k < nz && j >= 0 && j < ny ? nx * (j + ny * k) - hi : -1;
      for (const box of boxes) {
        if (j >= box.lo[1] && j <= box.hi[1] && k >= box.lo[2] && k <= box.hi[2]) {
          lesionRow(box, xs, y, z, max(0, box.lo[0] + hi), min(W - 1, box.hi[0] + hi), texRow, eRow, alphaRow, maskRow >= 0 ? mask : null, maskRow, hi, hi + nx);
        }
      }
      // Attenuation accumulates down each beam; the electronic-noise floor grows with TGC gain.
      const rowBase = jp * W;
      const noiseFloor = noiseAmp * (1 + max(0, y) / 15);
      for (let ip = 0; ip < W; ip++) {
        const c = cum[ip] + alphaRow[ip] * sy;
        cum[ip] = c;
        let g = ((c - GAIN_MIN_DB) * 20) | 0;
        g = g < 0 ? 0 : g > 3999 ? 3999 : g;
        const scale = eRow[ip] * gainLut[g] + noiseFloor;
        re[rowBase + ip] = (re[rowBase + ip] + coherent) * scale;
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
function tissueRow(
  a: Anatomy, im: ImagingParams, cols: Columns, xs: Float64Array, y: number, lig: Float64Array, tex: Float64Array, e: Float64Array, alpha: Float64Array,
): void {
  const { fatBottom, glandBottom, muscleTop, muscleBottom, ribTop, pleura, nippleBottom, ductDepth, ductHalf, contactDb } = cols;
  const tgc = y > 0 ? a.tgcDbPerMm : 0;
  const gland = GLAND * im.glandEcho;
  const attenuation = im.attenuationScale;
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
      else if (y < glandBottom[i] + 1.5 * l) v = l < -0.5 ? FAT : gland * (1 + 0.45 * t);
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
    alpha[i] = tgc + extra * attenuation;
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

/** Whether a point (mm from the lesion's centre) is in its reach: mass, halo or spicule, as lesionRow draws them. */
function inReach(box: LesionBox, px: number, py: number, pz: number): boolean {
  const m = box.model;
  const s = lesionRatio(m, px, py, pz);
  if (s <= 1) return true;
  const r = sqrt(px * px + py * py + pz * pz);
  if (r * (1 - 1 / s) < m.haloMm) return true;
  return m.spicules.length > 0 && r * r < box.spiculeReach2 && spiculeAt(m, px, py, pz) !== 0;
}

// ---------------------------------------------------------------------------------------------
// Negative samples: clicks on normal tissue.

const TISSUE_KINDS: TissueKind[] = ['fat', 'ligament', 'gland', 'near-skin', 'near-chest-wall'];
/** Draws per site before a kind is given up as having no room in this crop. */
const SITE_TRIES = 400;

/**
 * Click sites in normal tissue, at least `clearMm` (default 6) from every lesion's reach (halo and spicules included),
 * stratified over the kinds (fat lobules, ligaments, gland, 2-6 mm under the skin line, within 4 mm above the chest wall / pectoral fascia),
 * deterministic for (phantom, seed). May return fewer than count when the crop has no room.
 *
 * The kinds take turns; one that finds no room drops out and the others fill its turns. Fat,
 * ligament and gland sites lie between the two bands, so every site has one kind. The tissue is
 * classified at the voxel centre exactly as the renderer drew it (ducts count as the tissue they
 * run through); the nipple is left out.
 */
export function normalTissueSites(phantom: Phantom, count: number, seed: number, clearMm = 6): TissueSite[] {
  const plan = plans.get(phantom);
  if (!plan) throw new Error('normalTissueSites: not a phantom returned by generatePhantom (a copy has no anatomy)');
  const { anatomy: a, geometry, imaging } = plan;
  const { dims, spacing } = geometry;
  const [nx, ny, nz] = dims;
  const [sx, sy, sz] = spacing;
  const size = dims.map((n, c) => (n - 1) * spacing[c]) as Vec3;
  // The same lattice noise as the render: same stream, same bounds.
  const halves = psfKernels(spacing, imaging).map((k) => (k.length - 1) / 2);
  const lo = halves.map((h, c) => -h * spacing[c]) as Vec3;
  const top = halves.map((h, c) => size[c] + h * spacing[c]) as Vec3;
  const { lig } = tissueNoise(new Rng(hashSeed('render', plan.renderSeed)), lo, top, new Float64Array(0));
  const boxes = lesionBoxes(plan.placed, spacing);
  const cols = new Columns(1);
  const column = new Float64Array(1);
  const rng = new Rng(hashSeed('normal-tissue', phantom.seed, seed));
  const taken = new Set<number>();
  const clear2 = clearMm * clearMm;
  const ballHalf = spacing.map((s) => ceil(clearMm / s));

  const clearOfLesions = (i: number, j: number, k: number): boolean => {
    for (const box of boxes) {
      const from = [i, j, k].map((v, c) => max(box.lo[c], v - ballHalf[c]));
      const to = [i, j, k].map((v, c) => min(box.hi[c], v + ballHalf[c]));
      if (from.some((f, c) => f > to[c])) continue;
      for (let kk = from[2]; kk <= to[2]; kk++) {
        const dz = (kk - k) * sz;
        for (let jj = from[1]; jj <= to[1]; jj++) {
          const dy = (jj - j) * sy;
          for (let ii = from[0]; ii <= to[0]; ii++) {
            const dx = (ii - i) * sx;
            if (dx * dx + dy * dy + dz * dz >= clear2) continue;
            if (inReach(box, ii * sx - box.center[0], jj * sy - box.center[1], kk * sz - box.center[2])) return false;
          }
        }
      }
    }
    return true;
  };

  const findSite = (kind: TissueKind): Vec3 | null => {
    for (let tries = 0; tries < SITE_TRIES; tries++) {
      const i = rng.int(0, nx - 1);
      const k = rng.int(0, nz - 1);
      const [x, z] = [i * sx, k * sz];
      column[0] = x;
      cols.fill(a, column, z, size);
      const skinBand: [number, number] = [a.skinMm + 2, a.skinMm + 6];
      const wallBand: [number, number] = [cols.muscleTop[0] - 4, cols.muscleTop[0]];
      const band = kind === 'near-skin' ? skinBand : kind === 'near-chest-wall' ? wallBand : [skinBand[1], wallBand[0]];
      const j = round(rng.uniform(max(0, band[0]), min(size[1], band[1])) / sy);
      const y = j * sy;
      if (j < 0 || j >= ny || y < band[0] || y >= band[1] || y < cols.nippleBottom[0]) continue;
      if (kind !== 'near-skin' && kind !== 'near-chest-wall' && tissueAt(a, cols, lig, x, y, z) !== kind) continue;
      const key = i + nx * (j + ny * k);
      if (taken.has(key) || !clearOfLesions(i, j, k)) continue;
      taken.add(key);
      return [i, j, k];
    }
    return null;
  };

  const sites: TissueSite[] = [];
  const open = [...TISSUE_KINDS];
  let turn = rng.int(0, open.length - 1);
  while (sites.length < count && open.length) {
    const kind = open[turn % open.length];
    const index = findSite(kind);
    if (index) {
      sites.push({ index, kind });
      turn++;
    } else open.splice(open.indexOf(kind), 1);
  }
  return sites;
}

/** The breast tissue tissueRow draws at a point above the pectoral fascia (before a duct overrides it). */
function tissueAt(a: Anatomy, cols: Columns, lig: LatticeNoise[], x: number, y: number, z: number): 'fat' | 'ligament' | 'gland' {
  let l = 0;
  l += 1 * lig[0].at(x, y, z);
  l += 0.5 * lig[1].at(x, y, z);
  if (abs(l) < a.ligamentWidth) return 'ligament';
  if (y < cols.fatBottom[0] + 1.8 * l) return 'fat';
  if (y < cols.glandBottom[0] + 1.5 * l) return l < -0.5 ? 'fat' : 'gland';
  return 'fat';
}
