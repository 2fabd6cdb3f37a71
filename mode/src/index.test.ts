import { describe, expect, it, jest } from '@jest/globals';
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

interface Route {
  path: string;
  layoutInstance: { id: string; props: { leftPanels: string[]; rightPanels: string[]; rightPanelClosed?: boolean; viewports?: { namespace: string; displaySetsToDisplay: string[] }[] } };
}
interface Mode {
  id: string;
  routeName: string;
  hangingProtocol: string[];
  routes: Route[];
  extensions: Record<string, string>;
  onModeEnter(args: { commandsManager: { runCommand(name: string): unknown }; servicesManager: { services: Record<string, unknown> } }): void;
  isValidMode(study: { modalities: string }): { valid: boolean; description: string };
  [key: string]: unknown;
}
interface BasicMode {
  routes: Route[];
  extensions: Record<string, string>;
  onModeEnter(args: unknown): void;
  [key: string]: unknown;
}
interface ModeModule {
  MODE_ID: string;
  isValidMode(study: { modalities: string }): { valid: boolean; description: string };
  deriveMode(basic: BasicMode, extensionUrl: string): Mode;
  default: { id: string; modeFactory(args: { loadModules(ids: string[]): Promise<{ modeInstance: BasicMode }[]> }): Promise<Mode> };
}

const MODULE_URL = 'https://viewer.invalid/plugins/abus/mode.js';

/**
 * index.ts is a browser ES module whose factory finds the extension beside itself through
 * import.meta.url, which a commonjs test cannot import (and tsconfig.test.json excludes it). It is
 * compiled here with that one expression replaced by a fixed module URL.
 */
function loadMode(): ModeModule {
  const source = fs.readFileSync(path.join(__dirname, 'index.ts'), 'utf8');
  expect(source.match(/import\.meta\.url/g)).toHaveLength(1);
  const js = ts.transpileModule(source.replace('import.meta.url', JSON.stringify(MODULE_URL)), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const exports = {};
  new Function('exports', 'require', js)(exports, require);
  return exports as ModeModule;
}

const PANEL = '@abus-tumor-ai/extension.panelModule.panel';
const SWEEP_HANDLER = '@abus-tumor-ai/extension.sopClassHandlerModule.abusSweep';

function basicMode(): BasicMode {
  return {
    id: 'basic',
    routeName: 'basic',
    routes: [{
      path: 'basic',
      layoutInstance: {
        id: 'viewerLayout',
        props: {
          leftPanels: ['studyBrowser'],
          rightPanels: ['segmentation', 'measurements'],
          rightPanelClosed: true,
          viewports: [
            { namespace: 'cornerstone', displaySetsToDisplay: ['@ohif/extension-default.sopClassHandlerModule.stack', 'video'] },
            { namespace: 'seg', displaySetsToDisplay: ['seg'] },
          ],
        },
      },
    }],
    extensions: { '@ohif/extension-default': '^3.0.0', '@ohif/extension-cornerstone': '^3.0.0' },
    onModeEnter: jest.fn((_args: unknown) => undefined),
    sopClassHandlers: ['@ohif/extension-default.sopClassHandlerModule.stack'],
  };
}

describe('ABUS mode', () => {
  const mode = loadMode();

  it('is offered for studies with ultrasound only', () => {
    expect(mode.isValidMode({ modalities: 'US' }).valid).toBe(true);
    expect(mode.isValidMode({ modalities: 'SR\\US' }).valid).toBe(true);
    expect(mode.isValidMode({ modalities: 'CT\\MR' })).toEqual({ valid: false, description: 'ABUS Tumor AI needs an ultrasound (US) series' });
  });

  it("keeps the basic mode's route and panels, with the ABUS panel first and open", () => {
    const basic = basicMode();
    const derived = mode.deriveMode(basic, 'https://viewer.invalid/plugins/abus/extension.js');
    expect(derived.id).toBe(mode.MODE_ID);
    expect(derived.routeName).toBe('abus');
    expect(derived.hangingProtocol).toContain('abusThreeView');
    expect(derived.hangingProtocol[0]).toBe('abusThreeView');
    // Sweeps without frame positions go to the extension's handler first, and show in the stack viewport.
    expect(derived.sopClassHandlers).toEqual([SWEEP_HANDLER, ...(basic.sopClassHandlers as string[])]);
    expect(derived.routes).toHaveLength(1);
    const { layoutInstance } = derived.routes[0];
    expect(derived.routes[0].path).toBe('abus');
    expect(layoutInstance.id).toBe('viewerLayout');
    expect(layoutInstance.props.leftPanels).toEqual(['studyBrowser']);
    expect(layoutInstance.props.rightPanels).toEqual([PANEL, 'segmentation', 'measurements']);
    expect(layoutInstance.props.rightPanelClosed).toBe(false);
    expect(layoutInstance.props.viewports).toEqual([
      { namespace: 'cornerstone', displaySetsToDisplay: ['@ohif/extension-default.sopClassHandlerModule.stack', 'video', SWEEP_HANDLER] },
      { namespace: 'seg', displaySetsToDisplay: ['seg'] },
    ]);
    expect(derived.extensions).toEqual({ ...basic.extensions, 'https://viewer.invalid/plugins/abus/extension.js': '^0.1.0' });
    // The basic mode itself is left as it was.
    expect(basic.routes[0].layoutInstance.props.rightPanels).toEqual(['segmentation', 'measurements']);
  });

  it("enters through the basic mode's onModeEnter, stops auto cine, then installs the tool and loads the model", () => {
    const basic = basicMode();
    const order: string[] = [];
    (basic.onModeEnter as jest.Mock).mockImplementation(() => order.push('basic'));
    const commandsManager = { runCommand: jest.fn((name: string) => order.push(name)) };
    const setCustomizations = jest.fn((_customizations: object) => order.push('customizations'));
    const servicesManager = { services: { customizationService: { setCustomizations } } };
    mode.deriveMode(basic, 'extension.js').onModeEnter({ commandsManager, servicesManager });
    expect(basic.onModeEnter).toHaveBeenCalledWith({ commandsManager, servicesManager });
    expect(setCustomizations).toHaveBeenCalledWith({ autoCineModalities: { $set: [] } });
    expect(order).toEqual(['basic', 'customizations', 'abusInstallTool', 'abusLoadModel']);
  });

  it("acts on the first click in any view while the mode is entered, and gives the host's setting back on exit", () => {
    const commandsManager = { runCommand: jest.fn() };
    const servicesManager = { services: {} };
    for (const before of [{}, { activateViewportBeforeInteraction: true }]) {
      const appConfig: Record<string, unknown> = { ...before };
      const derived = mode.deriveMode(basicMode(), 'extension.js') as unknown as { onModeEnter(a: object): void; onModeExit(a: object): void };
      derived.onModeEnter({ commandsManager, servicesManager, appConfig });
      expect(appConfig.activateViewportBeforeInteraction).toBe(false);
      derived.onModeExit({ servicesManager, appConfig });
      expect(appConfig).toEqual(before);
    }
  });

  it('builds on @ohif/mode-basic and registers the extension beside the mode module', async () => {
    const loadModules = jest.fn(async (_ids: string[]) => [{ modeInstance: basicMode() }]);
    const derived = await mode.default.modeFactory({ loadModules });
    expect(loadModules).toHaveBeenCalledWith(['@ohif/mode-basic']);
    expect(Object.keys(derived.extensions)).toContain('https://viewer.invalid/plugins/abus/extension.js');
  });
});
