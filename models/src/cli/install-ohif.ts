/**
 * abus-ai install-ohif: puts the built plugin into a prebuilt OHIF viewer (no rebuild) and
 * registers it in app-config.js with one marked block, so installing twice changes nothing and
 * --uninstall restores the original file byte for byte.
 */
import { Command } from 'commander';
import * as fs from 'fs';
import * as path from 'path';
import type { AbusSettings } from '../browser/settings';

export const PLUGIN_FOLDER = 'abus-tumor-ai';
const BEGIN = '// >>> abus-tumor-ai (added by `abus-ai install-ohif`; `abus-ai install-ohif --uninstall` removes it)';
const END = '// <<< abus-tumor-ai';

/** Where `npm run build` leaves the plugin (extension/dist/abus-tumor-ai), relative to dist/cli. */
export const BUILT_PLUGIN = path.join(__dirname, '..', '..', '..', 'extension', 'dist', PLUGIN_FOLDER);

export function configBlock(baseUrl: string, settings: AbusSettings): string {
  const base = `${baseUrl.replace(/\/+$/, '')}/${PLUGIN_FOLDER}`;
  return [
    BEGIN,
    `window.config.extensions = (window.config.extensions || []).concat(['${base}/extension.js']);`,
    `window.config.modes = (window.config.modes || []).concat(['${base}/mode.js']);`,
    `window.config.abusTumorAI = ${JSON.stringify(settings)};`,
    END,
  ].join('\n');
}

/** The config text without our block (exactly as before installation), and whether there was one. */
export function withoutBlock(config: string): { text: string; had: boolean } {
  const start = config.indexOf(`\n${BEGIN}\n`);
  if (start < 0) return { text: config, had: false };
  const end = config.indexOf(`\n${END}\n`, start);
  if (end < 0) throw new Error('app-config.js has a damaged abus-tumor-ai block (its end marker is missing); restore it by hand');
  return { text: config.slice(0, start) + config.slice(end + END.length + 2), had: true };
}

export function installIntoViewer(viewer: string, plugin: string, baseUrl: string, settings: AbusSettings): void {
  const configFile = path.join(viewer, 'app-config.js');
  if (!fs.existsSync(configFile)) throw new Error(`${viewer} is not an OHIF dist folder: app-config.js is missing`);
  if (!fs.existsSync(path.join(plugin, 'extension.js'))) throw new Error(`The plugin is not built (${plugin}); run \`npm run build\` first`);
  const target = path.join(viewer, PLUGIN_FOLDER);
  fs.rmSync(target, { recursive: true, force: true });
  fs.cpSync(plugin, target, { recursive: true });
  const { text } = withoutBlock(fs.readFileSync(configFile, 'utf8'));
  fs.writeFileSync(configFile, `${text}\n${configBlock(baseUrl, settings)}\n`);
}

export function uninstallFromViewer(viewer: string): boolean {
  const configFile = path.join(viewer, 'app-config.js');
  if (!fs.existsSync(configFile)) throw new Error(`${viewer} is not an OHIF dist folder: app-config.js is missing`);
  const { text, had } = withoutBlock(fs.readFileSync(configFile, 'utf8'));
  if (had) fs.writeFileSync(configFile, text);
  fs.rmSync(path.join(viewer, PLUGIN_FOLDER), { recursive: true, force: true });
  return had;
}

export function registerInstallOhif(program: Command): void {
  program
    .command('install-ohif')
    .description('install the ABUS Tumor AI plugin into a prebuilt OHIF 3.13 viewer (its dist folder), or remove it')
    .requiredOption('--viewer <dist>', 'the OHIF dist folder (holds index.html and app-config.js)')
    .option('--base-url <path>', 'URL path the viewer is served under', '')
    .option('--plugin <folder>', 'built plugin folder', BUILT_PLUGIN)
    .option('--weights-url <url>', 'model URL (default: the shipped model inside the plugin folder)')
    .option('--backend <name>', 'preferred backend: auto, webgpu, webgl, wasm, cpu', 'auto')
    .option('--threshold <p>', 'decision threshold on P(malignant)', '0.5')
    .option('--seg <flavour>', 'DICOM SEG flavour: binary (1.2.840.10008.5.1.4.1.1.66.4) or labelmap', 'binary')
    .option('--export <target>', 'where SEG and SR go: dicomweb (STOW-RS to the active data source) or download', 'dicomweb')
    .option('--uninstall', 'remove the plugin and restore app-config.js')
    .action((opts) => {
      if (opts.uninstall) {
        const had = uninstallFromViewer(opts.viewer);
        console.log(had ? `removed ABUS Tumor AI from ${opts.viewer}` : `ABUS Tumor AI was not installed in ${opts.viewer}; nothing changed`);
        return;
      }
      const base = `${String(opts.baseUrl).replace(/\/+$/, '')}/${PLUGIN_FOLDER}`;
      const settings: AbusSettings = {
        weightsUrl: opts.weightsUrl ?? `${base}/weights/cmsvnetiter/`,
        backend: opts.backend,
        decisionThreshold: Number(opts.threshold),
        segFlavour: opts.seg,
        exportTarget: opts.export,
      };
      installIntoViewer(opts.viewer, opts.plugin, opts.baseUrl, settings);
      console.log(`installed ABUS Tumor AI into ${opts.viewer} (served at ${base}/); research use only, not for clinical diagnosis`);
    });
}
