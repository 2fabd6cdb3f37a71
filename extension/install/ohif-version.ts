/**
 * Which OHIF a prebuilt viewer folder is. The dist itself says it: the About dialog's bundle holds
 * `versionNumber = "3.13.2"` (OHIF's build writes its version there). Next to a dist unpacked
 * from the npm package, package.json says it too; a Docker image's /usr/share/nginx/html has only
 * the bundles.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

/** The OHIF releases this plugin is built and tested against: 3.13.x. */
export const SUPPORTED_OHIF = { major: 3, minor: 13 };
export const SUPPORTED_OHIF_TEXT = `${SUPPORTED_OHIF.major}.${SUPPORTED_OHIF.minor}.x`;

export interface OhifVersion {
  version: string;
  /** Where it was read, for messages. */
  source: string;
}

const IN_BUNDLE = /\bversionNumber\s*=\s*"(\d+\.\d+\.\d+[^"]*)"/;

export function ohifVersionOf(dist: string): OhifVersion | undefined {
  for (const name of fs.readdirSync(dist).filter((n) => n.endsWith('.js')).sort()) {
    const match = IN_BUNDLE.exec(fs.readFileSync(path.join(dist, name), 'latin1'));
    if (match) return { version: match[1], source: name };
  }
  const pkg = path.join(dist, '..', 'package.json');
  if (fs.existsSync(pkg)) {
    const json = JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string; version?: string };
    if (json.name === '@ohif/app' && json.version) return { version: json.version, source: pkg };
  }
  return undefined;
}

/** Why this viewer cannot take the plugin, or undefined when it is a supported OHIF. */
export function unsupportedOhif(dist: string): string | undefined {
  const found = ohifVersionOf(dist);
  if (!found) return `no OHIF version found in ${dist} (no bundle holds versionNumber = "..."); this plugin supports OHIF ${SUPPORTED_OHIF_TEXT}`;
  const [major, minor] = found.version.split('.').map(Number);
  if (major === SUPPORTED_OHIF.major && minor === SUPPORTED_OHIF.minor) return undefined;
  return `${dist} is OHIF ${found.version} (read from ${found.source}); this plugin supports OHIF ${SUPPORTED_OHIF_TEXT} only. Install a plugin release made for OHIF ${major}.${minor}, or use an OHIF ${SUPPORTED_OHIF_TEXT} viewer`;
}

/**
 * The CSP source expressions ('sha256-...') of index.html's inline scripts: a Content-Security-Policy
 * without 'unsafe-inline' must list them (extension/deploy/nginx/security-headers.conf.inc does, for
 * OHIF 3.13.2 served at /; another build or base path has other ones).
 */
export function inlineScriptHashes(dist: string): string[] {
  const index = fs.readFileSync(path.join(dist, 'index.html'), 'utf8');
  return [...index.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)]
    .map((m) => m[1])
    .filter(Boolean)
    .map((body) => `'sha256-${createHash('sha256').update(body).digest('base64')}'`);
}
