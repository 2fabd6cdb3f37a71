/**
 * Words for P(malignant), only where validation supports them: below the card's rule-out
 * threshold (sensitivity for malignancy at least 95% on validation) "Likely benign", above its
 * rule-in threshold (specificity at least 90%) "Suspicious for malignancy", "Indeterminate"
 * between. A card without operating points gives no words at all, only the number.
 */
import type { ModelCard } from '../engine/weights';

export type Verdict = 'Likely benign' | 'Indeterminate' | 'Suspicious for malignancy';

export function verdictFor(probability: number | null, points: ModelCard['operatingPoints']): Verdict | null {
  if (probability === null || !points) return null;
  if (probability < points.ruleOut) return 'Likely benign';
  if (probability > points.ruleIn) return 'Suspicious for malignancy';
  return 'Indeterminate';
}

/** The class a verdict commits to, for colours and the SR's qualitative evaluation; none in the indeterminate band. */
export function verdictClass(verdict: Verdict | null): 'malignant' | 'benign' | null {
  return verdict === 'Suspicious for malignancy' ? 'malignant' : verdict === 'Likely benign' ? 'benign' : null;
}
