import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { randomArray } from '../../../../test/backends';
import { stageWidth, variantConfig, VARIANTS } from './config';
import { classWeights } from './losses';
import { forward, initWeights, weightShapes } from './network';
import * as ops from './ops';
import { toVariables, trainableNames, Trainer } from './train-step';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const tiny = { baseWidth: 4, encoderConvs: [1, 1, 1, 1, 1], decoderConvs: [1, 1, 1, 1], clsHidden: 8 };

describe('lesion-weighted pooling', () => {
  test('pools the features under the map, box-averaged to their grid; an empty map pools globally', () => {
    const x = tf.tensor5d(randomArray(2 * 1 * 2 * 3, 5), [1, 2, 1, 2, 3]);
    // The map covers the 4x4x4 block of feature voxel (z 1, y 0, x 0) only.
    const map = tf.buffer([1, 8, 4, 8, 1]);
    for (let z = 4; z < 8; z++) for (let y = 0; y < 4; y++) for (let i = 0; i < 4; i++) map.set(1, 0, z, y, i, 0);
    const one = ops.weightedAvgPool(x, map.toTensor() as tf.Tensor5D).dataSync();
    const voxel = x.slice([0, 1, 0, 0, 0], [1, 1, 1, 1, 3]).dataSync();
    for (let c = 0; c < 3; c++) expect(one[c]).toBeCloseTo(voxel[c], 3);
    const empty = ops.weightedAvgPool(x, tf.zeros([1, 8, 4, 8, 1]) as tf.Tensor5D).dataSync();
    const global = ops.globalAvgPool(x).dataSync();
    for (let c = 0; c < 3; c++) expect(empty[c]).toBeCloseTo(global[c], 6);
  });

  test("'lesion' pooling changes pass 2's classification only", () => {
    const base = variantConfig('cmsvnetiter', tiny);
    const weights = initWeights(base, 3);
    const voi = tf.tensor5d(randomArray(16 * 16 * 32, 9), [1, 16, 16, 32, 1]);
    const [g1, g2] = forward(base, weights, voi);
    const [l1, l2] = forward({ ...base, clsPooling: 'lesion' }, weights, voi);
    expect(l1.clsProb!.dataSync()[0]).toBeCloseTo(g1.clsProb!.dataSync()[0], 6);
    expect(Array.from(l2.segProb!.dataSync())).toEqual(Array.from(g2.segProb!.dataSync()));
    expect(Math.abs(l2.clsLogit!.dataSync()[0] - g2.clsLogit!.dataSync()[0])).toBeGreaterThan(1e-4);
    expect(() => variantConfig('clsnet', { clsPooling: 'lesion' })).toThrow(/needs a segmentation output/);
  });
});

describe('the six variants', () => {
  test.each(VARIANTS)('%s has the paper shape and runs', (variant) => {
    const config = variantConfig(variant, tiny);
    const weights = initWeights(config, 3);
    const voi = tf.tensor5d(randomArray(2 * 16 * 16 * 32, 7), [2, 16, 16, 32, 1]);
    const passes = forward(config, weights, voi);
    expect(passes).toHaveLength(variant.endsWith('iter') ? 2 : 1);
    for (const pass of passes) {
      if (config.segmentation) expect(pass.segProb?.shape).toEqual([2, 16, 16, 32, 1]);
      else expect(pass.segProb).toBeUndefined();
      if (config.clsStages.length) expect(pass.clsProb?.shape).toEqual([2, 1]);
      else expect(pass.clsProb).toBeUndefined();
    }
    tf.dispose([voi, ...Object.values(weights)]);
  });

  test('classification heads read the configured stages', () => {
    expect(variantConfig('cmsvnetiter').clsStages).toEqual([4, 5, 6]);
    expect(variantConfig('cvnet').clsStages).toEqual([5]);
    expect(variantConfig('vnet').clsStages).toEqual([]);
    const config = variantConfig('cmsvnet', { ...tiny, clsStages: [3, 4, 5, 6, 7] });
    const features = [3, 4, 5, 6, 7].reduce((s, k) => s + stageWidth(config, k), 0);
    expect(weightShapes(config, false)['cls/fc1/kernel']).toEqual([features, 8]);
  });

  test('stage widths follow V-Net (encoder doubles, decoder is twice its level)', () => {
    const config = variantConfig('vnet');
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9].map((s) => stageWidth(config, s))).toEqual([16, 32, 64, 128, 256, 256, 128, 64, 32]);
  });

  test('iteration 2 sees the VOI plus iteration 1 probability map', async () => {
    const config = variantConfig('cmsvnetiter', tiny);
    const weights = initWeights(config, 5);
    const voi = tf.tensor5d(randomArray(16 * 16 * 16, 11), [1, 16, 16, 16, 1]);
    const [first, second] = forward(config, weights, voi);
    const expected = await tf.add(voi, first.segProb as tf.Tensor).data();
    expect(Array.from(await second.input.data())).toEqual(Array.from(expected));
    expect(Array.from(await first.input.data())).toEqual(Array.from(await voi.data()));
  });

  test('rejects sizes that do not halve four times', () => {
    const config = variantConfig('vnet', tiny);
    const weights = initWeights(config);
    expect(() => forward(config, weights, tf.zeros([1, 16, 24, 16, 1]) as tf.Tensor5D)).toThrow(/multiple of 16/);
  });
});

describe('training', () => {
  function batch() {
    const voi = randomArray(2 * 16 * 16 * 16, 21);
    const mask = new Float32Array(voi.length);
    // A bright block is the "tumour": learnable from the input.
    for (let b = 0; b < 2; b++)
      for (let z = 4; z < 12; z++)
        for (let y = 5; y < 11; y++)
          for (let x = 4; x < 12; x++) {
            const i = (((b * 16 + z) * 16 + y) * 16 + x);
            mask[i] = 1;
            voi[i] += 1.5;
          }
    return {
      voi: tf.tensor5d(voi, [2, 16, 16, 16, 1]),
      mask: tf.tensor5d(mask, [2, 16, 16, 16, 1]),
      label: tf.tensor2d([1, 0], [2, 1]),
    };
  }

  test('a few steps on a tiny batch lower the loss, and every trainable weight gets a gradient', async () => {
    const config = variantConfig('cmsvnetiter', tiny);
    const data = batch();
    const vars = toVariables(initWeights(config, 2));
    // Gradients reach every trainable weight (the prior is detached, so they come from each pass's own loss).
    const names = trainableNames(vars);
    const { grads, value } = tf.variableGrads(() => {
      const passes = forward(config, vars, data.voi, { training: true, batchMoments: new Map() });
      const { multiTaskLoss } = require('./losses') as typeof import('./losses');
      return multiTaskLoss(config, passes, { mask: data.mask, label: data.label }, classWeights(1, 1)).total;
    }, names.map((n) => vars[n]));
    for (const n of names) {
      const g = grads[vars[n].name];
      expect(g).toBeDefined();
      const norm = (await tf.sum(tf.abs(g)).data())[0];
      if (!(norm > 0)) throw new Error(`no gradient reaches ${n}`);
    }
    tf.dispose([value, ...Object.values(grads)]);

    const trainer = new Trainer(config, vars, tf.train.adam(3e-3), classWeights(1, 1));
    const losses: number[] = [];
    for (let i = 0; i < 6; i++) losses.push((await trainer.step(data)).loss);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    // Moving statistics moved away from their initial values.
    const mv = await vars['stage1/conv0/bn/moving_mean'].data();
    expect(Array.from(mv).some((v) => v !== 0)).toBe(true);
    trainer.dispose();
    tf.dispose(Object.values(data));
  });
});
