import type { AbusSettings } from '../../models/src/browser/settings';

export type { AbusSettings };

/** Where this module was loaded from: the worker, wasm binaries and weights sit beside it. */
export function pluginBaseUrl(moduleUrl: string): string {
  return moduleUrl.slice(0, moduleUrl.lastIndexOf('/') + 1);
}

export function readSettings(moduleUrl: string): AbusSettings {
  const fromConfig = (globalThis as { config?: { abusTumorAI?: Partial<AbusSettings> } }).config?.abusTumorAI ?? {};
  return {
    weightsUrl: new URL(fromConfig.weightsUrl ?? 'weights/cmsvnetiter/', pluginBaseUrl(moduleUrl)).toString(),
    backend: fromConfig.backend ?? 'auto',
    decisionThreshold: fromConfig.decisionThreshold ?? 0.5,
    segFlavour: fromConfig.segFlavour ?? 'binary',
    exportTarget: fromConfig.exportTarget ?? 'dicomweb',
  };
}
