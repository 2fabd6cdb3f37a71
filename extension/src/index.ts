/**
 * The ABUS Tumor AI extension for OHIF 3.13, loaded at run time by the prebuilt viewer
 * (app-config.js lists this module's URL; see `abus-ai install-ohif`).
 */
import { EngineWorker } from '@abus-tumor-ai/engine';
import { commandsModule } from './commands';
import type { Host } from './controller';
import { ABUS_PROTOCOL, abusThreeView, addVolumeAvailableAttribute } from './hanging-protocol';
import { domIsland } from './island';
import { mountPanel } from './panel';
import { pluginBaseUrl, readSettings } from './settings';

export const EXTENSION_ID = '@abus-tumor-ai/extension';
const settings = readSettings(import.meta.url);

/* OHIF's managers, typed loosely: the host does not share its types with runtime plugins. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Managers = { servicesManager: { services: Record<string, any> }; extensionManager: any; commandsManager: any };

let host: Host | undefined;
function hostOf({ servicesManager, extensionManager, commandsManager }: Managers): Host {
  host ??= {
    services: servicesManager.services,
    extensionManager,
    commandsManager,
    settings,
    async createEngine() {
      const base = settings.assetsUrl ?? pluginBaseUrl(import.meta.url);
      const engine = new EngineWorker(new Worker(new URL('abus-worker.js', base)));
      await engine.init(settings.weightsUrl, settings.backend, base);
      return engine;
    },
  };
  return host;
}

const extension = {
  id: EXTENSION_ID,
  preRegistration(managers: Managers) {
    hostOf(managers);
    addVolumeAvailableAttribute(managers.servicesManager.services);
  },
  getCommandsModule(managers: Managers) {
    return commandsModule(hostOf(managers));
  },
  getHangingProtocolModule() {
    return [{ name: ABUS_PROTOCOL, protocol: abusThreeView }];
  },
  getPanelModule(managers: Managers) {
    const component = domIsland('abus-tumor-ai-panel', (el) => mountPanel(el, hostOf(managers)));
    return [{ name: 'panel', iconName: 'tab-segmentation', iconLabel: 'ABUS AI', label: 'ABUS Tumor AI', component }];
  },
};

export default extension;
