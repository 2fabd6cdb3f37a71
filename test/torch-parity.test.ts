/**
 * The TypeScript engine and its PyTorch twin (models/torch) are the same network: for every
 * variant, the same weights give the same probabilities (random input and a phantom VOI), the
 * same loss terms and the same gradients of one training step. PyTorch makes and exports the
 * weights, so its export to the project's format is checked on the way; the float16 export is
 * checked against the float32 outputs with its own, looser tolerance.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { randomArray, relativeError } from './backends';
import { prerequisites } from './prerequisites';
import { NamedArray, readTensors, runPython, writeTensors } from './torch';
import { classWeights, folderReader, forward, loadModel, multiTaskLoss, NetworkConfig, VARIANTS, Weights } from '@abus-tumor-ai/engine/lab';
import { generatePhantom, makeSample, NO_AUGMENTATION, Rng } from '@abus-tumor-ai/research';

const PROBABILITY_TOLERANCE = 1e-4;
const LOSS_TOLERANCE = 1e-5;
const GRADIENT_TOLERANCE = 1e-3;
/** Float16 storage rounds each weight to 11 significant bits; measured here about 1e-3 on probabilities. */
const FLOAT16_TOLERANCE = 1e-2;
const GRID: [number, number, number] = [32, 16, 32];
const BATCH = 2;

const withTorch = prerequisites(['torch', 'numpy'], 'PyTorch parity tests');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'abus-torch-parity-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function inputs(): Record<string, NamedArray> {
  const [gx, gy, gz] = GRID;
  const n = gx * gy * gz;
  const mask = new Float32Array(BATCH * n);
  // A blob in the middle of the first sample; the second is a negative VOI (empty mask, no class).
  for (let z = 10; z < 22; z++) for (let y = 5; y < 11; y++) for (let x = 12; x < 20; x++) mask[x + gx * (y + gy * z)] = 1;
  const phantom = generatePhantom({ seed: 11, spacing: [0.8, 0.4, 1.0], lesionCount: 1 });
  const sample = makeSample(phantom, { center: phantom.lesions[0].centerIndex, malignant: true, volumeMl: 1 }, { grid: GRID, voxelMm: 2, voiMm: [64, 32, 64], normalization: 'zscore-voi' }, NO_AUGMENTATION, new Rng(1));
  return {
    voi: { shape: [BATCH, gz, gy, gx], data: randomArray(BATCH * n, 5) },
    mask: { shape: [BATCH, gz, gy, gx], data: mask },
    label: { shape: [BATCH, 1], data: Float32Array.from([1, 0]) },
    lesion: { shape: [BATCH, 1], data: Float32Array.from([1, 0]) },
    phantom: { shape: [1, gz, gy, gx], data: sample.voi },
  };
}

const asVoi = (a: NamedArray) => tf.tensor5d(a.data, [a.shape[0], a.shape[1], a.shape[2], a.shape[3], 1]);

function evalOutputs(config: NetworkConfig, weights: Weights, input: NamedArray, prefix: string): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  tf.tidy(() => {
    forward(config, weights, asVoi(input)).forEach((p, k) => {
      if (p.segProb) out[`${prefix}/pass${k + 1}/seg_prob`] = p.segProb.dataSync() as Float32Array;
      if (p.clsProb) out[`${prefix}/pass${k + 1}/cls_prob`] = p.clsProb.dataSync() as Float32Array;
    });
  });
  return out;
}

