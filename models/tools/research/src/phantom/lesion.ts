/**
 * Lesion features (BI-RADS ultrasound lexicon) and the shape/appearance model that renders them.
 *
 * Class first, then every feature from P(feature | class). The tables are chosen so that with a
 * 50/50 class mix the posterior rates match Hong et al. (AJR 2005): P(M | spiculated) = 0.86,
 * P(M | not parallel) = 0.69, P(M | irregular) = 0.62, P(B | circumscribed) = 0.90,
 * P(B | oval) = 0.84, P(B | parallel) = 0.78. Volume and brightness are drawn from the same
 * distribution for both classes, so only shape, margin, orientation and the posterior/halo signs
 * carry the class, as in real ABUS.
 *
 * Shape: a radial function r(u) on the unit sphere, stored as a cube map, scales an ellipsoid:
 * a point p (mm from the centre) is inside when |q| <= r(q / |q|), q = diag(1/radii) R^T p.
 */
import { Vec3 } from '@abus-tumor-ai/engine';
import { Rng } from './random';

// Bound once: inside jest's vm sandbox every `Math.` lookup is slow, and these run per voxel.
const { PI, abs, acos, cbrt, cos, exp, floor, hypot, max, min, sin, sqrt } = Math;

export type LesionShape = 'oval' | 'round' | 'irregular';
export type LesionMargin = 'circumscribed' | 'microlobulated' | 'angular' | 'spiculated';
export type LesionOrientation = 'parallel' | 'not-parallel';
export type LesionPosterior = 'enhancement' | 'shadowing' | 'none';
export type LesionEcho = 'anechoic' | 'hypoechoic' | 'isoechoic' | 'complex';

export interface LesionFeatures {
  shape: LesionShape;
  margin: LesionMargin;
  orientation: LesionOrientation;
  posterior: LesionPosterior;
  echo: LesionEcho;
  halo: boolean;
}

type Table<K extends string> = { M: Record<K, number>; B: Record<K, number> };

/** P(feature | class); see the file comment for the posterior rates they give at 50/50. */
export const FEATURE_PROBABILITIES: {
  shape: Table<LesionShape>;
  margin: Table<LesionMargin>;
  orientation: Table<LesionOrientation>;
  posterior: Table<LesionPosterior>;
  solidEcho: Table<Exclude<LesionEcho, 'anechoic'>>;
  /** P(anechoic cyst | class, circumscribed and not irregular). */
  cyst: { M: number; B: number };
  halo: { M: number; B: number };
} = {
  // 0.70 / (0.70 + 0.43) = 0.62 malignant if irregular; 0.4725 / (0.4725 + 0.09) = 0.84 benign if oval.
  shape: { M: { oval: 0.09, round: 0.21, irregular: 0.7 }, B: { oval: 0.4725, round: 0.0975, irregular: 0.43 } },
  // 0.40 / (0.40 + 0.065) = 0.86; 0.72 / (0.72 + 0.08) = 0.90.
  margin: {
    M: { circumscribed: 0.08, microlobulated: 0.27, angular: 0.25, spiculated: 0.4 },
    B: { circumscribed: 0.72, microlobulated: 0.12, angular: 0.095, spiculated: 0.065 },
  },
  // 0.822 / (0.822 + 0.369) = 0.69; 0.631 / (0.631 + 0.178) = 0.78.
  orientation: { M: { 'not-parallel': 0.822, parallel: 0.178 }, B: { 'not-parallel': 0.369, parallel: 0.631 } },
  posterior: { M: { shadowing: 0.55, none: 0.3, enhancement: 0.15 }, B: { shadowing: 0.2, none: 0.45, enhancement: 0.35 } },
  solidEcho: { M: { hypoechoic: 0.7, isoechoic: 0.12, complex: 0.18 }, B: { hypoechoic: 0.7, isoechoic: 0.12, complex: 0.18 } },
  cyst: { M: 0, B: 0.35 },
  halo: { M: 0.35, B: 0.06 },
};

