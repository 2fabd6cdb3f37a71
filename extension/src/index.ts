/**
 * The ABUS Tumor AI extension for OHIF 3.13, loaded at run time by the prebuilt viewer
 * (app-config.js lists this module's URL; see `abus-ai install-ohif`).
 */
import { domIsland } from './island';
import { mountPanel } from './panel';
import { readSettings } from './settings';

export const EXTENSION_ID = '@abus-tumor-ai/extension';
const settings = readSettings(import.meta.url);

const extension = {
  id: EXTENSION_ID,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  getPanelModule({ servicesManager, extensionManager }: { servicesManager: { services: Record<string, any> }; extensionManager: unknown }) {
    const host = { services: servicesManager.services, extensionManager };
    const component = domIsland('abus-tumor-ai-panel', (el) => mountPanel(el, host, settings, import.meta.url));
    return [{ name: 'panel', iconName: 'tab-segmentation', iconLabel: 'ABUS AI', label: 'ABUS Tumor AI', component }];
  },
};

export default extension;
