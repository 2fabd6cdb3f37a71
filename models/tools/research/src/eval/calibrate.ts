/**
 * Calibration on validation phantoms, through the inference pipeline itself:
 * - clicks on lesions and on normal tissue of randomised phantoms (a seed of their own) give, per
 *   click, the segment at the click (its volume), the network's P(malignant) and the lesion's
 *   descriptors;
 * - the first part of them fits the card's classifier, a ridge logistic model over the descriptors
 *   and the network's logit; the rest checks it: expected calibration error (ECE), AUC, and the
 *   two operating points (rule-out: sensitivity >= 95%, rule-in: specificity >= 90%);
 * - the minimum lesion size keeps 99% of the lesions found and drops the specks on normal tissue.
 */
import { auc } from '../metrics';
import { Descriptors } from '@abus-tumor-ai/engine';
import { DESCRIPTOR_NAMES, DescriptorName, LogisticClassifier } from '@abus-tumor-ai/engine/lab';

export interface ClickRecord {
  /** Randomised phantoms (domain randomisation) or the generator's fixed look; absent in older records: randomised. */
  look?: 'randomised' | 'default';
  /** 'lesion', or the normal tissue clicked (fat, ligament, ...). */
  kind: string;
  malignant: boolean;
  /** Volume of the segment reaching the click (0: none). */
  segmentMl: number;
  /** Volume of the truth lesion (lesion clicks). */
  truthMl: number;
  networkProbability: number | null;
  descriptors: Descriptors | null;
}

export const CLICK_RADIUS_MM = 3;
/** Share of validation lesions the minimum lesion size must keep. */
const LESION_RECALL = 0.99;

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** Solves A x = b for a small symmetric positive-definite A (Cholesky). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const l = a.map(() => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = a[i][j];
      for (let k = 0; k < j; k++) s -= l[i][k] * l[j][k];
      l[i][j] = i === j ? Math.sqrt(Math.max(s, 1e-12)) : s / l[j][j];
    }
  const y = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i][k] * y[k];
    y[i] = s / l[i][i];
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= l[k][i] * x[k];
    x[i] = s / l[i][i];
  }
  return x;
}

/**
 * Ridge logistic regression by Newton's method (IRLS) on standardised features; the intercept is
 * not penalised. Written here because it is 30 lines, and a library would be a new dependency
 * for one fit of a dozen weights.
 */
export function fitLogistic(rows: number[][], labels: number[], features: DescriptorName[], ridge = 1): LogisticClassifier {
  const d = features.length;
  const mean = features.map((_, j) => rows.reduce((s, r) => s + r[j], 0) / rows.length);
  const scale = features.map((_, j) => Math.sqrt(rows.reduce((s, r) => s + (r[j] - mean[j]) ** 2, 0) / rows.length) || 1);
  const x = rows.map((r) => [1, ...r.map((v, j) => (v - mean[j]) / scale[j])]);
  let w = new Array<number>(d + 1).fill(0);
  for (let iter = 0; iter < 50; iter++) {
    const h = x[0].map(() => new Array<number>(d + 1).fill(0));
    const g = new Array<number>(d + 1).fill(0);
    x.forEach((xi, i) => {
      const p = sigmoid(xi.reduce((s, v, j) => s + v * w[j], 0));
      const q = Math.max(p * (1 - p), 1e-9);
      for (let a = 0; a <= d; a++) {
        g[a] += (p - labels[i]) * xi[a];
        for (let b = 0; b <= d; b++) h[a][b] += q * xi[a] * xi[b];
      }
    });
    for (let a = 1; a <= d; a++) {
      g[a] += ridge * w[a];
      h[a][a] += ridge;
    }
    const step = solve(h, g);
    w = w.map((v, j) => v - step[j]);
    if (Math.max(...step.map(Math.abs)) < 1e-8) break;
  }
  return { kind: 'logistic', features, mean, scale, weights: w.slice(1), bias: w[0] };
}

/** Expected calibration error over equal-width probability bins. */
export function expectedCalibrationError(labels: number[], probs: number[], bins = 10): number {
  let total = 0;
  for (let b = 0; b < bins; b++) {
    const idx = probs.map((p, i) => [p, i] as const).filter(([p]) => (b === bins - 1 ? p >= b / bins : p >= b / bins && p < (b + 1) / bins));
    if (!idx.length) continue;
    const confidence = idx.reduce((s, [p]) => s + p, 0) / idx.length;
    const rate = idx.reduce((s, [, i]) => s + labels[i], 0) / idx.length;
    total += (idx.length / probs.length) * Math.abs(confidence - rate);
  }
  return total;
}

