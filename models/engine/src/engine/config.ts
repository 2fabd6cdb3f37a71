/**
 * Network configuration and the six models of the paper's ablation (Zhou et al., MedIA 2021).
 *
 * Stage numbering (used by `clsStages`): stages 1-5 are the encoder, from full resolution
 * (stage 1) down to the bottom (stage 5, 1/16 resolution); stages 6-9 are the decoder, from
 * 1/8 resolution (stage 6) back up to full resolution (stage 9). So the paper's "stage 4-6
 * features" are the deepest encoder stage with a skip (1/8), the bottom (1/16), and the first
 * decoder stage (1/8).
 *
 * Widths: encoder stage s has baseWidth * 2^(s-1) channels; decoder stages, as in V-Net, have
 * twice the encoder width of their level (up-convolution output + skip concatenation).
 */
import architecture from './architecture.json';

export const VARIANTS = ['vnet', 'clsnet', 'cvnet', 'cmsvnet', 'cvnetiter', 'cmsvnetiter'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface NetworkConfig {
  variant: Variant;
  baseWidth: number;
  /** Convolutions per encoder stage 1-5. */
  encoderConvs: number[];
  /** Convolutions per decoder stage 6-9. */
  decoderConvs: number[];
  /** False for ClsNet: encoder only, no segmentation output. */
  segmentation: boolean;
  /** Stages whose globally pooled features feed the classifier; empty for V-Net. */
  clsStages: number[];
  /** Hidden units of the classification head. */
  clsHidden: number;
  /** L2-normalise each stage's pooled vector before concatenation (the paper's per-stage normalisation). */
  normalizeStageFeatures: boolean;
  /**
   * How each classification stage is pooled: 'global', the paper's channel-wise global average;
   * or 'lesion', from pass 2 on weighted by the previous pass's segmentation resampled to the
   * stage's grid (pass 1 still pools globally). A small lesion fills little of its VOI, so the
   * global average mostly measures background.
   */
  clsPooling: 'global' | 'lesion';
  /** N: forward passes with shared weights; pass k > 1 sees VOI + pass k-1's probability map. */
  iterations: number;
  /** Training: stop gradients flowing into the previous pass through its probability map. */
  detachPrior: boolean;
  /** Training: average the loss over every pass (true) or use the last pass only (false). */
  lossOnEveryIteration: boolean;
  batchNormEpsilon: number;
}

/** Loss and training constants shared with the PyTorch twin (architecture.json). */
export const LOSS = architecture.loss;
export const BATCH_NORM_MOMENTUM = architecture.batchNormMomentum;
export const L2_NORM_EPSILON = architecture.l2NormEpsilon;
export const POOLING_WEIGHT_FLOOR = architecture.poolingWeightFloor;

const DEFAULTS = architecture.defaults as Omit<NetworkConfig, 'variant' | 'segmentation' | 'clsStages' | 'iterations'>;
const VARIANT_SHAPE: Record<Variant, Pick<NetworkConfig, 'segmentation' | 'clsStages' | 'iterations'>> = architecture.variants;

export function variantConfig(variant: Variant, overrides: Partial<NetworkConfig> = {}): NetworkConfig {
  if (!VARIANTS.includes(variant)) throw new Error(`Unknown variant '${variant}'; expected one of ${VARIANTS.join(', ')}`);
  const config: NetworkConfig = { ...DEFAULTS, variant, ...VARIANT_SHAPE[variant], ...overrides };
  validateConfig(config);
  return config;
}

/** A card's architecture, with the defaults of options added after it was written; validated. */
export function withDefaults(architecture: NetworkConfig): NetworkConfig {
  const config = { ...DEFAULTS, ...architecture };
  validateConfig(config);
  return config;
}

export function validateConfig(config: NetworkConfig): void {
  if (config.encoderConvs.length !== 5) throw new Error('encoderConvs needs 5 entries (stages 1-5)');
  if (config.decoderConvs.length !== 4) throw new Error('decoderConvs needs 4 entries (stages 6-9)');
  const maxStage = config.segmentation ? 9 : 5;
  for (const s of config.clsStages) {
    if (!Number.isInteger(s) || s < 1 || s > maxStage) throw new Error(`clsStages: stage ${s} does not exist (1-${maxStage})`);
  }
  if (!config.segmentation && config.clsStages.length === 0) throw new Error('a network needs a segmentation or a classification output');
  if (!config.segmentation && config.iterations > 1) throw new Error('iterative refinement needs a segmentation output');
  if (config.iterations < 1) throw new Error('iterations must be at least 1');
  if (config.clsPooling !== 'global' && config.clsPooling !== 'lesion') throw new Error(`clsPooling must be 'global' or 'lesion', not '${String(config.clsPooling)}'`);
  if (config.clsPooling === 'lesion' && !config.segmentation) throw new Error("clsPooling 'lesion' needs a segmentation output");
}

/** Channels of stage 1-9. */
export function stageWidth(config: NetworkConfig, stage: number): number {
  const level = stage <= 5 ? stage - 1 : 9 - stage;
  return config.baseWidth * 2 ** (stage <= 5 ? level : level + 1);
}

/** Every spatial size must halve cleanly four times. */
export const SIZE_MULTIPLE = 16;
