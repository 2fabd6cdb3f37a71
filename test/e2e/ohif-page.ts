/** Helpers for driving the real OHIF viewer in a page. */
import type { Page } from 'playwright-core';

/** Resolves once cornerstone has enabled the active viewport and given it its images. */
export async function waitForViewport(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const w = window as any;
    try {
      const cs = w.extensionManager?.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common')?.exports.getCornerstoneLibraries();
      const id = w.services?.viewportGridService.getActiveViewportId();
      return cs?.cornerstone.getEnabledElementByViewportId(id)?.viewport?.getImageIds?.().length > 0;
    } catch {
      return false; // the services are still being set up
    }
  }, undefined, { timeout: 60000 });
}

/**
 * Brings a world point into view in the active viewport (stack or volume) and returns where it is
 * on the page, for a real mouse click.
 */
export async function showWorldPoint(page: Page, world: number[]): Promise<{ x: number; y: number }> {
  return page.evaluate(async (point) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const w = window as any;
    const cs = w.extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common').exports.getCornerstoneLibraries();
    const viewport = cs.cornerstone.getEnabledElementByViewportId(w.services.viewportGridService.getActiveViewportId()).viewport;
    viewport.jumpToWorld(point);
    viewport.render();
    await new Promise((r) => setTimeout(r, 300));
    const [x, y] = viewport.worldToCanvas(point);
    const rect = viewport.element.getBoundingClientRect();
    return { x: rect.left + x, y: rect.top + y };
  }, world);
}
