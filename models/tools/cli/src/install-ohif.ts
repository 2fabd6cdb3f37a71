/** abus-ai install-ohif: the plugin into a prebuilt OHIF viewer, or out of it, or a check of one (see extension/install). */
import * as fs from 'fs';
import { Command, Option } from 'commander';
import { MAX_SPACING_MM } from '@abus-tumor-ai/engine/lab';
import { AbusSettings, inlineScriptHashes, installIntoViewer, lockViewer, ohifVersionOf, PLUGIN_FOLDER, pluginVersion, RECORD_FILE, SUPPORTED_OHIF_TEXT, uninstallFromViewer, unsupportedOhif, verifyInstall, viewerState } from '@abus-tumor-ai/extension/install';
import { PLUGIN_DIR } from './layout';
import { CliError } from './errors';

export function registerInstallOhif(program: Command): void {
  program
    .command('install-ohif')
    .description(`install the ABUS Tumor AI plugin into a prebuilt OHIF ${SUPPORTED_OHIF_TEXT} viewer (its dist folder), remove it, or check a viewer`)
    .requiredOption('--viewer <dist>', 'the OHIF dist folder (holds index.html and app-config.js)')
    .option('--base-url <path>', 'URL path the viewer is served under', '')
    .option('--plugin <folder>', 'built plugin folder', PLUGIN_DIR)
    .option('--weights-url <url>', 'model URL (default: the shipped model inside the plugin folder)')
    .addOption(new Option('--backend <name>', 'preferred backend').choices(['auto', 'webgpu', 'webgl', 'wasm', 'cpu']).default('auto'))
    .addOption(new Option('--seg <flavour>', 'DICOM SEG flavour: binary (1.2.840.10008.5.1.4.1.1.66.4) or labelmap').choices(['binary', 'labelmap']).default('binary'))
    .addOption(new Option('--export <target>', 'where SEG and SR go: dicomweb (STOW-RS to the active data source) or download').choices(['dicomweb', 'download']).default('dicomweb'))
    .option('--sweep-spacing <mm>', 'frame spacing of multi-frame sweeps whose files state none (default 0.5)')
    .option('--wasm-threads <n>', 'tfjs-wasm threads where the viewer is served cross-origin isolated (COOP/COEP); default: one per two logical cores')
    .option('--check', `report the viewer's OHIF version and whether the plugin is installed; exit 1 unless it is OHIF ${SUPPORTED_OHIF_TEXT}`)
    .option('--any-version', `install even into an OHIF other than ${SUPPORTED_OHIF_TEXT} (untested there)`)
    .option('--uninstall', 'remove the plugin and restore app-config.js')
    .action((opts) => {
      // Every value is checked before anything is read or written.
      checkBaseUrl(opts.baseUrl);
      if (opts.sweepSpacing !== undefined && !(Number(opts.sweepSpacing) > 0 && Number(opts.sweepSpacing) <= MAX_SPACING_MM)) throw new CliError(`--sweep-spacing must be a positive number of mm (at most ${MAX_SPACING_MM}), not ${opts.sweepSpacing}`, 'usage');
      if (opts.wasmThreads !== undefined && !(Number.isInteger(Number(opts.wasmThreads)) && Number(opts.wasmThreads) >= 1)) throw new CliError('--wasm-threads must be a whole number of at least 1', 'usage');
      if (opts.weightsUrl !== undefined && !/^(https?:\/\/|\/)[^\s'"\\]*$/.test(opts.weightsUrl)) throw new CliError(`--weights-url must be an absolute URL path (/models/mine/) or an http(s) URL, got '${opts.weightsUrl}'`, 'usage');
      if ([opts.check, opts.uninstall].filter(Boolean).length > 1) throw new CliError('give --check or --uninstall, not both', 'usage');
      const viewerStat = fs.statSync(opts.viewer, { throwIfNoEntry: false });
      if (!viewerStat?.isDirectory()) throw new CliError(`--viewer ${opts.viewer} is not a folder; give the OHIF dist folder (it holds index.html and app-config.js)`, 'input');
      if (opts.check) {
        const found = ohifVersionOf(opts.viewer);
        const why = unsupportedOhif(opts.viewer);
        console.log(found ? `OHIF ${found.version} (read from ${found.source}): ${why ? 'not supported' : 'supported'}; this plugin (${pluginVersion(opts.plugin)}) supports OHIF ${SUPPORTED_OHIF_TEXT}` : `OHIF version: not found in ${opts.viewer}`);
        const state = viewerState(opts.viewer);
        console.log(state.summary);
        const files = verifyInstall(opts.viewer);
        if (files.checked) console.log(`${files.checked - files.problems.length} of ${files.checked} installed files match their SHA-256 in ${PLUGIN_FOLDER}/${RECORD_FILE}`);
        console.log(`index.html's inline scripts, for a Content-Security-Policy script-src: ${inlineScriptHashes(opts.viewer).join(' ') || 'none'}`);
        if (why) throw new CliError(why, 'input');
        if (files.problems.length) throw new CliError(`the installed plugin is damaged: ${files.problems.slice(0, 3).join('; ')}${files.problems.length > 3 ? `; and ${files.problems.length - 3} more` : ''} (install again)`, 'input');
        return;
      }
      const unlock = lockViewer(opts.viewer);
      try {
        change(opts);
      } finally {
        unlock();
      }
    });
}

/** Installs or uninstalls, under the viewer's lock. */
function change(opts: Record<string, string | boolean | undefined> & { viewer: string; baseUrl: string; plugin: string }): void {
  if (opts.uninstall) {
    const { had, changedSince } = uninstallFromViewer(opts.viewer);
    console.log(had ? `removed ABUS Tumor AI from ${opts.viewer}` : `ABUS Tumor AI was not installed in ${opts.viewer}; nothing changed`);
    if (changedSince) console.log('note: app-config.js was changed (edited, or the viewer upgraded) since the install; those changes are kept, only the plugin\'s block was removed');
    return;
  }
  const base = `${String(opts.baseUrl).replace(/\/+$/, '')}/${PLUGIN_FOLDER}`;
  const settings: AbusSettings = {
    weightsUrl: (opts.weightsUrl as string | undefined) ?? `${base}/weights/cmsvnetiter/`,
    backend: opts.backend as AbusSettings['backend'],
    segFlavour: opts.seg as AbusSettings['segFlavour'],
    exportTarget: opts.export as AbusSettings['exportTarget'],
    ...(opts.sweepSpacing !== undefined ? { sweepSpacingMm: Number(opts.sweepSpacing) } : {}),
    ...(opts.wasmThreads ? { wasmThreads: Number(opts.wasmThreads) } : {}),
  };
  try {
    installIntoViewer(opts.viewer, opts.plugin, opts.baseUrl, settings, { anyVersion: Boolean(opts.anyVersion) });
  } catch (err) {
    if (/this plugin supports OHIF/.test((err as Error).message)) throw new CliError(`${(err as Error).message} (or pass --any-version to try anyway)`, 'input');
    throw err;
  }
  console.log(`installed ABUS Tumor AI ${pluginVersion(opts.plugin)} into ${opts.viewer} (OHIF ${ohifVersionOf(opts.viewer)?.version}, served at ${base}/); research use only, not for clinical diagnosis`);
}

/** --base-url goes into app-config.js as a URL path: absolute, no '..', nothing that would end the string it is written into. */
export function checkBaseUrl(baseUrl: string): void {
  if (baseUrl === '') return;
  if (!/^(\/[A-Za-z0-9._~!$&()*+,;=:@%-]+)+\/?$/.test(baseUrl) || baseUrl.split('/').some((part) => part === '..' || part === '.')) {
    throw new CliError(`--base-url must be an absolute URL path such as /ohif (a leading /, no '..', no spaces or quotes), got '${baseUrl}'`, 'usage');
  }
}
