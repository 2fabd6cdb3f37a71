/** Helpers for driving the real OHIF viewer in a page. */
import type { Page } from 'playwright-core';

/** Resolves once cornerstone has enabled the active viewport and given it its images. */
export async function waitForViewport(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const w = window as any;
    const cs = w.extensionManager?.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common')?.exports.getCornerstoneLibraries();
    const id = w.services?.viewportGridService.getActiveViewportId();
    return cs?.cornerstone.getEnabledElementByViewportId(id)?.viewport?.getImageIds?.().length > 0;
  }, undefined, { timeout: 60000 });
}
