/**
 * The ABUS Tumor AI mode for OHIF 3.13: the host's basic viewer mode (its tools, viewports and
 * panels, reused rather than redefined) with the ABUS panel first on the right, offered for
 * studies that contain ultrasound.
 */
export const MODE_ID = '@abus-tumor-ai/mode';
const PANEL = '@abus-tumor-ai/extension.panelModule.panel';
const ABUS_PROTOCOL = 'abusThreeView';
/** The extension's handler that makes multi-frame sweeps without frame positions volumes. */
const SWEEP_HANDLER = '@abus-tumor-ai/extension.sopClassHandlerModule.abusSweep';
const STACK_HANDLER = '@ohif/extension-default.sopClassHandlerModule.stack';

type Viewport = { displaySetsToDisplay?: string[] } & Record<string, unknown>;
interface BasicModeInstance {
  routes: { layoutInstance: { props: { rightPanels: string[]; viewports?: Viewport[] } & Record<string, unknown> } & Record<string, unknown> }[];
  extensions: Record<string, string>;
  sopClassHandlers?: string[];
  [key: string]: unknown;
}

export function isValidMode({ modalities }: { modalities: string }): { valid: boolean; description: string } {
  const valid = modalities.split('\\').includes('US');
  return { valid, description: valid ? 'Analyse ABUS tumours (research use only)' : 'ABUS Tumor AI needs an ultrasound (US) series' };
}

export function deriveMode(basic: BasicModeInstance, extensionUrl: string) {
  const [route] = basic.routes;
  /** The host's own activateViewportBeforeInteraction while this mode is entered. */
  let activationBefore: { had: boolean; value: unknown } | undefined;
  return {
    ...basic,
    id: MODE_ID,
    routeName: 'abus',
    displayName: 'ABUS Tumor AI',
    hide: false,
    isValidMode,
    // The ABUS three-view layout when the series can be reconstructed, else the host's default.
    hangingProtocol: [ABUS_PROTOCOL, 'default'],
    // The sweep handler first: it takes only the sweeps it can place and leaves the rest to the
    // host's handlers. Its display sets are shown by the viewport that shows the host's stacks.
    sopClassHandlers: [SWEEP_HANDLER, ...(basic.sopClassHandlers ?? [])],
    routes: [{
      ...route,
      path: 'abus',
      layoutInstance: {
        ...route.layoutInstance,
        props: {
          ...route.layoutInstance.props,
          rightPanels: [PANEL, ...route.layoutInstance.props.rightPanels],
          rightPanelClosed: false,
          viewports: route.layoutInstance.props.viewports?.map((v) =>
            v.displaySetsToDisplay?.includes(STACK_HANDLER) ? { ...v, displaySetsToDisplay: [...v.displaySetsToDisplay, SWEEP_HANDLER] } : v,
          ),
        },
      },
    }],
    // The host's tools first, then the "ABUS tumor" tool and its toolbar button.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    onModeEnter(args: any) {
      (basic.onModeEnter as ((a: unknown) => void) | undefined)?.(args);
      // No auto-playing cine for ultrasound here: an ABUS sweep is a volume that readers scroll,
      // and playing it keeps the main thread busy (measured: 70-100 ms tasks every 100 ms).
      args.servicesManager.services.customizationService?.setCustomizations?.({ autoCineModalities: { $set: [] } });
      // OHIF's default spends the first click in an inactive view on activating it, so with the
      // "ABUS tumor" tool chosen a click on a mass in another view did nothing (issue #25). In this
      // mode a click acts where it lands, in any view; the host's value comes back on exit.
      if (args.appConfig) {
        activationBefore = { had: 'activateViewportBeforeInteraction' in args.appConfig, value: args.appConfig.activateViewportBeforeInteraction };
        args.appConfig.activateViewportBeforeInteraction = false;
      }
      args.commandsManager.runCommand('abusInstallTool');
      void args.commandsManager.runCommand('abusLoadModel');
    },
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    onModeExit(args: any) {
      (basic.onModeExit as ((a: unknown) => void) | undefined)?.(args);
      if (args?.appConfig && activationBefore) {
        if (activationBefore.had) args.appConfig.activateViewportBeforeInteraction = activationBefore.value;
        else delete args.appConfig.activateViewportBeforeInteraction;
      }
      activationBefore = undefined;
    },
    // Keyed by URL: the host imports each key, then registers the module under its own id.
    extensions: { ...basic.extensions, [extensionUrl]: '^0.1.0' },
  };
}

const mode = {
  id: MODE_ID,
  async modeFactory({ loadModules }: { loadModules: (ids: string[]) => Promise<{ modeInstance: BasicModeInstance }[]> }) {
    const [basic] = await loadModules(['@ohif/mode-basic']);
    // Loaded by URL at run time (the prebuilt viewer), the extension sits beside this module. In an
    // OHIF source build the bundler gives this module a file: URL and registers the extension by
    // its package name, so the mode names it by that.
    const here = import.meta.url;
    const extension = here.startsWith('http') ? new URL('extension.js', here).toString() : '@abus-tumor-ai/extension';
    return deriveMode(basic.modeInstance, extension);
  },
};

export default mode;
