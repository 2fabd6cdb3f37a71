/**
 * Installing the plugin into a prebuilt OHIF viewer (no rebuild): the plugin folder is copied
 * into the viewer's dist folder and registered in app-config.js with one marked block, so
 * installing twice changes nothing and uninstalling restores the original file byte for byte.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { AbusSettings } from './settings';

export type { AbusSettings } from './settings';
export { OHIF_VERSION, ohifDistIn } from './ohif-dist';

export const PLUGIN_FOLDER = 'abus-tumor-ai';
const BEGIN = '// >>> abus-tumor-ai (added by `abus-ai install-ohif`; `abus-ai install-ohif --uninstall` removes it)';
const END = '// <<< abus-tumor-ai';

/** Where `npm run build` leaves the plugin, extension/dist/abus-tumor-ai, from this module built (dist/install) or as source (tests). */
export const BUILT_PLUGIN = path.join(__dirname, '..', ...(__filename.endsWith('.ts') ? ['dist'] : []), PLUGIN_FOLDER);

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

