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

/** Every OHIF notification (sonner toast) the page shows, as "type: text", kept after it fades. */
export async function recordNotifications(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = window as unknown as { __toasts: string[] };
    w.__toasts = [];
    const seen = new Set<string>();
    new MutationObserver(() => {
      document.querySelectorAll('[data-sonner-toast]').forEach((el) => {
        const entry = `${el.getAttribute('data-type')}: ${el.textContent}`;
        if (!seen.has(entry)) {
          seen.add(entry);
          w.__toasts.push(entry);
        }
      });
    }).observe(document, { childList: true, subtree: true, characterData: true });
  });
}

export async function notification(page: Page, type: 'error' | 'warning' | 'success' | 'info', pattern: RegExp, timeout = 30000): Promise<string> {
  try {
    const found = await page.waitForFunction(([t, source, flags]) => {
      const re = new RegExp(source, flags);
      return (window as unknown as { __toasts: string[] }).__toasts.find((e) => e.startsWith(`${t}: `) && re.test(e)) ?? false;
    }, [type, pattern.source, pattern.flags] as const, { timeout, polling: 100 });
    // Sonner fades a toast in: a moment later the screenshot shows it.
    await page.waitForTimeout(600);
    return (await found.jsonValue()) as string;
  } catch (err) {
    const shown = await page.evaluate(() => (window as unknown as { __toasts: string[] }).__toasts);
    throw new Error(`no ${type} notification matching ${pattern}; shown: ${JSON.stringify(shown)} (${(err as Error).message.split('\n')[0]})`);
  }
}

/** Shows a world point in the active view and clicks it with the "ABUS tumor" tool. */
export async function clickWithTool(page: Page, world: number[]): Promise<void> {
  const point = await showWorldPoint(page, world);
  await page.locator('[data-cy="abus-pick"]').click();
  await page.mouse.click(point.x, point.y);
}


/** The text cornerstone's annotation layer (SVG) draws in each viewport: labels, markers, overlays. */
export async function svgTextByViewport(page: Page, viewportIds: string[]): Promise<Record<string, string>> {
  return page.evaluate((ids) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const w = window as any;
    const cs = w.extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.common').exports.getCornerstoneLibraries();
    return Object.fromEntries(ids.map((id) => {
      const element: HTMLElement | undefined = cs.cornerstone.getEnabledElementByViewportId(id)?.viewport?.element;
      return [id, [...(element?.querySelectorAll('svg') ?? [])].map((s) => s.textContent ?? '').join(' ')];
    }));
  }, viewportIds);
}

/** svgTextByViewport once every view's text matches `pattern`, or after `timeoutMs` as it then is. */
export async function svgTextOnceShown(page: Page, viewportIds: string[], pattern: RegExp, timeoutMs = 10000): Promise<Record<string, string>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await svgTextByViewport(page, viewportIds);
    if (viewportIds.every((id) => pattern.test(text[id])) || Date.now() > deadline) return text;
    await page.waitForTimeout(200);
  }
}
