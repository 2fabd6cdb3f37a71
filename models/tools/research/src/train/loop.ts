/**
 * The training loop: the paper's protocol (VOIs around tumour centres with augmentation, the
 * multi-task loss, N-pass iterative training), one JSON line per epoch, a checkpoint after every
 * epoch (so a crash or Ctrl-C loses at most one), exact resume, and the best epoch exported as
 * folded inference weights with a model card.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as fs from 'fs';
import * as path from 'path';
import { LesionSample, LoadedCase } from '../data/tdsc';
import { InputContract } from '@abus-tumor-ai/engine';
import { classWeights, foldBatchNorm, folderReader, forward, forwardMacs, initWeights, loadModel, NetworkConfig, serializeModel, toVariables, Trainer, Weights } from '@abus-tumor-ai/engine/lab';
import { writeModelFolder } from '@abus-tumor-ai/engine/node';
import { auc, dice } from '../metrics';
import { Augmentation, makeSample, NO_AUGMENTATION, Sample } from './samples';
import { Rng } from './rng';

export interface TrainOptions {
  config: NetworkConfig;
  input: InputContract;
  train: LoadedCase[];
  val: LoadedCase[];
  epochs: number;
  batchSize: number;
  learningRate: number;
  lambda: number;
  seed: number;
  outDir: string;
  resume: boolean;
  augmentation: Augmentation;
  /** Recorded in the model card: how the data was made, the command, the machine. */
  provenance: Record<string, unknown>;
  onEvent?: (event: TrainEvent) => void;
}

export type TrainEvent =
  | { type: 'start'; epoch: number; epochs: number; stepsPerEpoch: number; resumed: boolean }
  | { type: 'step'; epoch: number; step: number; loss: number; msPerStep: number }
  | { type: 'epoch'; log: EpochLog };

export interface EpochLog {
  epoch: number;
  train_loss: number;
  train_seg_loss?: number;
  train_cls_loss?: number;
  val_dsc?: number;
  val_auc?: number;
  val_acc?: number;
  seconds: number;
  samples_per_s: number;
  gflop_per_s: number;
  best: boolean;
}

interface CheckpointState {
  epoch: number;
  rng: number;
  bestScore: number;
  optimizer: { specs: tf.io.WeightsManifestEntry[] };
}

type Item = { c: LoadedCase; lesion: LesionSample };

const items = (cases: LoadedCase[]): Item[] => cases.flatMap((c) => c.lesions.map((lesion) => ({ c, lesion })));

function batchTensors(samples: Sample[], input: InputContract) {
  const [gx, gy, gz] = input.grid;
  const n = gx * gy * gz;
  const voi = new Float32Array(samples.length * n);
  const mask = new Float32Array(samples.length * n);
  samples.forEach((s, i) => {
    voi.set(s.voi, i * n);
    mask.set(s.mask, i * n);
  });
  return {
    voi: tf.tensor5d(voi, [samples.length, gz, gy, gx, 1]),
    mask: tf.tensor5d(mask, [samples.length, gz, gy, gx, 1]),
    label: tf.tensor2d(samples.map((s) => (s.malignant ? 1 : 0)), [samples.length, 1]),
  };
}