export function sampleFeatures(rng: Rng, malignant: boolean): LesionFeatures {
  const c = malignant ? 'M' : 'B';
  const p = FEATURE_PROBABILITIES;
  const shape = rng.weighted(p.shape[c]);
  const margin = rng.weighted(p.margin[c]);
  const orientation = rng.weighted(p.orientation[c]);
  const cyst = margin === 'circumscribed' && shape !== 'irregular' && rng.bool(p.cyst[c]);
  const echo: LesionEcho = cyst ? 'anechoic' : rng.weighted(p.solidEcho[c]);
  // A simple cyst transmits sound better than tissue: always posterior enhancement.
  const posterior: LesionPosterior = cyst ? 'enhancement' : rng.weighted(p.posterior[c]);
  return { shape, margin, orientation, posterior, echo, halo: rng.bool(p.halo[c]) };
}

/**
 * How many of the four signs that make a mass suspicious (BI-RADS) it shows: irregular shape,
 * not parallel (taller than wide), spiculated margin, posterior shadowing. These are the masses
 * a detector must find and the ones a centred-only training set taught it to miss.
 */
export function suspiciousCount(f: LesionFeatures): number {
  return +(f.shape === 'irregular') + +(f.orientation === 'not-parallel') + +(f.margin === 'spiculated') + +(f.posterior === 'shadowing');
}

export interface Spicule {
  /** Unit direction in the volume's (i, j, k) millimetre frame. */
  dir: Vec3;
  /** Distance (mm) from the centre where it starts (just inside the surface) and ends. */
  start: number;
  end: number;
  /** Half-thickness (mm) at the start; it tapers to a third at the end. */
  halfWidth: number;
  /** Echogenic (fibrous) rather than hypoechoic. */
  bright: boolean;
}

/** Everything the renderer needs about one lesion, centred at the origin. */
export interface LesionModel {
  malignant: boolean;
  features: LesionFeatures;
  /** Ellipsoid semi-axes (mm) along the local axes; local axis 1 is (nearly) depth. */
  radii: Vec3;
  /** Row-major local -> volume rotation; column c is local axis c in (i, j, k) mm. */
  rotation: number[];
  /** q = toLocal * p: the rotation transposed, rows divided by the radii. */
  toLocal: Float64Array;
  /** Cube map of r(u), CUBE x CUBE texels per face. */
  radial: Float32Array;
  /** Half-extent (mm) of the mask along i, j, k. */
  extentMm: Vec3;
  /** Half-extent including the halo and spicules. */
  reachMm: Vec3;
  volumeMl: number;
  /** Inside amplitude relative to fat, and the strength of its texture. */
  echoLevel: number;
  texture: number;
  haloMm: number;
  haloLevel: number;
  spicules: Spicule[];
  /** Extra attenuation (dB per mm of lesion crossed) that makes the posterior shadow or enhancement. */
  attenuationDbPerMm: number;
}

export interface LesionLimits {
  /** Largest half-extent (mm) along depth (j), and along i and k. */
  maxHalfDepthMm: number;
  maxHalfWidthMm: number;
}

const CUBE = 32;
/** Spicules are this many times thicker along depth than across. */
export const SPICULE_DEPTH_STRETCH = 3;

type Bump = { dir: Vec3; amp: number; width: number; cusp: boolean };

