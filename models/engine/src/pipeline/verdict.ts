/**
 * Words for P(malignant), only where validation supports them: below the card's rule-out
 * threshold (sensitivity for malignancy at least 95% on validation) "Likely benign", above its
 * rule-in threshold (specificity at least 90%) "Suspicious for malignancy", "Indeterminate"
 * between. A card without operating points gives no words at all, only the number. When the
 * network's views disagree across a threshold (the P range straddles it), the honest word is
 * "Indeterminate", whatever side their average falls on.
 */
import type { ModelCard } from '../engine/weights';

export type Verdict = 'Likely benign' | 'Indeterminate' | 'Suspicious for malignancy';

export function verdictFor(probability: number | null, points: ModelCard['operatingPoints'], range?: [number, number] | null): Verdict | null {
  if (probability === null || !points) return null;
  const [lo, hi] = range ?? [probability, probability];
  if (hi < points.ruleOut) return 'Likely benign';
  if (lo > points.ruleIn) return 'Suspicious for malignancy';
  return 'Indeterminate';
}

/** The range as words, e.g. "61-72%", or undefined when the views agree to within a point. */
export function rangeText(range: [number, number] | null | undefined): string | undefined {
  if (!range || range[1] - range[0] < 0.01) return undefined;
  return `${Math.round(range[0] * 100)}-${Math.round(range[1] * 100)}%`;
}

/** The class a verdict commits to, for colours and the SR's qualitative evaluation; none in the indeterminate band. */
export function verdictClass(verdict: Verdict | null): 'malignant' | 'benign' | null {
  return verdict === 'Suspicious for malignancy' ? 'malignant' : verdict === 'Likely benign' ? 'benign' : null;
}
