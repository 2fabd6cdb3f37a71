/** abus-ai install-ohif: the plugin into a prebuilt OHIF viewer, or out of it, or a check of one (see extension/install). */
import { Command } from 'commander';
import { AbusSettings, inlineScriptHashes, installIntoViewer, ohifVersionOf, PLUGIN_FOLDER, pluginVersion, SUPPORTED_OHIF_TEXT, uninstallFromViewer, unsupportedOhif, viewerState } from '@abus-tumor-ai/extension/install';
import { PLUGIN_DIR } from '../layout';
import { CliError } from './errors';

export function registerInstallOhif(program: Command): void {
  program
    .command('install-ohif')
    .description(`install the ABUS Tumor AI plugin into a prebuilt OHIF ${SUPPORTED_OHIF_TEXT} viewer (its dist folder), remove it, or check a viewer`)
    .requiredOption('--viewer <dist>', 'the OHIF dist folder (holds index.html and app-config.js)')
    .option('--base-url <path>', 'URL path the viewer is served under', '')
    .option('--plugin <folder>', 'built plugin folder', PLUGIN_DIR)
    .option('--weights-url <url>', 'model URL (default: the shipped model inside the plugin folder)')
    .option('--backend <name>', 'preferred backend: auto, webgpu, webgl, wasm, cpu', 'auto')
    .option('--seg <flavour>', 'DICOM SEG flavour: binary (1.2.840.10008.5.1.4.1.1.66.4) or labelmap', 'binary')
    .option('--export <target>', 'where SEG and SR go: dicomweb (STOW-RS to the active data source) or download', 'dicomweb')
    .option('--sweep-spacing <mm>', 'frame spacing of multi-frame sweeps whose files state none (default 0.5)')
    .option('--wasm-threads <n>', 'tfjs-wasm threads where the viewer is served cross-origin isolated (COOP/COEP); default: one per two logical cores')
    .option('--check', `report the viewer's OHIF version and whether the plugin is installed; exit 1 unless it is OHIF ${SUPPORTED_OHIF_TEXT}`)
    .option('--any-version', `install even into an OHIF other than ${SUPPORTED_OHIF_TEXT} (untested there)`)
    .option('--uninstall', 'remove the plugin and restore app-config.js')
    .action((opts) => {
      if (opts.check) {
        const found = ohifVersionOf(opts.viewer);
        const why = unsupportedOhif(opts.viewer);
        console.log(found ? `OHIF ${found.version} (read from ${found.source}): ${why ? 'not supported' : 'supported'}; this plugin (${pluginVersion(opts.plugin)}) supports OHIF ${SUPPORTED_OHIF_TEXT}` : `OHIF version: not found in ${opts.viewer}`);
        console.log(viewerState(opts.viewer).summary);
        console.log(`index.html's inline scripts, for a Content-Security-Policy script-src: ${inlineScriptHashes(opts.viewer).join(' ') || 'none'}`);
        if (why) throw new CliError(why, 'input');
        return;
      }
      if (opts.uninstall) {
        const { had, changedSince } = uninstallFromViewer(opts.viewer);
        console.log(had ? `removed ABUS Tumor AI from ${opts.viewer}` : `ABUS Tumor AI was not installed in ${opts.viewer}; nothing changed`);
        if (changedSince) console.log('note: app-config.js was changed (edited, or the viewer upgraded) since the install; those changes are kept, only the plugin\'s block was removed');
        return;
      }
      if (opts.sweepSpacing !== undefined && !(Number(opts.sweepSpacing) > 0)) throw new Error(`--sweep-spacing must be a positive number of mm, not ${opts.sweepSpacing}`);
      const base = `${String(opts.baseUrl).replace(/\/+$/, '')}/${PLUGIN_FOLDER}`;
      const settings: AbusSettings = {
        weightsUrl: opts.weightsUrl ?? `${base}/weights/cmsvnetiter/`,
        backend: opts.backend,
        segFlavour: opts.seg,
        exportTarget: opts.export,
        ...(opts.sweepSpacing !== undefined ? { sweepSpacingMm: Number(opts.sweepSpacing) } : {}),
        ...(opts.wasmThreads ? { wasmThreads: Number(opts.wasmThreads) } : {}),
      };
      if (settings.wasmThreads !== undefined && !(Number.isInteger(settings.wasmThreads) && settings.wasmThreads >= 1)) throw new CliError('--wasm-threads must be a whole number of at least 1', 'usage');
      try {
        installIntoViewer(opts.viewer, opts.plugin, opts.baseUrl, settings, { anyVersion: Boolean(opts.anyVersion) });
      } catch (err) {
        if (/this plugin supports OHIF/.test((err as Error).message)) throw new CliError(`${(err as Error).message} (or pass --any-version to try anyway)`, 'input');
        throw err;
      }
      console.log(`installed ABUS Tumor AI ${pluginVersion(opts.plugin)} into ${opts.viewer} (OHIF ${ohifVersionOf(opts.viewer)?.version}, served at ${base}/); research use only, not for clinical diagnosis`);
    });
}
