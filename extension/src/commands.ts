/**
 * The plugin's OHIF commands, so hotkeys, toolbar buttons, the "ABUS tumor" tool, other extensions
 * and tests drive it like the rest of the viewer:
 * commandsManager.runCommand('abusAnalyzeAtPoint', { viewportId, world }). Each runs an action of
 * the plugin's state service.
 */
import { hostCornerstone } from './analysis';
import type { AbusTumorService } from './service';
import { installAbusTool } from './tool';

export function commandsModule(service: AbusTumorService) {
  const { managers } = service;
  const actions = {
    /** Adds the "ABUS tumor" tool to the mode's tool groups and its button to the toolbar. */
    abusInstallTool: () => installAbusTool(hostCornerstone(managers.extensionManager), managers.services, managers.commandsManager, service.settings.demoLesion),
    abusLoadModel: () => service.loadEngine(),
    abusAnalyzeAtPoint: ({ viewportId, world }: { viewportId: string; world: number[] }) => service.analyzeAtWorld(viewportId, world),
    abusAnalyzeAtCrosshair: () => service.analyzeAtCrosshair(),
    abusFindLesions: () => service.findLesions(),
    abusAcceptCandidate: ({ rank }: { rank: number }) => service.acceptCandidate(rank),
    abusRejectCandidate: ({ rank }: { rank: number }) => service.rejectCandidate(rank),
    abusCancel: () => service.cancelAnalysis(),
    abusJumpToLesion: ({ number }: { number: number }) => service.jumpToLesion(number),
    abusRemoveLesion: ({ number }: { number: number }) => service.removeLesion(number),
    abusExport: () => service.exportResults(),
  };
  const definitions = Object.fromEntries(Object.entries(actions).map(([name, commandFn]) => [name, { commandFn }]));
  return { actions, definitions, defaultContext: 'VIEWER' };
}
