/**
 * Whose main-thread tasks are long: the browser's own trace (Chromium's "devtools.timeline"
 * category, what DevTools' Performance panel records), each task attributed to the script of the
 * first function it calls. The Long Tasks API says how long a task was but not whose it was; when
 * the plugin writes into the viewer, the viewer's drawing that follows is OHIF's and
 * cornerstone's work, not the plugin's.
 */
import { spawn, ChildProcess } from 'child_process';
import type { Browser, Page } from 'playwright-core';

export interface Task {
  ms: number;
  /** The script whose function the task ran first ('' when it ran none: layout, paint, GC). */
  url: string;
  /** That function's name, where the script has one. */
  name: string;
}

interface TraceEvent {
  name: string;
  ph: string;
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: { name?: string; data?: { url?: string; functionName?: string } };
}

export async function startTrace(browser: Browser, page: Page): Promise<void> {
  await browser.startTracing(page, { categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline'] });
}

/** The renderer main thread's tasks of at least `minMs` since startTrace, each with its script. */
export async function stopTrace(browser: Browser, minMs = 50): Promise<Task[]> {
  const trace = JSON.parse((await browser.stopTracing()).toString('utf8')) as { traceEvents: TraceEvent[] };
  const events = trace.traceEvents;
  const main = events.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
  if (!main) throw new Error('the trace has no renderer main thread');
  const onMain = events.filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === 'X').sort((a, b) => a.ts - b.ts);
  const calls = onMain.filter((e) => e.name === 'FunctionCall' || e.name === 'EvaluateScript' || e.name === 'v8.evaluateModule');
  return onMain
    .filter((e) => e.name === 'RunTask' && (e.dur ?? 0) >= minMs * 1000)
    .map((task) => {
      const first = calls.find((c) => c.ts >= task.ts && c.ts < task.ts + (task.dur ?? 0));
      return { ms: (task.dur ?? 0) / 1000, url: first?.args?.data?.url ?? '', name: first?.args?.data?.functionName ?? '' };
    });
}

/** A process that keeps one CPU core busy until stopped (the "CPU hog" of a loaded machine). */
export function cpuHog(): { stop: () => void } {
  const child: ChildProcess = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  return { stop: () => void child.kill('SIGKILL') };
}
