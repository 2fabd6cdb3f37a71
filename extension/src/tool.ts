/**
 * The "ABUS tumor" tool: a cornerstone tool that, while active on the primary mouse button,
 * analyses the lesion under each click, in any view (acquisition plane or reconstruction).
 * Built on the host's own cornerstoneTools at run time, because a runtime plugin cannot bundle a
 * second copy of cornerstone (its tool state would be invisible to the viewer).
 */
import type { Services } from './analysis';
import { installLesionMarker } from './annotation';
import type { AbusSettings } from './settings';
import type { Cornerstone } from './host';

export const ABUS_TOOL = 'AbusTumor';

/** The toolbar button, in OHIF's button format; it activates the tool like any other tool button. */
export const ABUS_TOOL_BUTTON = {
  id: ABUS_TOOL,
  uiType: 'ohif.toolButton',
  props: {
    type: 'tool',
    icon: 'tool-freehand-roi',
    label: 'ABUS tumor',
    tooltip: 'ABUS tumor: click a mass to segment and classify it (research use only)',
    commands: { commandName: 'setToolActiveToolbar' },
    evaluate: 'evaluate.cornerstoneTool',
  },
};

/** "Find lesions": a toolbar action, the same command as the panel's button. */
export const ABUS_FIND_BUTTON = {
  id: 'AbusFindLesions',
  uiType: 'ohif.toolButton',
  props: {
    type: 'action',
    icon: 'tool-magnify',
    label: 'Find lesions',
    tooltip: 'Find lesions: scan the whole ABUS volume and propose the lesions found (research use only)',
    commands: 'abusFindLesions',
    evaluate: 'evaluate.action',
  },
};

/* OHIF's commands manager, typed loosely (the host does not share its types with runtime plugins). */
type Commands = { runCommand(name: string, args?: object): unknown };

/**
 * Registers the tool with cornerstone (once) and adds it, passive, to every tool group the mode
 * created. A click runs the plugin's OHIF command abusAnalyzeAtPoint, like any other caller.
 */
export function installAbusTool(cs: Cornerstone, services: Services, commands: Commands, demoLesion?: AbusSettings['demoLesion']): void {
  const tools = cs.cornerstoneTools;
  const BaseTool = tools.BaseTool as new (props: unknown, defaults: unknown) => object;
  class AbusTumorTool extends BaseTool {
    static toolName = ABUS_TOOL;
    constructor(props = {}) {
      super(props, { supportedInteractionTypes: ['Mouse'], configuration: {} });
    }
    // A click is consumed here, so no other tool also acts on it.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    preMouseDownCallback = (evt: any): boolean => {
      const { element, currentPoints } = evt.detail;
      const viewport = cs.cornerstone.getEnabledElement(element)?.viewport;
      if (viewport) commands.runCommand('abusAnalyzeAtPoint', { viewportId: viewport.id, world: Array.from(currentPoints.world as number[]) });
      return true;
    };
  }
  // A no-op when registered by an earlier mode entry; OHIF has one commands manager, so that class runs the same command.
  tools.addTool(AbusTumorTool);
  const groups = (services.toolGroupService.getToolGroupIds() as string[]).map((id) => services.toolGroupService.getToolGroup(id)).filter(Boolean);
  for (const group of groups) if (!group.hasTool(ABUS_TOOL)) group.addTool(ABUS_TOOL);
  // The lesion's label in the views the arrow is not drawn in.
  installLesionMarker(cs, groups, demoLesion);
  services.toolbarService?.register?.([ABUS_TOOL_BUTTON, ABUS_FIND_BUTTON]);
  services.toolbarService?.updateSection?.(services.toolbarService.sections?.primary ?? 'primary', [ABUS_TOOL, ABUS_FIND_BUTTON.id]);
}
