/**
 * P(malignant) as the model card says to compute it: a logistic model over the network's
 * classification logit and the lesion's measured descriptors (descriptors.ts), fitted and
 * checked on validation phantoms by `abus-ai calibrate`; or, in a card without one, the
 * network's own output.
 */
import { DescriptorName, Descriptors } from './descriptors';

export interface LogisticClassifier {
  kind: 'logistic';
  features: DescriptorName[];
  /** Standardisation: (value - mean) / scale, per feature. */
  mean: number[];
  scale: number[];
  weights: number[];
  bias: number;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

export function logit(p: number): number {
  const q = Math.min(Math.max(p, 1e-7), 1 - 1e-7);
  return Math.log(q / (1 - q));
}

export function classifierLogit(c: LogisticClassifier, d: Descriptors): number {
  return c.features.reduce((z, name, i) => z + (c.weights[i] * (d[name] - c.mean[i])) / c.scale[i], c.bias);
}

export function malignancyProbability(c: LogisticClassifier | undefined, d: Descriptors | null, networkProbability: number): number {
  return c && d ? sigmoid(classifierLogit(c, d)) : networkProbability;
}