/** Validation on the network grid: DSC of the thresholded map, and P(malignant) for AUC. */
async function validate(config: NetworkConfig, weights: Weights, val: Item[], input: InputContract): Promise<Pick<EpochLog, 'val_dsc' | 'val_auc' | 'val_acc'>> {
  const dscs: number[] = [];
  const probs: number[] = [];
  const labels: number[] = [];
  for (const item of val) {
    const sample = makeSample(item.c, item.lesion, input, NO_AUGMENTATION, new Rng(0));
    // tidy: forward() leaves every intermediate tensor to its caller (seen leaking ~340 a call).
    const last = tf.tidy(() => {
      const { voi, mask, label } = batchTensors([sample], input);
      tf.dispose([mask, label]);
      const passes = forward(config, weights, voi);
      const { segProb, clsProb } = passes[passes.length - 1];
      return { segProb, clsProb };
    });
    if (last.segProb) {
      const prob = await last.segProb.data();
      dscs.push(dice(Array.from(prob, (p) => (p >= 0.5 ? 1 : 0)), sample.mask));
    }
    if (last.clsProb) {
      probs.push((await last.clsProb.data())[0]);
      labels.push(item.lesion.malignant ? 1 : 0);
    }
    tf.dispose([last.segProb, last.clsProb].filter(Boolean) as tf.Tensor[]);
  }
  const out: Pick<EpochLog, 'val_dsc' | 'val_auc' | 'val_acc'> = {};
  if (dscs.length) out.val_dsc = dscs.reduce((a, b) => a + b, 0) / dscs.length;
  if (probs.length && labels.includes(0) && labels.includes(1)) {
    out.val_auc = auc(labels, probs);
    out.val_acc = probs.filter((p, i) => (p >= 0.5 ? 1 : 0) === labels[i]).length / probs.length;
  }
  return out;
}

function selectionScore(log: Pick<EpochLog, 'val_dsc' | 'val_auc'>): number {
  const parts = [log.val_dsc, log.val_auc].filter((v): v is number => v !== undefined);
  return parts.length ? parts.reduce((a, b) => a + b, 0) / parts.length : 0;
}

