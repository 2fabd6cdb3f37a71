/** abus-ai: the engine's command line. Every failure ends as one readable line (see bin/abus-ai.js). */
import * as tf from '@tensorflow/tfjs-core';
import { Command } from 'commander';
import { registerInfer } from './infer';
import { registerDetect } from './detect';
import { registerInitWeights } from './init-weights';
import { registerTrain } from './train';
import { registerEval } from './eval';
import { registerCalibrate } from './calibrate';
import { registerPhantom } from './phantom';
import { registerSample } from './sample';
import { registerDemo } from './demo';
import { registerInstallOhif } from './install-ohif';
import { registerViewer } from './viewer';
import { describeError } from './errors';
import { Cancelled, CANCELLED_JSON } from './cancel';

/** Runs one command; resolves with the exit status (bin/abus-ai.js sets it). */
export async function main(argv: string[]): Promise<number> {
  // PROD silences tfjs's advice to install tfjs-node, which cannot be installed here (it downloads a binary).
  tf.env().set('PROD', true);
  // dcmjs logs its own warnings (e.g. "OB value declares 10000 bytes but only 4417 are available");
  // the readers turn what matters into one error naming the file, so only that is printed.
  (require('dcmjs') as { log: { setLevel(level: string): void } }).log.setLevel('error');
  const program = new Command('abus-ai')
    .description('ABUS Tumor AI: CMSVNetIter tumour segmentation and classification for 3-D breast ultrasound.\nResearch use only, not for clinical diagnosis.')
    // An argument error is one line (printed below), not the whole usage text.
    .configureOutput({ outputError: () => undefined });
  program.exitOverride();
  registerInfer(program);
  registerDetect(program);
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
    return 0;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return 0;
    if (err instanceof Cancelled) {
      console.error(`abus-ai: cancelled (${err.signal}); nothing written`);
      if (argv.includes('--json')) console.log(CANCELLED_JSON);
      return err.status;
    }
    const failure = describeError(err);
    const command = program.commands.find((c) => c.name() === argv[2]);
    const hint = failure.code === 'usage' ? `; see abus-ai${command ? ` ${command.name()}` : ''} --help` : '';
    // commander puts its suggestion ("Did you mean ...?") on a line of its own.
    failure.message = failure.message.replace(/\s*\n\s*/g, ' ');
    console.error(`abus-ai: error: ${failure.message}${hint}`);
    if (argv.includes('--json')) console.log(JSON.stringify({ error: failure.message, code: failure.code }));
    return failure.status;
  } finally {
    // Dawn keeps Node alive while navigator.gpu is referenced.
    delete (globalThis as { navigator?: unknown }).navigator;
  }
}
