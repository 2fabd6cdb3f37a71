/**
 * The ABUS Tumor AI extension for OHIF 3.13, loaded at run time by the prebuilt viewer
 * (app-config.js lists this module's URL; see `abus-ai install-ohif`).
 */
import { domIsland } from './island';
import { mountPanel } from './panel';
import { readSettings } from './settings';

export const EXTENSION_ID = '@abus-tumor-ai/extension';
const settings = readSettings(import.meta.url);

const AbusPanel = domIsland('abus-tumor-ai-panel', (host) => mountPanel(host, settings, import.meta.url));

const extension = {
  id: EXTENSION_ID,
  getPanelModule() {
    return [{ name: 'panel', iconName: 'tab-segmentation', iconLabel: 'ABUS AI', label: 'ABUS Tumor AI', component: AbusPanel }];
  },
};

export default extension;