export function buildLesion(rng: Rng, malignant: boolean, features: LesionFeatures, targetMl: number, limits: LesionLimits): LesionModel {
  const bumps = shapeBumps(rng, features);
  const radial = cubeMap((u) => {
    let r = 1;
    for (const b of bumps) {
      const angle = acos(min(1, u[0] * b.dir[0] + u[1] * b.dir[1] + u[2] * b.dir[2]));
      if (b.cusp) r += b.amp * max(0, 1 - angle / b.width) ** 1.5;
      else r += b.amp * exp((-0.5 * angle * angle) / (b.width * b.width));
    }
    return max(0.45, r);
  });
  const unitVolume = radialVolume(radial); // mm^3 per mm^3 of a*b*c

  // Yaw about depth is free; a small tilt keeps "parallel" meaning wider than tall.
  const [tiltI, tiltK] = [rng.normal(0, 0.12), rng.normal(0, 0.12)];
  let rotation = rotationMatrix(rng.uniform(0, PI), tiltI, tiltK);
  const radii = aspectRadii(rng, features);
  const targetMm3 = targetMl * 1000;
  const scale = cbrt(targetMm3 / (radii[0] * radii[1] * radii[2] * unitVolume));
  for (let c = 0; c < 3; c++) radii[c] *= scale;

  // Fit the depth range: trade depth for width at constant volume; keep "taller than wide" in
  // the transverse (i-j) plane by moving volume into the sweep axis. Then cap the width (rare).
  for (let iter = 0; iter < 6; iter++) {
    const ext = surfaceExtent(radial, radii, rotation);
    if (ext[1] > limits.maxHalfDepthMm * 1.001) {
      const f = limits.maxHalfDepthMm / ext[1];
      radii[1] *= f;
      radii[0] /= sqrt(f);
      radii[2] /= sqrt(f);
      if (features.orientation === 'not-parallel' && radii[0] > radii[1] / 1.1) {
        const v = radii[0] * radii[2];
        radii[0] = radii[1] / 1.1;
        radii[2] = v / radii[0];
        rotation = rotationMatrix(0, tiltI, tiltK); // local axis 0 along i, so the B-mode plane shows it
      }
      continue;
    }
    const wide = max(ext[0], ext[2]);
    if (wide > limits.maxHalfWidthMm * 1.001) {
      const f = limits.maxHalfWidthMm / wide;
      if (ext[0] > limits.maxHalfWidthMm) radii[0] *= f;
      if (ext[2] > limits.maxHalfWidthMm) radii[2] *= f;
      continue;
    }
    break;
  }
  const extentMm = surfaceExtent(radial, radii, rotation);
  const volumeMl = (radii[0] * radii[1] * radii[2] * unitVolume) / 1000;
  const meanRadius = cbrt(radii[0] * radii[1] * radii[2]);
  const toLocal = new Float64Array(9);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) toLocal[3 * r + c] = rotation[3 * c + r] / radii[r];

  const model: LesionModel = {
    malignant,
    features,
    radii,
    rotation,
    toLocal,
    radial,
    extentMm,
    reachMm: [...extentMm],
    volumeMl,
    ...appearance(rng, features),
    haloMm: features.halo ? rng.uniform(1.2, 2.8) : 0,
    haloLevel: rng.uniform(10, 15),
    spicules: [],
    attenuationDbPerMm: 0,
  };
  model.attenuationDbPerMm = posteriorAttenuation(rng, features, 2 * extentMm[1]);
  if (features.margin === 'spiculated') model.spicules = makeSpicules(rng, model, meanRadius);
  model.reachMm = extentMm.map((e, c) =>
    max(e + model.haloMm, ...model.spicules.map((s) => abs(s.dir[c]) * s.end + s.halfWidth * SPICULE_DEPTH_STRETCH)),
  ) as Vec3;
  return model;
}

/** Ratio |q| / r(u) for a point p (mm from the centre): <= 1 inside. */
export function lesionRatio(m: LesionModel, px: number, py: number, pz: number): number {
  const t = m.toLocal;
  const x = t[0] * px + t[1] * py + t[2] * pz;
  const y = t[3] * px + t[4] * py + t[5] * pz;
  const z = t[6] * px + t[7] * py + t[8] * pz;
  const q = sqrt(x * x + y * y + z * z);
  if (q === 0) return 0;
  return q / cubeLookup(m.radial, x, y, z);
}

