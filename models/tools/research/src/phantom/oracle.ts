/**
 * How separable the phantom classes are at best: the AUC of the exact likelihood ratio of each
 * lesion's true BI-RADS features under the generator's own tables. A model that perceived every
 * feature perfectly could reach about this AUC; the classes overlap by design, so it is below 1.
 */
import { auc } from '../metrics';
import { phantomCaseSeed } from './dataset';
import { planPhantom } from './generate';
import { FEATURE_PROBABILITIES as P } from './lesion';
import type { LesionFeatures } from './lesion';

function likelihood(f: LesionFeatures, c: 'M' | 'B'): number {
  let p = P.shape[c][f.shape] * P.margin[c][f.margin] * P.orientation[c][f.orientation] * (f.halo ? P.halo[c] : 1 - P.halo[c]);
  const cystPossible = f.margin === 'circumscribed' && f.shape !== 'irregular';
  if (f.echo === 'anechoic') p *= P.cyst[c];
  else p *= (cystPossible ? 1 - P.cyst[c] : 1) * P.solidEcho[c][f.echo] * P.posterior[c][f.posterior];
  return p;
}

export function featureOracleAuc(seed: number, cases: number): { auc: number; lesions: number } {
  const labels: number[] = [];
  const scores: number[] = [];
  for (let n = 0; n < cases; n++) {
    for (const lesion of planPhantom({ seed: phantomCaseSeed(seed, n) }).lesions) {
      labels.push(lesion.malignant ? 1 : 0);
      scores.push(Math.log(likelihood(lesion.features, 'M') + 1e-12) - Math.log(likelihood(lesion.features, 'B') + 1e-12));
    }
  }
  return { auc: auc(labels, scores), lesions: labels.length };
}
