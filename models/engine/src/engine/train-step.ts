/**
 * One optimisation step of the multi-task network, and the batch-norm moving averages
 * that live outside the gradient tape.
 */
import * as tf from '@tensorflow/tfjs-core';
import './register-gradients';
import { BATCH_NORM_MOMENTUM, LOSS, NetworkConfig } from './config';
import { ClassWeights, multiTaskLoss } from './losses';
import { forward, Weights } from './network';
import { BatchMoments, KernelOptions } from './ops';

export interface TrainBatch {
  /** [batch, d, h, w, 1] normalised VOIs. */
  voi: tf.Tensor5D;
  /** [batch, d, h, w, 1] 0/1 tumour masks. */
  mask: tf.Tensor5D;
  /** [batch, 1] 1 = malignant. */
  label: tf.Tensor2D;
  /** [batch, 1] 1 = the VOI holds a lesion, 0 = a negative sample (no class); default all 1. */
  lesion?: tf.Tensor2D;
}

export interface StepResult {
  loss: number;
  seg?: number;
  cls?: number;
}

/**
 * Trainable weights become tf.Variables; batch-norm moving statistics are non-trainable variables.
 * prefix: give a fixed one (e.g. 'train') when optimizer state is saved and restored, since
 * the optimizer keys its slots by variable name; the default is unique per call (tf.variable
 * names must be unique in the process), random rather than counted so that no module state changes.
 */
export function toVariables(weights: Weights, prefix = `abus-${Math.random().toString(36).slice(2, 12)}`): Record<string, tf.Variable> {
  const vars: Record<string, tf.Variable> = {};
  for (const [name, t] of Object.entries(weights)) {
    vars[name] = tf.variable(t, !name.includes('/bn/moving_'), `${prefix}/${name}`);
  }
  return vars;
}

/** Sorted, so the optimizer's per-variable slots line up the same way after a resume. */
export function trainableNames(weights: Weights): string[] {
  return Object.keys(weights).filter((n) => !n.includes('/bn/moving_')).sort();
}

export class Trainer {
  constructor(
    readonly config: NetworkConfig,
    readonly variables: Record<string, tf.Variable>,
    readonly optimizer: tf.Optimizer,
    readonly classWeights: ClassWeights,
    readonly lambda = LOSS.lambda,
    readonly bnMomentum = BATCH_NORM_MOMENTUM,
    /** Which kernels run the convolutions (benchmarks time stock tfjs against this project's). */
    readonly kernels: KernelOptions = {},
  ) {}

  async step(batch: TrainBatch): Promise<StepResult> {
    const moments = new Map<string, BatchMoments[]>();
    const terms: { seg?: tf.Scalar; cls?: tf.Scalar } = {};
    const varList = trainableNames(this.variables).map((n) => this.variables[n]);
    const loss = this.optimizer.minimize(
      () => {
        const passes = forward(this.config, this.variables, batch.voi, { training: true, batchMoments: moments, kernels: this.kernels });
        const l = multiTaskLoss(this.config, passes, { mask: batch.mask, label: batch.label, lesion: batch.lesion }, this.classWeights, this.lambda);
        if (l.seg) terms.seg = tf.keep(l.seg);
        if (l.cls) terms.cls = tf.keep(l.cls);
        return l.total;
      },
      true,
      varList,
    ) as tf.Scalar;
    this.updateMovingStats(moments);
    const [total, seg, cls] = await Promise.all([loss.data(), terms.seg?.data(), terms.cls?.data()]);
    tf.dispose([loss, terms.seg, terms.cls].filter(Boolean) as tf.Tensor[]);
    return { loss: total[0], seg: seg?.[0], cls: cls?.[0] };
  }

  private updateMovingStats(moments: Map<string, BatchMoments[]>): void {
    for (const [name, list] of moments) {
      tf.tidy(() => {
        // Every pass of the iteration contributes one batch estimate; they are averaged.
        const mean = tf.div(tf.addN(list.map((m) => m.mean)), list.length);
        const variance = tf.div(tf.addN(list.map((m) => m.variance)), list.length);
        const mm = this.variables[`${name}/bn/moving_mean`];
        const mv = this.variables[`${name}/bn/moving_variance`];
        mm.assign(tf.add(tf.mul(mm, this.bnMomentum), tf.mul(mean, 1 - this.bnMomentum)));
        mv.assign(tf.add(tf.mul(mv, this.bnMomentum), tf.mul(variance, 1 - this.bnMomentum)));
      });
      tf.dispose(list.flatMap((m) => [m.mean, m.variance]));
    }
  }

  dispose(): void {
    tf.dispose(Object.values(this.variables));
    this.optimizer.dispose();
  }
}
