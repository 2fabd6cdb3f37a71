/**
 * A small seeded PRNG for the phantoms, hand-written (sfc32 seeded through splitmix32) so that a
 * seed gives the same phantom on every platform and Node version, without a dependency.
 */

// Bound once: inside jest's vm sandbox every `Math.` lookup is slow, and these run per voxel.
const { PI, cos, exp, floor, imul, log, sin, sqrt } = Math;

/** splitmix32 step: a well-mixed 32-bit value from any 32-bit state. */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = imul(z ^ (z >>> 16), 0x85ebca6b);
  z = imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Mixes numbers and strings into one 32-bit seed, so sub-streams ("case 3", "speckle") are independent. */
export function hashSeed(...parts: (number | string)[]): number {
  let h = 0x1234567;
  for (const part of parts) {
    const text = typeof part === 'number' ? `#${part}` : part;
    for (let i = 0; i < text.length; i++) h = splitmix32(h ^ text.charCodeAt(i));
    h = splitmix32(h ^ 0xff);
  }
  return h;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  constructor(seed: number | string) {
    const s = typeof seed === 'number' ? seed >>> 0 : hashSeed(seed);
    this.a = splitmix32(s);
    this.b = splitmix32(this.a);
    this.c = splitmix32(this.b);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.next(); // sfc32 needs a few rounds to forget a weak seed
  }

  /** Uniform 32-bit unsigned integer (sfc32). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * (this.next() / 4294967296);
  }

  /** Log-uniform in [lo, hi): equal mass per decade, as lesion volumes need. */
  logUniform(lo: number, hi: number): number {
    return exp(this.uniform(log(lo), log(hi)));
  }

  /** Normal (Box-Muller; the second value of each pair is kept for the next call). */
  normal(mean = 0, sd = 1): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return mean + sd * z;
    }
    const u = 1 - this.uniform(); // (0, 1]: log(0) never happens
    const r = sqrt(-2 * log(u));
    const theta = 2 * PI * this.uniform();
    this.spare = r * sin(theta);
    return mean + sd * r * cos(theta);
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + floor(this.uniform() * (hi - lo + 1));
  }

  bool(p: number): boolean {
    return this.uniform() < p;
  }

  choice<T>(items: readonly T[]): T {
    return items[floor(this.uniform() * items.length)];
  }

  /** A key drawn with the given (not necessarily normalised) probabilities. */
  weighted<K extends string>(probabilities: Readonly<Record<K, number>>): K {
    const keys = Object.keys(probabilities) as K[];
    const total = keys.reduce((s, k) => s + probabilities[k], 0);
    let u = this.uniform() * total;
    for (const k of keys) {
      u -= probabilities[k];
      if (u < 0) return k;
    }
    return keys[keys.length - 1];
  }

  /** A random unit vector, uniform on the sphere. */
  direction(): [number, number, number] {
    const z = this.uniform(-1, 1);
    const phi = this.uniform(0, 2 * PI);
    const r = sqrt(1 - z * z);
    return [r * cos(phi), r * sin(phi), z];
  }

  /**
   * Fills `out` with zero-mean unit-variance uniform samples (±sqrt 3). Used for speckle
   * scatterers: after the point-spread function sums dozens of them the field is Gaussian
   * (central limit), and this is several times faster than Box-Muller per voxel.
   */
  fillSymmetric(out: Float32Array | Float64Array, start = 0, end = out.length): void {
    let { a, b, c, d } = this;
    const scale = (2 * sqrt(3)) / 4294967296;
    const shift = sqrt(3);
    for (let i = start; i < end; i++) {
      const t = (((a + b) | 0) + d) | 0;
      d = (d + 1) | 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) | 0;
      c = (c << 21) | (c >>> 11);
      c = (c + t) | 0;
      out[i] = (t >>> 0) * scale - shift;
    }
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
  }
}
