/**
 * The ABUS Tumor AI extension for OHIF 3.13, loaded at run time by the prebuilt viewer
 * (app-config.js lists this module's URL; see `abus-ai install-ohif`).
 */
import { Engine, load } from '@abus-tumor-ai/engine';
import { hostCornerstone } from './analysis';
import { commandsModule } from './commands';
import { AbusTumorService } from './service';
import { ABUS_PROTOCOL, abusThreeView, addVolumeAvailableAttribute } from './hanging-protocol';
import { domIsland } from './island';
import { mountPanel } from './panel';
import { pluginBaseUrl, readSettings } from './settings';
import { SWEEP_HANDLER, sweepHandler } from './sweep';

export const EXTENSION_ID = '@abus-tumor-ai/extension';
const settings = readSettings(import.meta.url);

/* OHIF's managers, typed loosely: the host does not share its types with runtime plugins. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Managers = { servicesManager: { services: Record<string, any>; registerService(registration: object): void }; extensionManager: any; commandsManager: any };

/** The worker engine, from the plugin folder (or assetsUrl), with the settings' model and backend. */
async function createEngine(): Promise<Engine> {
  const base = settings.assetsUrl ?? pluginBaseUrl(import.meta.url);
  return (await load({ worker: new Worker(new URL('abus-worker.js', base)), weights: settings.weightsUrl, backend: settings.backend, wasmPath: base, wasmThreads: settings.wasmThreads }));
}

const serviceOf = ({ servicesManager }: Managers): AbusTumorService => servicesManager.services.abusTumorService;

const extension = {
  id: EXTENSION_ID,
  preRegistration(managers: Managers) {
    managers.servicesManager.registerService(AbusTumorService.registration(settings, createEngine, managers));
    addVolumeAvailableAttribute(managers.servicesManager.services);
  },
  getCommandsModule(managers: Managers) {
    return commandsModule(serviceOf(managers));
  },
  /** Multi-frame sweeps without frame positions as volumes (the mode lists this handler first). */
  getSopClassHandlerModule({ extensionManager }: Managers) {
    const id = `${EXTENSION_ID}.sopClassHandlerModule.${SWEEP_HANDLER}`;
    return [sweepHandler(extensionManager, id, () => hostCornerstone(extensionManager), settings.sweepSpacingMm)];
  },
  getHangingProtocolModule() {
    return [{ name: ABUS_PROTOCOL, protocol: abusThreeView }];
  },
  getPanelModule(managers: Managers) {
    const component = domIsland('abus-tumor-ai-panel', (el) => mountPanel(el, serviceOf(managers)));
    return [{ name: 'panel', iconName: 'tab-segmentation', iconLabel: 'ABUS AI', label: 'ABUS Tumor AI', component }];
  },
};

export default extension;
