import type { AbusSettings } from '../install/settings';

export type { AbusSettings };

/** Where this module was loaded from: the worker, wasm binaries and weights sit beside it. */
export function pluginBaseUrl(moduleUrl: string): string {
  return moduleUrl.slice(0, moduleUrl.lastIndexOf('/') + 1);
}

export function readSettings(moduleUrl: string): AbusSettings {
  const fromConfig = (globalThis as { config?: { abusTumorAI?: Partial<AbusSettings> } }).config?.abusTumorAI ?? {};
  const page = (globalThis as { location?: { href: string } }).location?.href ?? moduleUrl;
  // A folder URL: without the trailing slash, relative names would resolve beside it, not in it.
  const assetsUrl = fromConfig.assetsUrl ? new URL(fromConfig.assetsUrl.replace(/\/?$/, '/'), page).toString() : pluginBaseUrl(moduleUrl);
  return {
    assetsUrl,
    weightsUrl: new URL(fromConfig.weightsUrl ?? 'weights/cmsvnetiter/', assetsUrl).toString(),
    backend: fromConfig.backend ?? 'auto',
    segFlavour: fromConfig.segFlavour ?? 'binary',
    exportTarget: fromConfig.exportTarget ?? 'dicomweb',
    sweepSpacingMm: fromConfig.sweepSpacingMm,
    ...(fromConfig.wasmThreads ? { wasmThreads: fromConfig.wasmThreads } : {}),
    ...(fromConfig.demoLesion ? { demoLesion: fromConfig.demoLesion } : {}),
  };
}
