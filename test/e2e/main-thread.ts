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
  /** What the task spent its time on: its outermost trace events, longest first ("FunctionCall t.onmessage 120 ms, MajorGC 40 ms"). */
  parts: string;
  /** The functions V8's sampler most often found running in it (self time), "name script:line:column ms" (minified scripts: map with their source map). */
  hot: string;
}

/** V8's CPU samples on one thread: when each was taken (trace µs) and the function it found running. */
function cpuSamples(events: TraceEvent[], pid: number, tid: number): { ts: number; frame: string }[] {
  const profile = events.find((e) => e.name === 'Profile' && e.pid === pid && e.tid === tid);
  if (!profile) return [];
  const frames = new Map<number, string>();
  const out: { ts: number; frame: string }[] = [];
  let ts = profile.args?.data?.startTime ?? profile.ts;
  for (const chunk of events.filter((e) => e.name === 'ProfileChunk' && e.id === profile.id)) {
    const data = chunk.args?.data;
    for (const node of data?.cpuProfile?.nodes ?? []) {
      const f = node.callFrame;
      frames.set(node.id, `${f.functionName || '(anonymous)'} ${(f.url ?? '').split('/').pop()}:${(f.lineNumber ?? 0) + 1}:${(f.columnNumber ?? 0) + 1}`);
    }
    (data?.cpuProfile?.samples ?? []).forEach((id, i) => {
      ts += data?.timeDeltas?.[i] ?? 0;
      out.push({ ts, frame: frames.get(id) ?? '?' });
    });
  }
  return out;
}

interface TraceEvent {
  name: string;
  ph: string;
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  id?: string;
  args?: { name?: string; data?: { url?: string; functionName?: string; startTime?: number; cpuProfile?: CpuProfileChunk; timeDeltas?: number[] } };
}

interface CpuProfileChunk {
  nodes?: { id: number; parent?: number; callFrame: { functionName: string; url?: string; lineNumber?: number; columnNumber?: number } }[];
  samples?: number[];
}

export async function startTrace(browser: Browser, page: Page): Promise<void> {
  await browser.startTracing(page, { categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'disabled-by-default-v8.cpu_profiler'] });
}

/** The renderer main thread's tasks of at least `minMs` since startTrace, each with its script. */
export async function stopTrace(browser: Browser, minMs = 50): Promise<Task[]> {
  const trace = JSON.parse((await browser.stopTracing()).toString('utf8')) as { traceEvents: TraceEvent[] };
  const events = trace.traceEvents;
  const main = events.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain');
  if (!main) throw new Error('the trace has no renderer main thread');
  const onMain = events.filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === 'X').sort((a, b) => a.ts - b.ts);
  const samples = cpuSamples(events, main.pid, main.tid);
  const calls = onMain.filter((e) => e.name === 'FunctionCall' || e.name === 'EvaluateScript' || e.name === 'v8.evaluateModule');
  return onMain
    .filter((e) => e.name === 'RunTask' && (e.dur ?? 0) >= minMs * 1000)
    .map((task) => {
      const end = task.ts + (task.dur ?? 0);
      const first = calls.find((c) => c.ts >= task.ts && c.ts < end);
      const inside = onMain.filter((e) => e !== task && e.ts >= task.ts && e.ts < end);
      const outermost = inside.filter((e) => !inside.some((o) => o !== e && o.ts <= e.ts && o.ts + (o.dur ?? 0) >= e.ts + (e.dur ?? 0) && (o.dur ?? 0) > (e.dur ?? 0)));
      const parts = outermost.sort((a, b) => (b.dur ?? 0) - (a.dur ?? 0)).slice(0, 4)
        .map((e) => `${e.name}${e.args?.data?.functionName ? ` ${e.args.data.functionName}` : ''} ${((e.dur ?? 0) / 1000).toFixed(0)} ms`).join(', ');
      const self = new Map<string, number>();
      let last = task.ts;
      for (const sample of samples.filter((x) => x.ts >= task.ts && x.ts < end)) {
        self.set(sample.frame, (self.get(sample.frame) ?? 0) + (sample.ts - last) / 1000);
        last = sample.ts;
      }
      const hot = [...self].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([f, ms]) => `${f} ${ms.toFixed(0)} ms`).join(', ');
      return { ms: (task.dur ?? 0) / 1000, url: first?.args?.data?.url ?? '', name: first?.args?.data?.functionName ?? '', parts, hot };
    });
}

/** A process that keeps one CPU core busy until stopped (the "CPU hog" of a loaded machine). */
export function cpuHog(): { stop: () => void } {
  const child: ChildProcess = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  return { stop: () => void child.kill('SIGKILL') };
}
