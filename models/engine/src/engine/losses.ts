/**
 * The paper's multi-task loss: L = lambda * L_cls + (1 - lambda) * L_seg, lambda = 0.3,
 * with a class-weighted focal loss (gamma = 2) for classification and soft Dice for segmentation.
 */
import * as tf from '@tensorflow/tfjs-core';
import { LOSS, NetworkConfig } from './config';
import { PassOutput } from './network';

export interface ClassWeights {
  malignant: number;
  benign: number;
}

/** w_m = N_n / (N_m + N_n), w_n = N_m / (N_m + N_n): the rarer class weighs more. */
export function classWeights(malignantCount: number, benignCount: number): ClassWeights {
  const total = malignantCount + benignCount;
  if (total === 0) return { malignant: 0.5, benign: 0.5 };
  return { malignant: benignCount / total, benign: malignantCount / total };
}

/**
 * Weighted binary focal loss from logits, mean over the batch:
 * -w_m * y * (1-p)^g * log(p) - w_n * (1-y) * p^g * log(1-p).
 * log p is computed as -softplus(-z) so large logits stay finite.
 */
export function focalLoss(logits: tf.Tensor, labels: tf.Tensor, weights: ClassWeights, gamma = LOSS.focalGamma, lesion?: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const z = tf.reshape(logits, [-1]);
    const y = tf.reshape(labels, [-1]);
    // A sample without a lesion (a negative VOI) has no class: its term is zero, and the mean
    // stays over the whole batch, so the loss of a batch split across processes averages exactly.
    const has = lesion ? tf.reshape(lesion, [-1]) : tf.onesLike(y);
    const p = tf.sigmoid(z);
    const logP = tf.neg(tf.softplus(tf.neg(z)));
    const log1mP = tf.neg(tf.softplus(z));
    const pos = tf.mul(tf.mul(tf.pow(tf.sub(1, p), gamma), logP), tf.mul(y, weights.malignant));
    const neg = tf.mul(tf.mul(tf.pow(p, gamma), log1mP), tf.mul(tf.sub(1, y), weights.benign));
    return tf.neg(tf.mean(tf.mul(tf.add(pos, neg), has))) as tf.Scalar;
  });
}

/** Soft Dice loss, 1 - (2*sum(p*g) + s) / (sum(p) + sum(g) + s) per sample, mean over the batch. */
export function diceLoss(prob: tf.Tensor, truth: tf.Tensor, smooth = LOSS.diceSmooth): tf.Scalar {
  return tf.tidy(() => {
    const batch = prob.shape[0];
    const p = tf.reshape(prob, [batch, -1]);
    const g = tf.reshape(truth, [batch, -1]);
    const overlap = tf.sum(tf.mul(p, g), 1);
    const sizes = tf.add(tf.sum(p, 1), tf.sum(g, 1));
    const dice = tf.div(tf.add(tf.mul(overlap, 2), smooth), tf.add(sizes, smooth));
    return tf.mean(tf.sub(1, dice)) as tf.Scalar;
  });
}

export interface LossTerms {
  total: tf.Scalar;
  seg?: tf.Scalar;
  cls?: tf.Scalar;
}

/** Combines the passes' losses as the config says (every pass averaged, or the last only). */
export function multiTaskLoss(
  config: NetworkConfig,
  passes: PassOutput[],
  truth: { mask?: tf.Tensor; label?: tf.Tensor; lesion?: tf.Tensor },
  weights: ClassWeights,
  lambda = LOSS.lambda,
): LossTerms {
  const used = config.lossOnEveryIteration ? passes : passes.slice(-1);
  const average = (terms: tf.Scalar[]) => (terms.length === 1 ? terms[0] : (tf.div(tf.addN(terms), terms.length) as tf.Scalar));
  const seg = config.segmentation && truth.mask ? average(used.map((p) => diceLoss(p.segProb as tf.Tensor, truth.mask as tf.Tensor))) : undefined;
  const cls = config.clsStages.length && truth.label
    ? average(used.map((p) => focalLoss(p.clsLogit as tf.Tensor, truth.label as tf.Tensor, weights, LOSS.focalGamma, truth.lesion)))
    : undefined;
  let total: tf.Scalar;
  if (seg && cls) total = tf.add(tf.mul(cls, lambda), tf.mul(seg, 1 - lambda)) as tf.Scalar;
  else if (seg) total = seg;
  else if (cls) total = cls;
  else throw new Error('No loss term: the network has no output the given truth can supervise');
  return { total, seg, cls };
}
