/** Calibration: the logistic fit, the calibration error, the operating points and the minimum lesion size. */
import { Descriptors } from '@abus-tumor-ai/engine';
import { DESCRIPTOR_NAMES } from '@abus-tumor-ai/engine/lab';
import { Rng } from '../train/rng';
import { calibrate, ClickRecord, expectedCalibrationError, fitLogistic, operatingPoints } from './calibrate';

test('the logistic fit recovers the direction and size of known weights', () => {
  const rng = new Rng(3);
  const rows: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < 4000; i++) {
    const x = [rng.normal(), rng.normal(), rng.normal()];
    rows.push(x);
    labels.push(rng.next() < 1 / (1 + Math.exp(-(0.5 + 2 * x[0] - 1 * x[1])))  ? 1 : 0);
  }
  const c = fitLogistic(rows, labels, ['networkLogit', 'sphericity', 'openingLoss'], 0);
  expect(c.weights[0] / c.scale[0]).toBeCloseTo(2, 0);
  expect(c.weights[1] / c.scale[1]).toBeCloseTo(-1, 0);
  expect(Math.abs(c.weights[2])).toBeLessThan(0.15);
});

test('ECE is zero for perfectly calibrated bins and large for confident mistakes', () => {
  expect(expectedCalibrationError([1, 0, 1, 0], [0.55, 0.55, 0.55, 0.55])).toBeCloseTo(0.05, 5);
  expect(expectedCalibrationError([0, 0, 1, 1], [0.95, 0.95, 0.05, 0.05])).toBeCloseTo(0.95, 5);
});

test('operating points keep 95% of the malignant above rule-out and 90% of the benign below rule-in', () => {
  const probs = Array.from({ length: 200 }, (_, i) => i / 200);
  const labels = probs.map((p) => (p > 0.4 ? 1 : 0));
  const o = operatingPoints(labels, probs);
  expect(o.sensitivityAtRuleOut).toBeGreaterThanOrEqual(0.95);
  expect(o.specificityAtRuleIn).toBeGreaterThanOrEqual(0.9);
  expect(o.ruleOut).toBeGreaterThan(0.4);
  expect(o.ruleIn).toBeLessThan(0.4);
});

test('calibrate keeps 99% of lesions above the minimum size and drops the specks on normal tissue', () => {
  const rng = new Rng(5);
  const records: ClickRecord[] = [];
  for (let i = 0; i < 300; i++) {
    const malignant = rng.next() < 0.5;
    const descriptors = Object.fromEntries(DESCRIPTOR_NAMES.map((n) => [n, rng.normal() + (n === 'radialRoughness' && malignant ? 2.5 : 0)])) as Descriptors;
    records.push({ kind: 'lesion', malignant, segmentMl: 0.05 + rng.next(), truthMl: 1, networkProbability: 0.5, descriptors });
    records.push({ kind: 'fat', malignant: false, segmentMl: rng.next() < 0.3 ? 0.001 : 0, truthMl: 0, networkProbability: 0.5, descriptors: null });
  }
  const c = calibrate(records);
  expect(c.detection.minLesionMl).toBeGreaterThan(0.001);
  expect(c.report.lesionsFound as number).toBeGreaterThanOrEqual(0.99);
  expect(c.report.normalNoLesion).toBe(1);
  expect(c.report.auc as number).toBeGreaterThan(0.8);
  expect(c.report.networkAuc as number).toBe(0.5);
});
