/**
 * The SIMD convolution on several threads, where tfjs-wasm runs its threaded build (a cross-origin
 * isolated page: its memory is a shared WebAssembly.Memory). Helper workers instantiate the same
 * module on the same memory; each call splits the output planes into slabs, the calling thread
 * computes the first and waits (Atomics.wait) for the helpers' slabs. Only inside a worker (a
 * page's main thread may not block), only with more than one thread wanted.
 */

/** Int32 slots per helper: go (call number), done (call number), ready, then the 12 kernel arguments. */
const SLOT = 16;
const GO = 0;
const DONE = 1;
const READY = 2;
const ARGS = 3;

/** The helper, as a script: a worker that waits for calls and runs conv3x3_planes on its slab. */
const HELPER = `onmessage = (e) => {
  const { module, memory, control, base } = e.data;
  const kernel = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const c = new Int32Array(control);
  Atomics.store(c, base + ${READY}, 1);
  postMessage('ready');
  let seen = 0;
  for (;;) {
    Atomics.wait(c, base + ${GO}, seen);
    seen = Atomics.load(c, base + ${GO});
    const a = c.subarray(base + ${ARGS}, base + ${ARGS} + 12);
    kernel.conv3x3_planes(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11]);
    Atomics.store(c, base + ${DONE}, seen);
    Atomics.notify(c, base + ${DONE});
  }
};`;

export interface PlaneKernel {
  conv3x3_planes(input: number, weights: number, bias: number, out: number, d: number, h: number, w: number, cin: number, cout: number, relu: number, z0: number, z1: number): void;
}

/** How long `started` waits for the helpers. */
const START_WAIT_MS = 3000;

/** Below this many multiply-adds a call stays on one thread: waking a helper costs tens of microseconds. */
const MIN_SPLIT_MACS = 4e6;

function inWorker(): boolean {
  return typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined' && typeof Worker !== 'undefined';
}

export class ConvThreads {
  private readonly control: Int32Array;
  private call = 0;

  private constructor(private readonly helpers: Worker[]) {
    this.control = new Int32Array(new SharedArrayBuffer(4 * SLOT * helpers.length));
  }

  /** `threads` in all, counting the caller; undefined where helpers cannot run (see the module comment). */
  static start(module: WebAssembly.Module, memory: WebAssembly.Memory, threads: number): ConvThreads | undefined {
    if (threads < 2 || !inWorker()) return undefined;
    const url = URL.createObjectURL(new Blob([HELPER], { type: 'text/javascript' }));
    const pool = new ConvThreads(Array.from({ length: threads - 1 }, () => new Worker(url)));
    // A worker starts only once this thread returns to its event loop: `started` says when.
    const each = pool.helpers.map((h, i) => new Promise<void>((resolve) => {
      h.onmessage = () => resolve();
      h.postMessage({ module, memory, control: pool.control.buffer, base: i * SLOT });
    }));
    pool.started = Promise.race([Promise.all(each).then(() => undefined), new Promise<void>((resolve) => setTimeout(resolve, START_WAIT_MS))]);
    return pool;
  }

  /** Resolves when every helper has started, or after START_WAIT_MS (a late one joins when it starts). */
  started: Promise<void> = Promise.resolve();

  /** Helpers that have started (the first calls after start may find none yet and run alone). */
  get ready(): number {
    return this.helpers.filter((_, i) => Atomics.load(this.control, i * SLOT + READY) === 1).length;
  }

  run(kernel: PlaneKernel, args: [number, number, number, number, number, number, number, number, number, number]): void {
    const [, , , , d, h, w, cin, cout] = args;
    const ready = this.helpers.map((_, i) => i * SLOT).filter((base) => Atomics.load(this.control, base + READY) === 1);
    const parts = d * h * w * cin * cout * 27 < MIN_SPLIT_MACS ? 1 : Math.min(d, ready.length + 1);
    const step = Math.ceil(d / parts);
    const call = ++this.call;
    const started: number[] = [];
    for (let z = step, k = 0; z < d && k < ready.length; z += step, k++) {
      const base = ready[k];
      this.control.set([...args, z, Math.min(d, z + step)], base + ARGS);
      Atomics.store(this.control, base + GO, call);
      Atomics.notify(this.control, base + GO);
      started.push(base);
    }
    kernel.conv3x3_planes(...args, 0, Math.min(step, d));
    for (const base of started) {
      for (let done = Atomics.load(this.control, base + DONE); done !== call; done = Atomics.load(this.control, base + DONE)) Atomics.wait(this.control, base + DONE, done);
    }
  }
}