/** Spicule membership of a point outside the mass: 0 none, 1 hypoechoic, 2 echogenic. */
export function spiculeAt(m: LesionModel, px: number, py: number, pz: number): number {
  const r2 = px * px + py * py + pz * pz;
  for (const s of m.spicules) {
    const t = px * s.dir[0] + py * s.dir[1] + pz * s.dir[2];
    if (t < s.start || t > s.end) continue;
    const w = s.halfWidth * (1 - (0.67 * (t - s.start)) / (s.end - s.start));
    // Flattened along depth: retraction lines are sheets seen best in the coronal plane.
    const qy = py - t * s.dir[1];
    const perp2 = r2 - t * t - qy * qy * (1 - 1 / (SPICULE_DEPTH_STRETCH * SPICULE_DEPTH_STRETCH));
    if (perp2 < w * w) return s.bright ? 2 : 1;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------

function shapeBumps(rng: Rng, f: LesionFeatures): Bump[] {
  const bumps: Bump[] = [];
  const add = (n: number, amp: [number, number], width: [number, number], cusp: boolean) => {
    for (let i = 0; i < n; i++) bumps.push({ dir: rng.direction(), amp: rng.uniform(amp[0], amp[1]), width: rng.uniform(width[0], width[1]), cusp });
  };
  // Irregular: a few broad lumps and dents, low-order on the sphere.
  if (f.shape === 'irregular') add(rng.int(8, 14), [-0.35, 0.55], [0.25, 0.5], false);
  // Margins: many small lobules; pointed corners; spiculated masses are also a little angular.
  if (f.margin === 'microlobulated') add(rng.int(35, 55), [0.08, 0.16], [0.1, 0.17], false);
  if (f.margin === 'angular') add(rng.int(4, 8), [0.3, 0.6], [0.25, 0.45], true);
  if (f.margin === 'spiculated') add(rng.int(5, 9), [0.08, 0.22], [0.25, 0.4], true);
  return bumps;
}

/** Semi-axes before scaling: local 0 ~ i, 1 ~ depth, 2 ~ k. */
function aspectRadii(rng: Rng, f: LesionFeatures): Vec3 {
  const isRound = f.shape === 'round';
  let a = 1;
  let c = isRound ? rng.uniform(0.93, 1.07) : rng.uniform(0.6, 1);
  if (rng.bool(0.5)) [a, c] = [c, a];
  const b =
    f.orientation === 'parallel'
      ? min(a, c) * (isRound ? rng.uniform(0.88, 0.97) : rng.uniform(0.45, 0.8))
      : max(a, c) * (isRound ? rng.uniform(1.03, 1.1) : rng.uniform(1.12, 1.6));
  return [a, b, c];
}

/** Same brightness distributions for both classes, on purpose: brightness alone must not tell them apart. */
function appearance(rng: Rng, f: LesionFeatures): { echoLevel: number; texture: number } {
  switch (f.echo) {
    case 'anechoic':
      return { echoLevel: 0.02, texture: 0.2 };
    case 'isoechoic':
      return { echoLevel: rng.uniform(0.8, 1.15), texture: rng.uniform(0.2, 0.5) };
    case 'complex':
      return { echoLevel: rng.logUniform(0.35, 0.9), texture: -1 }; // texture < 0: cystic parts
    default:
      return { echoLevel: rng.logUniform(0.3, 0.9), texture: rng.uniform(0.15, 0.5) };
  }
}

/** dB per mm of lesion crossed; the total is capped so big lesions do not black out everything. */
function posteriorAttenuation(rng: Rng, f: LesionFeatures, depthExtentMm: number): number {
  if (f.posterior === 'shadowing') return min(rng.uniform(1.0, 2.2), rng.uniform(12, 24) / depthExtentMm);
  if (f.posterior === 'enhancement') return -min(rng.uniform(0.8, 1.6), rng.uniform(6, 11) / depthExtentMm);
  return 0;
}

function makeSpicules(rng: Rng, m: LesionModel, meanRadius: number): Spicule[] {
  const out: Spicule[] = [];
  const n = rng.int(14, 30);
  for (let s = 0; s < n; s++) {
    // Mostly in the coronal (i-k) plane, where ABUS readers see the "retraction" star.
    const d = rng.direction();
    d[1] *= rng.bool(0.7) ? 0 : 0.4;
    const len = hypot(d[0], d[1], d[2]);
    const dir: Vec3 = [d[0] / len, d[1] / len, d[2] / len];
    const surface = 1 / lesionRatio(m, dir[0], dir[1], dir[2]); // distance to the surface along dir
    out.push({
      dir,
      start: surface * 0.85,
      end: surface + rng.uniform(0.4, 1.1) * meanRadius + rng.uniform(1.5, 3),
      halfWidth: rng.uniform(0.45, 0.85),
      bright: rng.bool(0.3),
    });
  }
  return out;
}

function rotationMatrix(yaw: number, tiltI: number, tiltK: number): number[] {
  // Yaw about j (depth), then tilts about i and k; row-major, columns are the local axes.
  const mul = (a: number[], b: number[]) =>
    Array.from({ length: 9 }, (_, n) => a[3 * floor(n / 3)] * b[n % 3] + a[3 * floor(n / 3) + 1] * b[3 + (n % 3)] + a[3 * floor(n / 3) + 2] * b[6 + (n % 3)]);
  const [cy, sy, ci, si, ck, sk] = [cos(yaw), sin(yaw), cos(tiltI), sin(tiltI), cos(tiltK), sin(tiltK)];
  const aboutJ = [cy, 0, sy, 0, 1, 0, -sy, 0, cy];
  const aboutI = [1, 0, 0, 0, ci, -si, 0, si, ci];
  const aboutK = [ck, -sk, 0, sk, ck, 0, 0, 0, 1];
  return mul(aboutJ, mul(aboutI, aboutK));
}

// ---------------------------------------------------------------------------------------------
// Cube map of a function on the unit sphere: face f, texel (a, b), CUBE x CUBE per face.

function faceDirection(face: number, u: number, v: number): Vec3 {
  const d: Vec3 =
    face === 0 ? [1, u, v] : face === 1 ? [-1, u, v] : face === 2 ? [u, 1, v] : face === 3 ? [u, -1, v] : face === 4 ? [u, v, 1] : [u, v, -1];
  const len = hypot(d[0], d[1], d[2]);
  return [d[0] / len, d[1] / len, d[2] / len];
}

function texelCoord(a: number): number {
  return ((a + 0.5) / CUBE) * 2 - 1;
}

function cubeMap(fn: (u: Vec3) => number): Float32Array {
  const out = new Float32Array(6 * CUBE * CUBE);
  for (let f = 0; f < 6; f++) {
    for (let b = 0; b < CUBE; b++) for (let a = 0; a < CUBE; a++) out[(f * CUBE + b) * CUBE + a] = fn(faceDirection(f, texelCoord(a), texelCoord(b)));
  }
  return out;
}

/** Bilinear cube-map lookup in the direction (x, y, z), which need not be normalised. */
export function cubeLookup(table: Float32Array, x: number, y: number, z: number): number {
  const ax = abs(x);
  const ay = abs(y);
  const az = abs(z);
  let face: number;
  let m: number;
  let u: number;
  let v: number;
  if (ax >= ay && ax >= az) [face, m, u, v] = [x > 0 ? 0 : 1, ax, y, z];
  else if (ay >= az) [face, m, u, v] = [y > 0 ? 2 : 3, ay, x, z];
  else [face, m, u, v] = [z > 0 ? 4 : 5, az, x, y];
  let fa = ((u / m + 1) * 0.5) * CUBE - 0.5;
  let fb = ((v / m + 1) * 0.5) * CUBE - 0.5;
  fa = fa < 0 ? 0 : fa > CUBE - 1 ? CUBE - 1 : fa;
  fb = fb < 0 ? 0 : fb > CUBE - 1 ? CUBE - 1 : fb;
  const a0 = min(CUBE - 2, fa | 0);
  const b0 = min(CUBE - 2, fb | 0);
  const ta = fa - a0;
  const tb = fb - b0;
  const base = (face * CUBE + b0) * CUBE + a0;
  const top = table[base] + (table[base + 1] - table[base]) * ta;
  const bottom = table[base + CUBE] + (table[base + CUBE + 1] - table[base + CUBE]) * ta;
  return top + (bottom - top) * tb;
}

/** (1/3) * integral of r^3 over the sphere: the volume for unit radii (4 pi / 3 for a sphere). */
function radialVolume(table: Float32Array): number {
  let sum = 0;
  const da = (2 / CUBE) ** 2;
  for (let f = 0; f < 6; f++) {
    for (let b = 0; b < CUBE; b++) {
      for (let a = 0; a < CUBE; a++) {
        const [u, v] = [texelCoord(a), texelCoord(b)];
        const solidAngle = da / (1 + u * u + v * v) ** 1.5;
        sum += table[(f * CUBE + b) * CUBE + a] ** 3 * solidAngle;
      }
    }
  }
  return sum / 3;
}

/** Half-extent (mm) along i, j, k of the surface for these radii and rotation. */
function surfaceExtent(table: Float32Array, radii: Vec3, rotation: number[]): Vec3 {
  const ext: Vec3 = [0, 0, 0];
  for (let f = 0; f < 6; f++) {
    for (let b = 0; b < CUBE; b++) {
      for (let a = 0; a < CUBE; a++) {
        const u = faceDirection(f, texelCoord(a), texelCoord(b));
        const r = table[(f * CUBE + b) * CUBE + a];
        const local = [u[0] * radii[0] * r, u[1] * radii[1] * r, u[2] * radii[2] * r];
        for (let c = 0; c < 3; c++) {
          const p = rotation[3 * c] * local[0] + rotation[3 * c + 1] * local[1] + rotation[3 * c + 2] * local[2];
          ext[c] = max(ext[c], abs(p));
        }
      }
    }
  }
  // Texel centres miss the extreme points by up to half a texel: a small margin covers it.
  return ext.map((e) => e * 1.03) as Vec3;
}
