/**
 * The plugin's OHIF commands, so hotkeys, toolbar buttons, other extensions and tests can drive it
 * like the rest of the viewer: commandsManager.runCommand('abusAnalyzeAtPoint', { viewportId, world }).
 */
import { analyzeAtCrosshair, analyzeAtWorld, cancelAnalysis, exportResults, Host, jumpToLesion, loadEngine, removeLesion } from './controller';
import { hostCornerstone } from './analysis';
import { installAbusTool } from './tool';

export function commandsModule(host: Host) {
  const actions = {
    /** Adds the "ABUS tumor" tool to the mode's tool groups and its button to the toolbar. */
    abusInstallTool: () => installAbusTool(hostCornerstone(host.extensionManager), host.services, (viewportId, world) => void analyzeAtWorld(host, viewportId, world)),
    abusLoadModel: () => loadEngine(host),
    abusAnalyzeAtPoint: ({ viewportId, world }: { viewportId: string; world: number[] }) => analyzeAtWorld(host, viewportId, world),
    abusAnalyzeAtCrosshair: () => analyzeAtCrosshair(host),
    abusCancel: () => cancelAnalysis(),
    abusJumpToLesion: ({ number }: { number: number }) => jumpToLesion(host, number),
    abusRemoveLesion: ({ number }: { number: number }) => removeLesion(host, number),
    abusExport: () => exportResults(host),
  };
  const definitions = Object.fromEntries(Object.entries(actions).map(([name, commandFn]) => [name, { commandFn }]));
  return { actions, definitions, defaultContext: 'VIEWER' };
}
