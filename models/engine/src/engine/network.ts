/**
 * CMSVNetIter and its ablation variants as a function of named weights, so the same code runs
 * training (tf.Variable weights, batch-norm batch statistics) and inference (plain tensors,
 * batch norm either from moving statistics or folded into the convolutions).
 *
 * Weight names:
 *   stage{s}/conv{c}/kernel [3,3,3,cin,cout]    stage s = 1..9, conv c = 0..
 *   down{s}/kernel [8*cin, cout]                from stage s to s+1 (s = 1..4)
 *   up{s}/kernel   [cin, 8*cout]                into decoder stage s (s = 6..9)
 *   <layer>/bn/{gamma,beta,moving_mean,moving_variance}, or <layer>/bias once folded
 *   seg/kernel [2*baseWidth, 1], seg/bias
 *   cls/fc1/kernel, cls/fc1/bias, cls/fc2/kernel, cls/fc2/bias
 */
import * as tf from '@tensorflow/tfjs-core';
import { NetworkConfig, SIZE_MULTIPLE, stageWidth } from './config';
import * as ops from './ops';

export type Weights = Record<string, tf.Tensor>;

export interface PassOutput {
  /** The input this pass saw (the VOI, or VOI + previous probability map). */
  input: tf.Tensor5D;
  segLogits?: tf.Tensor5D;
  segProb?: tf.Tensor5D;
  clsLogit?: tf.Tensor2D;
  clsProb?: tf.Tensor2D;
  /** With ForwardOptions.keepPooled: the head's input under each pooling (lesion from pass 2 on). */
  pooled?: { global: tf.Tensor2D; lesion?: tf.Tensor2D };
}

export interface ForwardOptions {
  training?: boolean;
  /** Filled in training mode: the batch moments of every batch-norm layer, for the moving averages. */
  batchMoments?: Map<string, ops.BatchMoments[]>;
  /** Also return the classification features under both poolings (fitting a head on frozen features). */
  keepPooled?: boolean;
  /** Called after each pass (for progress reports). */
  onPass?: (pass: number) => void;
  /** Which kernels run the convolutions (the engine's or trainer's own; default: this project's). */
  kernels?: ops.KernelOptions;
}

type LayerKind = 'conv3' | 'down' | 'up';

interface LayerSpec {
  name: string;
  kind: LayerKind;
  shape: number[];
  fanIn: number;
  outChannels: number;
}

/** Every batch-normalised layer of the network, in forward order. */
export function layerSpecs(config: NetworkConfig): LayerSpec[] {
  const specs: LayerSpec[] = [];
  const conv = (name: string, cin: number, cout: number) =>
    specs.push({ name, kind: 'conv3', shape: [3, 3, 3, cin, cout], fanIn: 27 * cin, outChannels: cout });
  for (let s = 1; s <= 5; s++) {
    const width = stageWidth(config, s);
    for (let c = 0; c < config.encoderConvs[s - 1]; c++) conv(`stage${s}/conv${c}`, c === 0 && s === 1 ? 1 : width, width);
    if (s < 5) {
      const next = stageWidth(config, s + 1);
      specs.push({ name: `down${s}`, kind: 'down', shape: [8 * width, next], fanIn: 8 * width, outChannels: next });
    }
  }
  if (config.segmentation) {
    for (let s = 6; s <= 9; s++) {
      const below = stageWidth(config, s - 1);
      const width = stageWidth(config, s);
      specs.push({ name: `up${s}`, kind: 'up', shape: [below, 8 * (width / 2)], fanIn: below, outChannels: width / 2 });
      for (let c = 0; c < config.decoderConvs[s - 6]; c++) conv(`stage${s}/conv${c}`, width, width);
    }
  }
  return specs;
}

function headShapes(config: NetworkConfig): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  if (config.segmentation) {
    shapes['seg/kernel'] = [stageWidth(config, 9), 1];
    shapes['seg/bias'] = [1];
  }
  if (config.clsStages.length) {
    const features = config.clsStages.reduce((sum, s) => sum + stageWidth(config, s), 0);
    shapes['cls/fc1/kernel'] = [features, config.clsHidden];
    shapes['cls/fc1/bias'] = [config.clsHidden];
    shapes['cls/fc2/kernel'] = [config.clsHidden, 1];
    shapes['cls/fc2/bias'] = [1];
  }
  return shapes;
}

/** Expected name -> shape of an unfolded (trainable) or folded (inference) weight set. */
export function weightShapes(config: NetworkConfig, folded: boolean): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  for (const spec of layerSpecs(config)) {
    shapes[`${spec.name}/kernel`] = spec.shape;
    if (folded) shapes[`${spec.name}/bias`] = [spec.outChannels];
    else for (const p of ['gamma', 'beta', 'moving_mean', 'moving_variance']) shapes[`${spec.name}/bn/${p}`] = [spec.outChannels];
  }
  return { ...shapes, ...headShapes(config) };
}

