import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { classWeights, diceLoss, focalLoss } from './losses';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const value = async (t: tf.Tensor) => (await t.data())[0];

test('class weights follow the class counts (the rarer class weighs more)', () => {
  expect(classWeights(30, 70)).toEqual({ malignant: 0.7, benign: 0.3 });
});

test('focal loss equals the hand-computed value', async () => {
  // z = 0 -> p = 0.5; malignant: -w_m * 0.25 * ln 0.5; benign, z = 2: p = 0.8808, -w_n * p^2 * ln(1 - p)
  const w = { malignant: 0.7, benign: 0.3 };
  const p = 1 / (1 + Math.exp(-2));
  const expected = (0.7 * 0.25 * Math.log(2) + -0.3 * p * p * Math.log(1 - p)) / 2;
  const loss = focalLoss(tf.tensor2d([0, 2], [2, 1]), tf.tensor2d([1, 0], [2, 1]), w);
  expect(await value(loss)).toBeCloseTo(expected, 6);
});

test('focal loss stays finite at extreme logits', async () => {
  const loss = focalLoss(tf.tensor1d([-200, 200]), tf.tensor1d([1, 0]), { malignant: 0.5, benign: 0.5 });
  const v = await value(loss);
  expect(Number.isFinite(v)).toBe(true);
  expect(v).toBeCloseTo(0.5 * 200, 3);
});

test('soft Dice loss equals the hand-computed value, per sample then averaged', async () => {
  const prob = tf.tensor2d([[0.5, 1, 0, 0], [0, 0, 0, 0]]);
  const truth = tf.tensor2d([[1, 1, 0, 0], [0, 0, 0, 0]]);
  // sample 1: overlap 1.5, sizes 1.5 + 2 -> 1 - (3 + 1)/(3.5 + 1); sample 2: 1 - 1/1 = 0
  const expected = (1 - 4 / 4.5 + 0) / 2;
  expect(await value(diceLoss(prob, truth))).toBeCloseTo(expected, 6);
});
