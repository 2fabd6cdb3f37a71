/**
 * abus-ai demo: the engine's main job on a synthetic study, until the viewer demo exists.
 * Generates one phantom (once), clicks its lesion with the shipped model, and prints the result
 * next to the phantom's truth.
 */
import { Command, Option } from 'commander';
import { BackendName, load, readerFor } from '@abus-tumor-ai/engine';
import { BACKEND_ORDER, loadModel } from '@abus-tumor-ai/engine/lab';
import { installNodeWebGPU } from '@abus-tumor-ai/engine/node';
import { evaluateCases, loadDataset, writePhantomDataset } from '@abus-tumor-ai/research';
import { SHIPPED_WEIGHTS } from './infer';
import * as fs from 'fs';
import * as path from 'path';
import { WASM_DIR } from './layout';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('analyse the lesion of a generated ABUS phantom with the shipped model and compare with the truth')
    .option('--dir <folder>', 'where the phantom is generated (kept for later runs)', '.abus-demo')
    .option('--seed <n>', 'phantom seed', '7')
    .option('--weights <folder|url>', 'model folder or URL', SHIPPED_WEIGHTS)
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(['auto', ...BACKEND_ORDER]).default('auto'))
    .action(async (opts) => {
      const data = path.join(opts.dir, `seed-${opts.seed}`);
      if (!fs.existsSync(path.join(data, 'labels.csv'))) {
        console.log(`Generating a synthetic ABUS phantom in ${data} ...`);
        writePhantomDataset(data, { count: 1, seed: Number(opts.seed), phantom: { lesionCount: 1 } });
      }
      if (opts.backend === 'auto' || opts.backend === 'webgpu') installNodeWebGPU();
      const model = await loadModel(readerFor(opts.weights));
      const analyzer = await load({ wasmPath: WASM_DIR, weights: model, backend: opts.backend as BackendName | 'auto' });
      const { cases } = loadDataset(data);
      const [r] = await evaluateCases(analyzer, cases);
      analyzer.dispose();
      const c = cases[0];
      console.log(`Model: ${model.card.name} ${model.card.version} (${model.card.training.data ?? 'see model card'})`);
      console.log(`Backend: ${analyzer.backend?.reason}`);
      console.log(`Phantom ${c.caseId}: truth ${c.label === 'M' ? 'malignant' : 'benign'}, ${r.truthMl.toFixed(2)} mL`);
      console.log(`Result: P(malignant) ${r.probability === null ? 'n/a' : `${(r.probability * 100).toFixed(1)}%`}, DSC against the truth ${r.dsc?.toFixed(3)}, HD95 ${r.hd95?.toFixed(2)} mm, ${r.ms} ms`);
      console.log(model.card.notice);
    });
}