/** He-normal kernels, unit batch norm; deterministic for a seed. */
export function initWeights(config: NetworkConfig, seed = 1): Weights {
  const weights: Weights = {};
  let n = 0;
  const normal = (shape: number[], std: number) => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed * 1000 + n++), std);
  for (const spec of layerSpecs(config)) {
    weights[`${spec.name}/kernel`] = normal(spec.shape, Math.sqrt(2 / spec.fanIn));
    weights[`${spec.name}/bn/gamma`] = tf.ones([spec.outChannels]);
    weights[`${spec.name}/bn/beta`] = tf.zeros([spec.outChannels]);
    weights[`${spec.name}/bn/moving_mean`] = tf.zeros([spec.outChannels]);
    weights[`${spec.name}/bn/moving_variance`] = tf.ones([spec.outChannels]);
  }
  for (const [name, shape] of Object.entries(headShapes(config))) {
    weights[name] = name.endsWith('bias') ? tf.zeros(shape) : normal(shape, Math.sqrt(2 / shape[0]));
  }
  return weights;
}

/** Checks that weights fit the architecture; throws one readable line naming the first mismatch. */
export function checkWeights(config: NetworkConfig, weights: Weights, folded: boolean): void {
  const expected = weightShapes(config, folded);
  for (const [name, shape] of Object.entries(expected)) {
    const w = weights[name];
    if (!w) throw new Error(`Weights do not match the ${config.variant} architecture: '${name}' is missing`);
    if (w.shape.join('x') !== shape.join('x')) {
      throw new Error(`Weights do not match the ${config.variant} architecture: '${name}' is ${w.shape.join('x')}, expected ${shape.join('x')}`);
    }
  }
  const extra = Object.keys(weights).filter((k) => !(k in expected));
  if (extra.length) throw new Error(`Weights do not match the ${config.variant} architecture: unexpected '${extra[0]}'`);
}

export function isFolded(weights: Weights): boolean {
  return !Object.keys(weights).some((k) => k.includes('/bn/'));
}

class Runner {
  constructor(
    private readonly config: NetworkConfig,
    private readonly w: Weights,
    private readonly options: ForwardOptions,
  ) {}

  private normRelu(name: string, x: tf.Tensor5D): tf.Tensor5D {
    const bias = this.w[`${name}/bias`] as tf.Tensor1D | undefined;
    let y: tf.Tensor5D;
    if (bias) {
      y = ops.addBias(x, bias);
    } else if (this.options.training) {
      const bn = ops.batchNormTrain(x, this.w[`${name}/bn/gamma`] as tf.Tensor1D, this.w[`${name}/bn/beta`] as tf.Tensor1D, this.config.batchNormEpsilon);
      const list = this.options.batchMoments?.get(name) ?? [];
      list.push(bn.moments);
      this.options.batchMoments?.set(name, list);
      y = bn.y;
    } else {
      const { scale, shift } = bnScaleShift(this.w, name, this.config.batchNormEpsilon);
      y = ops.scaleShift(x, scale, shift);
    }
    return tf.relu(y);
  }

  private convStage(stage: number, x: tf.Tensor5D, count: number): tf.Tensor5D {
    let y = x;
    for (let c = 0; c < count; c++) {
      const name = `stage${stage}/conv${c}`;
      const kernel = this.w[`${name}/kernel`] as tf.Tensor5D;
      const bias = this.w[`${name}/bias`] as tf.Tensor1D | undefined;
      y = bias ? ops.conv3x3BiasRelu(y, kernel, bias, this.options.kernels) : this.normRelu(name, ops.conv3x3(y, kernel, this.options.kernels));
    }
    // V-Net residual: the stage learns a correction to its input.
    return tf.add(y, stage === 1 ? repeatChannels(x, stageWidth(this.config, 1)) : x);
  }