async function saveCheckpoint(dir: string, options: TrainOptions, vars: Weights, optimizer: tf.Optimizer, state: Omit<CheckpointState, 'optimizer'>) {
  const tmp = `${dir}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const saved = await serializeModel(vars, card(options, {}, false));
  await writeModelFolder(tmp, saved);
  const optimizerWeights = await optimizer.getWeights();
  const { data, specs } = await tf.io.encodeWeights(optimizerWeights);
  // getWeights makes a fresh 'iter' scalar; the other entries are the optimizer's own variables.
  tf.dispose(optimizerWeights.filter((w) => w.name === 'iter').map((w) => w.tensor));
  fs.writeFileSync(path.join(tmp, 'optimizer.bin'), new Uint8Array(tf.io.CompositeArrayBuffer.join(data)));
  fs.writeFileSync(path.join(tmp, 'state.json'), JSON.stringify({ ...state, optimizer: { specs } }, null, 2));
  // Swap in whole, so an interruption leaves either the old or the new checkpoint.
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
}

function card(options: TrainOptions, metrics: Record<string, unknown>, folded: boolean) {
  return {
    name: `${options.config.variant}-abus`,
    version: '0.1.0',
    architecture: options.config,
    input: options.input,
    decisionThreshold: 0.5,
    training: {
      ...options.provenance,
      epochs: options.epochs,
      batchSize: options.batchSize,
      learningRate: options.learningRate,
      lambda: options.lambda,
      seed: options.seed,
      augmentation: options.augmentation,
      trainCases: options.train.length,
      validationCases: options.val.length,
      folded,
    },
    metrics,
  };
}

export async function train(options: TrainOptions): Promise<EpochLog[]> {
  const { config, input } = options;
  const checkpointDir = path.join(options.outDir, 'checkpoint');
  const logFile = path.join(options.outDir, 'log.jsonl');
  fs.mkdirSync(options.outDir, { recursive: true });
  const trainItems = items(options.train);
  const valItems = items(options.val);
  const malignant = trainItems.filter((i) => i.lesion.malignant).length;
  const weightsForClasses = classWeights(malignant, trainItems.length - malignant);

  let startEpoch = 1;
  let rng = new Rng(options.seed);
  let bestScore = -Infinity;
  let initial: Weights;
  let optimizerState: { name: string; tensor: tf.Tensor }[] | undefined;
  const resumed = options.resume && fs.existsSync(path.join(checkpointDir, 'state.json'));
  if (resumed) {
    const state = JSON.parse(fs.readFileSync(path.join(checkpointDir, 'state.json'), 'utf8')) as CheckpointState;
    initial = (await loadModel(folderReader(checkpointDir))).weights;
    const bytes = fs.readFileSync(path.join(checkpointDir, 'optimizer.bin'));
    const decoded = tf.io.decodeWeights(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), state.optimizer.specs);
    optimizerState = state.optimizer.specs.map((s) => ({ name: s.name, tensor: decoded[s.name] }));
    startEpoch = state.epoch + 1;
    rng = new Rng(state.rng);
    bestScore = state.bestScore;
  } else {
    if (fs.existsSync(logFile)) fs.rmSync(logFile);
    initial = initWeights(config, options.seed);
  }
  const vars = toVariables(initial, 'train');
  tf.dispose(Object.values(initial));
  const optimizer = tf.train.adam(options.learningRate);
  const trainer = new Trainer(config, vars, optimizer, weightsForClasses, options.lambda);
  if (optimizerState) {
    // Adam matches its slots to variables by position, which trainableNames keeps sorted.
    await optimizer.setWeights(optimizerState);
    tf.dispose(optimizerState.map((w) => w.tensor));
  }

  // Every step has the same batch shape: a smaller last batch makes tfjs-wasm's heap fragment,
  // and a long run then aborts when it reaches the wasm memory limit (seen after 3 epochs).
  const stepsPerEpoch = Math.max(1, Math.floor(trainItems.length / options.batchSize));
  const trainingFlopPerSample = 3 * 2 * forwardMacs(config, input.grid);
  options.onEvent?.({ type: 'start', epoch: startEpoch, epochs: options.epochs, stepsPerEpoch, resumed });
  const logs: EpochLog[] = [];
  for (let epoch = startEpoch; epoch <= options.epochs; epoch++) {
    const t0 = Date.now();
    const order = rng.shuffle(trainItems);
    const sums = { loss: 0, seg: 0, cls: 0 };
    let trainMs = 0;
    for (let step = 0; step < stepsPerEpoch; step++) {
      const chunk = Array.from({ length: options.batchSize }, (_, i) => order[(step * options.batchSize + i) % order.length]);
      const batch = batchTensors(chunk.map((i) => makeSample(i.c, i.lesion, input, options.augmentation, rng)), input);
      const s0 = Date.now();
      const result = await trainer.step(batch);
      trainMs += Date.now() - s0;
      tf.dispose(Object.values(batch));
      sums.loss += result.loss;
      sums.seg += result.seg ?? 0;
      sums.cls += result.cls ?? 0;
      options.onEvent?.({ type: 'step', epoch, step: step + 1, loss: result.loss, msPerStep: trainMs / (step + 1) });
    }
    const val = await validate(config, vars, valItems, input);
    const score = selectionScore(val);
    const best = score > bestScore;
    const log: EpochLog = {
      epoch,
      train_loss: sums.loss / stepsPerEpoch,
      ...(config.segmentation ? { train_seg_loss: sums.seg / stepsPerEpoch } : {}),
      ...(config.clsStages.length ? { train_cls_loss: sums.cls / stepsPerEpoch } : {}),
      ...val,
      seconds: (Date.now() - t0) / 1000,
      samples_per_s: (stepsPerEpoch * options.batchSize) / (trainMs / 1000),
      gflop_per_s: (stepsPerEpoch * options.batchSize * trainingFlopPerSample) / (trainMs / 1000) / 1e9,
      best,
    };
    if (best) {
      bestScore = score;
      const folded = foldBatchNorm(config, vars);
      const metrics = { validation: { ...val, epoch, note: 'on the validation fold, network grid, used for model selection' } };
      await writeModelFolder(path.join(options.outDir, 'model'), await serializeModel(folded, card(options, metrics, true)));
      tf.dispose(Object.values(folded));
    }
    await saveCheckpoint(checkpointDir, options, vars, optimizer, { epoch, rng: rng.state, bestScore });
    fs.appendFileSync(logFile, JSON.stringify(log) + '\n');
    logs.push(log);
    options.onEvent?.({ type: 'epoch', log });
  }
  trainer.dispose();
  return logs;
}
