/**
 * @abus-tumor-ai/cli: the abus-ai command line (bin/abus-ai.js), for users. Its research commands
 * (phantom, sample, train, eval, calibrate, demo) and `abus-ai viewer` are thin commander wrappers
 * over @abus-tumor-ai/research and @abus-tumor-ai/viewer, which know nothing of the CLI.
 */
export { main } from './main';
export { demoDescription, startViewer } from './viewer';
