import { rangeText, verdictFor } from './verdict';

const POINTS = { ruleOut: 0.226, ruleIn: 0.668 };

test('a P range across an operating point is "Indeterminate", whatever side P itself is on', () => {
  expect(verdictFor(0.72, POINTS)).toBe('Suspicious for malignancy');
  expect(verdictFor(0.72, POINTS, [0.61, 0.76])).toBe('Indeterminate');
  expect(verdictFor(0.72, POINTS, [0.67, 0.76])).toBe('Suspicious for malignancy');
  expect(verdictFor(0.2, POINTS, [0.18, 0.21])).toBe('Likely benign');
  expect(verdictFor(0.2, POINTS, [0.18, 0.24])).toBe('Indeterminate');
  expect(verdictFor(0.5, POINTS, [0.3, 0.6])).toBe('Indeterminate');
  expect(verdictFor(0.5, undefined, [0.1, 0.9])).toBeNull();
});

test('the range in words only when the views disagree by a point or more', () => {
  expect(rangeText([0.612, 0.724])).toBe('61-72%');
  expect(rangeText([0.612, 0.615])).toBeUndefined();
  expect(rangeText(null)).toBeUndefined();
});
