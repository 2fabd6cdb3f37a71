/**
 * Where the command line finds what it ships. In the repository the compiled CLI sits in
 * models/tools/cli/dist/ and the model in models/weights/; in the release package (`npm run release`)
 * the CLI is one bundle, bin/abus-ai.js, beside plugin/abus-tumor-ai/ (the plugin, tfjs-wasm's
 * binaries and the shipped model), and the bundler defines ABUS_RELEASE.
 */
import * as path from 'path';
import { BUILT_PLUGIN, PLUGIN_FOLDER } from '@abus-tumor-ai/extension/install';

declare const ABUS_RELEASE: boolean | undefined;
export const IN_RELEASE = typeof ABUS_RELEASE !== 'undefined' && ABUS_RELEASE;

/** models/tools/cli in the repository (from dist/ or, under jest, src/), the package root in a release. */
const home = path.join(__dirname, '..');

export const PLUGIN_DIR = IN_RELEASE ? path.join(home, 'plugin', PLUGIN_FOLDER) : BUILT_PLUGIN;
export const SHIPPED_WEIGHTS = IN_RELEASE ? path.join(PLUGIN_DIR, 'weights', 'cmsvnetiter') : path.join(home, '..', '..', 'weights', 'cmsvnetiter');
export const CLI_BIN = path.join(home, 'bin', 'abus-ai.js');
/** tfjs-wasm's .wasm files: in a release, those of the plugin; in the repository, the engine finds its package's. */
export const WASM_DIR = IN_RELEASE ? PLUGIN_DIR + path.sep : undefined;
