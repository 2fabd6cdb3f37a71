/**
 * Installing the plugin into a prebuilt OHIF viewer (no rebuild): the plugin folder is copied
 * into the viewer's dist folder and registered in app-config.js with one marked block, so
 * installing twice changes nothing and uninstalling restores the original file byte for byte.
 * There is no backup copy to restore: uninstalling removes the block from the app-config.js that
 * is there now, so a viewer upgraded since (a new app-config.js) never gets an old file back.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { AbusSettings } from './settings';
import { ohifVersionOf, unsupportedOhif } from './ohif-version';

export type { AbusSettings } from './settings';
export { OHIF_VERSION, ohifDistIn } from './ohif-dist';
export { inlineScriptHashes, ohifVersionOf, SUPPORTED_OHIF_TEXT, unsupportedOhif } from './ohif-version';
export { LOCK_FILE, lockViewer } from './lock';
export type { OhifVersion } from './ohif-version';

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

/** What install wrote into the plugin folder: which plugin, onto which OHIF, the app-config.js it found, and every file it installed. */
export interface InstallRecord {
  plugin: string;
  ohif: string;
  installed: string;
  /** SHA-256 of app-config.js without our block when installing, to tell on uninstall whether it changed since. */
  appConfigSha256: string;
  /** SHA-256 of every installed file, by its path in the plugin folder ('/'-separated): what --check verifies. */
  files?: Record<string, string>;
}
export const RECORD_FILE = 'install.json';

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

/** Every file under `folder` with its SHA-256, by '/'-separated relative path. */
function manifestOf(folder: string, under = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of fs.readdirSync(path.join(folder, under), { withFileTypes: true })) {
    const rel = under ? `${under}/${entry.name}` : entry.name;
    if (entry.isDirectory()) Object.assign(out, manifestOf(folder, rel));
    else if (entry.isFile()) out[rel] = sha256(fs.readFileSync(path.join(folder, rel)));
  }
  return out;
}

/** Whole files only: a temporary file beside the target, renamed over it, its mode kept. */
function replaceFile(file: string, text: string): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(temp, text, { flag: 'w', mode: fs.statSync(file).mode & 0o7777 });
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
}

function configFileOf(viewer: string): string {
  const file = path.join(viewer, 'app-config.js');
  if (!fs.existsSync(file) || !fs.existsSync(path.join(viewer, 'index.html'))) throw new Error(`${viewer} is not an OHIF dist folder: index.html or app-config.js is missing`);
  return file;
}

export function readRecord(viewer: string): InstallRecord | undefined {
  const file = path.join(viewer, PLUGIN_FOLDER, RECORD_FILE);
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as InstallRecord) : undefined;
}

/** The plugin's version as its build wrote it (plugin.json), or 'unknown'. */
export function pluginVersion(plugin: string): string {
  const file = path.join(plugin, 'plugin.json');
  return fs.existsSync(file) ? String((JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: string }).version) : 'unknown';
}

/**
 * anyVersion: install into an OHIF other than the supported one (at the user's risk). All or
 * nothing: the plugin is copied to a temporary folder in the viewer, then swapped in by renames,
 * and app-config.js is replaced whole last; if any step fails, the old plugin folder and the old
 * app-config.js are put back, so the viewer is exactly as it was.
 */