withTorch.describe(withTorch.title('TypeScript engine = PyTorch twin'), () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  // Every variant with the paper's global pooling on PyTorch's plain path; the iterative ones with
  // lesion-weighted pooling; and CMSVNetIter on the fast CPU path (the trainer's on a CPU).
  const cases: [string, string, string, boolean][] = [
    ...VARIANTS.map((v): [string, string, string, boolean] => [`${v}, global pooling`, v, 'global', false]),
    ['cvnetiter, lesion pooling', 'cvnetiter', 'lesion', false],
    ['cmsvnetiter, lesion pooling', 'cmsvnetiter', 'lesion', false],
    ['cmsvnetiter, lesion pooling, fast CPU path', 'cmsvnetiter', 'lesion', true],
  ];
  test.each(cases)('%s: probabilities, losses and gradients agree', async (title, variant, pooling, fast) => {
    const dir = path.join(tmp, `${variant}-${pooling}${fast ? '-fast' : ''}`);
    fs.mkdirSync(dir, { recursive: true });
    const given = inputs();
    writeTensors(path.join(dir, 'inputs'), given);
    runPython(['-m', 'abus_torch.parity', '--dir', dir, '--variant', variant, '--width', '4', '--seed', '3', '--pooling', pooling, ...(fast ? ['--fast'] : [])]);
    const expected = readTensors(path.join(dir, 'outputs'));

    const unfolded = await loadModel(folderReader(path.join(dir, 'unfolded')));
    const folded = await loadModel(folderReader(path.join(dir, 'folded')));
    const half = await loadModel(folderReader(path.join(dir, 'folded-f16')));
    expect(folded.card.folded).toBe(true);
    expect(unfolded.card.folded).toBe(false);
    const config = unfolded.card.architecture;
    expect(config.clsPooling).toBe(pooling);

    const errors: Record<string, number> = {};
    const f16: number[] = [];
    for (const which of ['voi', 'phantom']) {
      const viaUnfolded = evalOutputs(config, unfolded.weights, given[which], which);
      const viaFolded = evalOutputs(config, folded.weights, given[which], which);
      const viaHalf = evalOutputs(config, half.weights, given[which], which);
      const names = Object.keys(expected).filter((k) => k.startsWith(`${which}/`));
      expect(Object.keys(viaFolded).sort()).toEqual(names.sort());
      for (const name of names) {
        errors[name] = Math.max(relativeError(viaUnfolded[name], expected[name].data), relativeError(viaFolded[name], expected[name].data));
        f16.push(relativeError(viaHalf[name], expected[name].data));
      }
    }

    // One training step: batch-norm batch statistics, the masked focal loss and soft Dice.
    const voi = asVoi(given.voi);
    const mask = asVoi(given.mask);
    const label = tf.tensor2d(given.label.data, [BATCH, 1]);
    const lesion = tf.tensor2d(given.lesion.data, [BATCH, 1]);
    const trainable = Object.keys(unfolded.weights).filter((n) => !n.includes('/bn/moving_'));
    const vars = Object.fromEntries(Object.entries(unfolded.weights).map(([n, t]) => [n, tf.variable(t, !n.includes('/bn/moving_'), `${title}-parity/${n}`)]));
    const terms: Record<string, number> = {};
    const { grads } = tf.variableGrads(() => {
      const l = multiTaskLoss(config, forward(config, vars, voi, { training: true }), { mask, label, lesion }, classWeights(3, 5));
      terms.total = l.total.dataSync()[0];
      if (l.seg) terms.seg = l.seg.dataSync()[0];
      if (l.cls) terms.cls = l.cls.dataSync()[0];
      return l.total;
    }, trainable.map((n) => vars[n]));
    for (const term of ['total', 'seg', 'cls']) {
      expect(term in terms).toBe(`loss/${term}` in expected);
      if (term in terms) errors[`loss/${term}`] = Math.abs(terms[term] - expected[`loss/${term}`].data[0]);
    }
    let worstGradient = 0;
    for (const n of trainable) {
      const g = grads[vars[n].name];
      worstGradient = Math.max(worstGradient, relativeError(g.dataSync(), expected[`grad/${n}`].data));
    }
    console.log(`${title}: probabilities ${Math.max(...Object.entries(errors).filter(([k]) => !k.startsWith('loss')).map(([, v]) => v)).toExponential(2)}, losses ${Math.max(...Object.entries(errors).filter(([k]) => k.startsWith('loss')).map(([, v]) => v)).toExponential(2)}, gradients ${worstGradient.toExponential(2)}, float16 weights ${Math.max(...f16).toExponential(2)}`);
    for (const [name, e] of Object.entries(errors)) expect([name, e <= (name.startsWith('loss') ? LOSS_TOLERANCE : PROBABILITY_TOLERANCE)]).toEqual([name, true]);
    expect(worstGradient).toBeLessThan(GRADIENT_TOLERANCE);
    expect(Math.max(...f16)).toBeLessThan(FLOAT16_TOLERANCE);
    tf.dispose([voi, mask, label, lesion, ...Object.values(grads), ...Object.values(vars), ...Object.values(unfolded.weights), ...Object.values(folded.weights), ...Object.values(half.weights)]);
  });
});
