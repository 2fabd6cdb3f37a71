/** abus-ai install-ohif: the plugin into a prebuilt OHIF viewer, or out of it (see extension/install). */
import { Command } from 'commander';
import { AbusSettings, BUILT_PLUGIN, installIntoViewer, PLUGIN_FOLDER, uninstallFromViewer } from '@abus-tumor-ai/extension/install';

export function registerInstallOhif(program: Command): void {
  program
    .command('install-ohif')
    .description('install the ABUS Tumor AI plugin into a prebuilt OHIF 3.13 viewer (its dist folder), or remove it')
    .requiredOption('--viewer <dist>', 'the OHIF dist folder (holds index.html and app-config.js)')
    .option('--base-url <path>', 'URL path the viewer is served under', '')
    .option('--plugin <folder>', 'built plugin folder', BUILT_PLUGIN)
    .option('--weights-url <url>', 'model URL (default: the shipped model inside the plugin folder)')
    .option('--backend <name>', 'preferred backend: auto, webgpu, webgl, wasm, cpu', 'auto')
    .option('--seg <flavour>', 'DICOM SEG flavour: binary (1.2.840.10008.5.1.4.1.1.66.4) or labelmap', 'binary')
    .option('--export <target>', 'where SEG and SR go: dicomweb (STOW-RS to the active data source) or download', 'dicomweb')
    .option('--sweep-spacing <mm>', 'frame spacing of multi-frame sweeps whose files state none (default 0.5)')
    .option('--uninstall', 'remove the plugin and restore app-config.js')
    .action((opts) => {
      if (opts.uninstall) {
        const had = uninstallFromViewer(opts.viewer);
        console.log(had ? `removed ABUS Tumor AI from ${opts.viewer}` : `ABUS Tumor AI was not installed in ${opts.viewer}; nothing changed`);
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
      };
      installIntoViewer(opts.viewer, opts.plugin, opts.baseUrl, settings);
      console.log(`installed ABUS Tumor AI into ${opts.viewer} (served at ${base}/); research use only, not for clinical diagnosis`);
    });
}