export function installIntoViewer(viewer: string, plugin: string, baseUrl: string, settings: AbusSettings, options: { anyVersion?: boolean } = {}): void {
  const configFile = configFileOf(viewer);
  if (!fs.existsSync(path.join(plugin, 'extension.js'))) throw new Error(`The plugin is not built (${plugin}); run \`npm run build\` first`);
  const unsupported = unsupportedOhif(viewer);
  if (unsupported && !options.anyVersion) throw new Error(unsupported);
  // A read-only app-config.js is the owner's choice: refused before anything is copied, not replaced by the rename below.
  fs.accessSync(configFile, fs.constants.W_OK);
  const target = path.join(viewer, PLUGIN_FOLDER);
  const incoming = path.join(viewer, `.${PLUGIN_FOLDER}.${process.pid}.new`);
  const previous = path.join(viewer, `.${PLUGIN_FOLDER}.${process.pid}.old`);
  const config = fs.readFileSync(configFile, 'utf8');
  const { text } = withoutBlock(config);
  let swapped = false;
  try {
    fs.rmSync(incoming, { recursive: true, force: true });
    fs.cpSync(plugin, incoming, { recursive: true });
    const record: InstallRecord = { plugin: pluginVersion(plugin), ohif: ohifVersionOf(viewer)?.version ?? 'unknown', installed: new Date().toISOString(), appConfigSha256: sha256(text), files: manifestOf(incoming) };
    fs.writeFileSync(path.join(incoming, RECORD_FILE), JSON.stringify(record, null, 2) + '\n');
    // Whatever an earlier install left (also one from before an OHIF upgrade) is replaced, not reused.
    if (fs.existsSync(target)) fs.renameSync(target, previous);
    swapped = true;
    fs.renameSync(incoming, target);
    replaceFile(configFile, `${text}\n${configBlock(baseUrl, settings)}\n`);
  } catch (err) {
    fs.rmSync(incoming, { recursive: true, force: true });
    if (swapped) {
      fs.rmSync(target, { recursive: true, force: true });
      if (fs.existsSync(previous)) fs.renameSync(previous, target);
      if (fs.readFileSync(configFile, 'utf8') !== config) replaceFile(configFile, config);
    }
    throw err;
  }
  fs.rmSync(previous, { recursive: true, force: true });
}

/** --check's file check: every file the install recorded, with its SHA-256. */
export function verifyInstall(viewer: string): { checked: number; problems: string[] } {
  const record = readRecord(viewer);
  if (!record) return { checked: 0, problems: [] };
  if (!record.files) return { checked: 0, problems: [`${RECORD_FILE} lists no files (installed by an older install-ohif): install again to be able to check them`] };
  const problems: string[] = [];
  for (const [rel, expected] of Object.entries(record.files)) {
    const file = path.join(viewer, PLUGIN_FOLDER, ...rel.split('/'));
    if (!fs.existsSync(file)) problems.push(`${PLUGIN_FOLDER}/${rel} is missing`);
    else if (sha256(fs.readFileSync(file)) !== expected) problems.push(`${PLUGIN_FOLDER}/${rel} has changed since the install (SHA-256 differs)`);
  }
  return { checked: Object.keys(record.files).length, problems };
}

export interface ViewerState {
  /** 'installed'; 'no' (neither folder nor block); or 'partly' (one without the other, e.g. after an upgrade replaced app-config.js). */
  installed: 'installed' | 'no' | 'partly';
  record?: InstallRecord;
  /** One line for people. */
  summary: string;
}

export function viewerState(viewer: string): ViewerState {
  const { had } = withoutBlock(fs.readFileSync(configFileOf(viewer), 'utf8'));
  const folder = fs.existsSync(path.join(viewer, PLUGIN_FOLDER));
  const record = readRecord(viewer);
  if (had && folder) return { installed: 'installed', record, summary: `ABUS Tumor AI ${record?.plugin ?? ''} is installed (onto OHIF ${record?.ohif ?? 'unknown'}, ${record?.installed.slice(0, 10) ?? 'date unknown'})` };
  if (!had && !folder) return { installed: 'no', summary: 'ABUS Tumor AI is not installed' };
  return {
    installed: 'partly',
    record,
    summary: had
      ? `app-config.js loads ABUS Tumor AI but its folder ${PLUGIN_FOLDER}/ is missing: run install-ohif again, or --uninstall`
      : `the ${PLUGIN_FOLDER}/ folder is there but app-config.js does not load it (the viewer was replaced or upgraded since the install): run install-ohif again`,
  };
}

/**
 * Removes the block and the folder. `had`: whether there was anything to remove; `changedSince`:
 * app-config.js (without our block) is not the file found at install time, i.e. someone edited it
 * or the viewer was upgraded; their version is kept.
 */
export function uninstallFromViewer(viewer: string): { had: boolean; changedSince: boolean } {
  const configFile = configFileOf(viewer);
  const { text, had } = withoutBlock(fs.readFileSync(configFile, 'utf8'));
  const record = readRecord(viewer);
  const folder = fs.existsSync(path.join(viewer, PLUGIN_FOLDER));
  if (had) replaceFile(configFile, text);
  fs.rmSync(path.join(viewer, PLUGIN_FOLDER), { recursive: true, force: true });
  return { had: had || folder, changedSince: Boolean(record && record.appConfigSha256 !== sha256(text)) };
}