  /** prior: the previous pass's probability map, which weights the pooling under clsPooling 'lesion'. */
  run(input: tf.Tensor5D, prior?: tf.Tensor5D): PassOutput {
    const { config, w } = this;
    const stages: tf.Tensor5D[] = [];
    let x = input;
    for (let s = 1; s <= 5; s++) {
      x = this.convStage(s, x, config.encoderConvs[s - 1]);
      stages[s] = x;
      if (s < 5) x = this.normRelu(`down${s}`, ops.downConv(x, w[`down${s}/kernel`] as tf.Tensor2D, this.options.kernels));
    }
    const out: PassOutput = { input };
    if (config.segmentation) {
      for (let s = 6; s <= 9; s++) {
        const up = this.normRelu(`up${s}`, ops.upConv(x, w[`up${s}/kernel`] as tf.Tensor2D, this.options.kernels));
        x = this.convStage(s, ops.concatChannels(up, stages[10 - s]), config.decoderConvs[s - 6]);
        stages[s] = x;
      }
      out.segLogits = ops.pointwise(x, w['seg/kernel'] as tf.Tensor2D, w['seg/bias'] as tf.Tensor1D);
      out.segProb = tf.sigmoid(out.segLogits);
    }
    if (config.clsStages.length) {
      const lesionWeights = prior && (this.options.training ? ops.stopGradient(prior) : prior);
      const pool = (weights: tf.Tensor5D | undefined): tf.Tensor2D => {
        const pooled = config.clsStages.map((s) => {
          const v = weights ? ops.weightedAvgPool(stages[s], weights) : ops.globalAvgPool(stages[s]);
          return config.normalizeStageFeatures ? ops.l2Normalize(v) : v;
        });
        return pooled.length === 1 ? pooled[0] : tf.concat(pooled, 1);
      };
      const features = pool(config.clsPooling === 'lesion' ? lesionWeights : undefined);
      if (this.options.keepPooled) out.pooled = { global: pool(undefined), lesion: lesionWeights && pool(lesionWeights) };
      const hidden = tf.relu(tf.add(tf.matMul(features, w['cls/fc1/kernel'] as tf.Tensor2D), w['cls/fc1/bias']));
      out.clsLogit = tf.add(tf.matMul(hidden, w['cls/fc2/kernel'] as tf.Tensor2D), w['cls/fc2/bias']) as tf.Tensor2D;
      out.clsProb = tf.sigmoid(out.clsLogit);
    }
    return out;
  }
}

/** Stage 1's residual: the one-channel input copied to every channel (a matmul with ones, rank 2). */
function repeatChannels(x: tf.Tensor5D, channels: number): tf.Tensor5D {
  return ops.pointwise(x, tf.ones([x.shape[4], channels]) as tf.Tensor2D);
}

export function bnScaleShift(w: Weights, name: string, epsilon: number): { scale: tf.Tensor1D; shift: tf.Tensor1D } {
  return tf.tidy(() => {
    const scale = tf.mul(w[`${name}/bn/gamma`], tf.rsqrt(tf.add(w[`${name}/bn/moving_variance`], epsilon))) as tf.Tensor1D;
    const shift = tf.sub(w[`${name}/bn/beta`], tf.mul(w[`${name}/bn/moving_mean`], scale)) as tf.Tensor1D;
    return { scale, shift };
  });
}

/**
 * Runs the N passes. voi: [batch, d, h, w, 1], every spatial size a multiple of 16.
 * Returns every pass's outputs; the caller owns (and disposes) them.
 */
export function forward(config: NetworkConfig, weights: Weights, voi: tf.Tensor5D, options: ForwardOptions = {}): PassOutput[] {
  const passes: PassOutput[] = [];
  for (let k = 1; k <= config.iterations; k++) {
    const prior = passes.length ? passes[passes.length - 1].segProb : undefined;
    passes.push(forwardPass(config, weights, voi, prior, options));
    options.onPass?.(k);
  }
  return passes;
}

/**
 * One pass: input = voi for the first, voi + prior (the previous pass's probability map)
 * afterwards. Exposed so inference can report progress and stop between passes.
 */
export function forwardPass(config: NetworkConfig, weights: Weights, voi: tf.Tensor5D, prior: tf.Tensor5D | undefined, options: ForwardOptions = {}): PassOutput {
  const [, d, h, wd, c] = voi.shape;
  if (c !== 1) throw new Error(`The network takes one input channel, got ${c}`);
  if ([d, h, wd].some((n) => n % SIZE_MULTIPLE !== 0)) {
    throw new Error(`Input ${d}x${h}x${wd} is not a multiple of ${SIZE_MULTIPLE} along every axis`);
  }
  let input = voi;
  if (prior) input = tf.add(voi, options.training && config.detachPrior ? ops.stopGradient(prior) : prior);
  return new Runner(config, weights, options).run(input, prior);
}

/** Multiply-accumulates of one forward pass (all N iterations) for a grid of [x, y, z] voxels. */
export function forwardMacs(config: NetworkConfig, grid: [number, number, number]): number {
  const voxels = (level: number) => (grid[0] * grid[1] * grid[2]) / 8 ** level;
  let macs = 0;
  for (const spec of layerSpecs(config)) {
    const stage = spec.name.startsWith('stage') ? Number(spec.name.slice(5, spec.name.indexOf('/'))) : Number(spec.name.replace(/\D/g, ''));
    const level = spec.kind === 'down' ? stage : stage <= 5 ? stage - 1 : 9 - stage + (spec.kind === 'up' ? 1 : 0);
    const params = spec.shape.reduce((a, b) => a * b, 1);
    // conv3: 27*cin*cout per output voxel; down: 8*cin*cout per output voxel (one level down);
    // up: cin*8*cout per input voxel (one level below its output).
    macs += params * voxels(level);
  }
  return macs * config.iterations;
}
