/** abus-ai: the engine's command line. Every failure ends as one readable line (see bin/abus-ai.js). */
import * as tf from '@tensorflow/tfjs-core';
import { Command } from 'commander';
import { registerInfer } from './infer';
import { registerInitWeights } from './init-weights';
import { registerTrain } from './train';
import { registerEval } from './eval';
import { registerCalibrate } from './calibrate';
import { registerPhantom } from './phantom';
import { registerSample } from './sample';
import { registerDemo } from './demo';
import { registerInstallOhif } from './install-ohif';
import { registerViewer } from './viewer';

export async function main(argv: string[]): Promise<void> {
  // PROD silences tfjs's advice to install tfjs-node, which cannot be installed here (it downloads a binary).
  tf.env().set('PROD', true);
  const program = new Command('abus-ai')
    .description('ABUS Tumor AI: CMSVNetIter tumour segmentation and classification for 3-D breast ultrasound.\nResearch use only, not for clinical diagnosis.')
    .showHelpAfterError();
  program.exitOverride();
  registerInfer(program);
  registerInitWeights(program);
  registerTrain(program);
  registerEval(program);
  registerCalibrate(program);
  registerPhantom(program);
  registerSample(program);
  registerDemo(program);
  registerInstallOhif(program);
  registerViewer(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return;
    if (code?.startsWith('commander.')) process.exit(2);
    throw err;
  } finally {
    // Dawn keeps Node alive while navigator.gpu is referenced.
    delete (globalThis as { navigator?: unknown }).navigator;
  }
}