/** Rule-out: the highest threshold with sensitivity >= 95%; rule-in: the lowest with specificity >= 90%. */
export function operatingPoints(labels: number[], probs: number[]): { ruleOut: number; ruleIn: number; sensitivityAtRuleOut: number; specificityAtRuleIn: number } {
  const malignant = probs.filter((_, i) => labels[i] === 1).sort((a, b) => a - b);
  const benign = probs.filter((_, i) => labels[i] === 0).sort((a, b) => a - b);
  // A lesion is called "likely benign" when p < ruleOut: at most 5% of the malignant ones may be.
  const ruleOut = malignant[Math.floor(0.05 * malignant.length)];
  // "Suspicious" when p > ruleIn: at most 10% of the benign ones may be.
  const ruleIn = benign[Math.min(benign.length - 1, Math.ceil(0.9 * benign.length) - 1)];
  return {
    ruleOut,
    ruleIn,
    sensitivityAtRuleOut: malignant.filter((p) => p >= ruleOut).length / malignant.length,
    specificityAtRuleIn: benign.filter((p) => p <= ruleIn).length / benign.length,
  };
}

export interface Calibration {
  classifier: LogisticClassifier;
  detection: { clickRadiusMm: number; minLesionMl: number };
  operatingPoints: { ruleOut: number; ruleIn: number };
  report: Record<string, unknown>;
}

export function calibrate(records: ClickRecord[], fitShare = 0.6): Calibration {
  const lesions = records.filter((r) => r.kind === 'lesion');
  const normals = records.filter((r) => r.kind !== 'lesion');
  const found = lesions.filter((r) => r.segmentMl > 0).map((r) => r.segmentMl).sort((a, b) => a - b);
  if (found.length < 20) throw new Error(`calibration needs at least 20 lesions the network segments; it found ${found.length}`);
  // The largest size that still keeps 99% of the lesions found; specks below it are "no lesion".
  const minLesionMl = found[Math.floor((1 - LESION_RECALL) * found.length)] * 0.999;
  const detected = (r: ClickRecord) => r.segmentMl > 0 && r.segmentMl >= minLesionMl;

  const usable = lesions.filter((r) => detected(r) && r.descriptors);
  const cut = Math.floor(fitShare * usable.length);
  const fit = usable.slice(0, cut);
  const check = usable.slice(cut);
  const features = [...DESCRIPTOR_NAMES];
  const rowOf = (r: ClickRecord) => features.map((f) => (r.descriptors as Descriptors)[f]);
  const classifier = fitLogistic(fit.map(rowOf), fit.map((r) => Number(r.malignant)), features);
  const probs = check.map((r) => sigmoid(classifier.features.reduce((z, f, i) => z + (classifier.weights[i] * ((r.descriptors as Descriptors)[f] - classifier.mean[i])) / classifier.scale[i], classifier.bias)));
  const labels = check.map((r) => Number(r.malignant));
  const points = operatingPoints(labels, probs);
  const network = check.map((r) => r.networkProbability as number);
  const byKind: Record<string, { clicks: number; noLesion: number }> = {};
  for (const r of normals) {
    const k = (byKind[r.kind] ??= { clicks: 0, noLesion: 0 });
    k.clicks++;
    if (!detected(r)) k.noLesion++;
  }
  return {
    classifier,
    detection: { clickRadiusMm: CLICK_RADIUS_MM, minLesionMl },
    operatingPoints: { ruleOut: points.ruleOut, ruleIn: points.ruleIn },
    report: {
      lesionClicks: lesions.length,
      lesionsFound: lesions.filter(detected).length / lesions.length,
      normalClicks: normals.length,
      normalNoLesion: normals.filter((r) => !detected(r)).length / Math.max(1, normals.length),
      normalByKind: byKind,
      fitLesions: fit.length,
      checkLesions: check.length,
      auc: auc(labels, probs),
      networkAuc: auc(labels, network),
      ece: expectedCalibrationError(labels, probs),
      networkEce: expectedCalibrationError(labels, network),
      ...points,
    },
  };
}
