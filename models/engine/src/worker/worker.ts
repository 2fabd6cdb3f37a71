/**
 * The analysis Web Worker: loads the model once (checksums verified), then analyses VOI blocks
 * posted by the page (a click, or one window of a scan), reporting progress and honouring
 * cancellation between passes.
 * When the GPU device under webgpu is lost, the analysis in flight fails with a clear error, the
 * worker restarts on a new device or the next backend from the model bytes it kept, and posts
 * 'backend-changed'.
 */
import { activeWebGPUDevice, BackendChoice, BackendName, chooseBackend, dropWebGPU, GpuDeviceLike, kernelNote, WebGPUFactory } from '../engine/backend';
import { cachedUrlReader, FileReader, loadModel } from '../engine/weights';
import { loadInThread } from '../load';
import { Analyzer, EngineSettings } from '../pipeline/analyze';
import type { FromWorker, ToWorker } from './protocol';

const scope = self as unknown as { onmessage: ((e: MessageEvent<ToWorker>) => void) | null; postMessage(m: FromWorker, transfer?: Transferable[]): void };
/** How long a restart waits for stopped analyses to dispose of their tensors on the old backend. */
const SETTLE_MS = 5000;
/** A lost device can fail a buffer read before its `lost` promise settles; this covers the gap. */
const LOSS_GRACE_MS = 250;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function keeping(read: FileReader, files: Map<string, Uint8Array>): FileReader {
  return async (path, sha256) => {
    const bytes = await read(path, sha256);
    files.set(path, bytes);
    return bytes;
  };
}

function fromMemory(files: Map<string, Uint8Array>): FileReader {
  return async (path) => {
    const bytes = files.get(path);
    if (!bytes) throw new Error(`${path} was not kept from the first model load`);
    return bytes;
  };
}

function lossText(info: { reason: string; message: string }): string {
  return info.message ? `${info.reason}: ${info.message}` : info.reason;
}

function gpuLostError(info: { reason: string; message: string }): Error {
  return new Error(`The GPU was lost (${lossText(info)}); this analysis was stopped. The engine restarts by itself on a new GPU device or a slower backend: run the analysis again.`);
}

/**
 * The worker's one engine and what it keeps between messages: the model bytes for a restart, the
 * device it watches, a restart in progress, and the analyses running (for cancel).
 */
class WorkerHost {
  analyzer: Analyzer | undefined;
  preference: BackendName | 'auto' = 'auto';
  /** As at init (wasm binaries, threads, kernels): a restart starts the next backend the same way. */
  settings: EngineSettings = {};
  /** The model files as read at init, so a restart after a GPU loss downloads nothing. */
  modelFiles = new Map<string, Uint8Array>();
  /** The device the analyzer runs on; the loss of a device no longer in use is ignored. */
  watched: GpuDeviceLike | undefined;
  restarting: Promise<void> | undefined;
  /** Set when a restart found no backend: why analyses cannot run. */
  broken: string | undefined;
  /** webgpu's factory once a lost device's backend was dropped, to try webgpu again on a new device. */
  webgpuFactory: WebGPUFactory | undefined;
  readonly running = new Map<number, { controller: AbortController; settled: Promise<unknown> }>();

  watchDevice(): void {
    const device = activeWebGPUDevice();
    if (device === this.watched) return;
    this.watched = device;
    void device?.lost.then((info) => {
      if (this.watched !== device) return;
      this.watched = undefined;
      // A new device can be lost before this restart has settled; only the latest restart counts.
      const done: Promise<void> = this.restart(lossText(info)).finally(() => {
        if (this.restarting === done) this.restarting = undefined;
      });
      this.restarting = done;
    });
  }

  /** The analysis's result, or the GPU-lost error when its device is lost first or made it fail. */
  async unlessLost<T>(run: Promise<T>, device: GpuDeviceLike, signal: AbortSignal): Promise<T> {
    const lost = device.lost.then((info): never => {
      throw gpuLostError(info);
    });
    try {
      return await Promise.race([run, lost]);
    } catch (err) {
      // A cancel by the user while the device is fine needs no wait. Any other error is checked,
      // since a buffer read on a lost device fails with an AbortError of its own.
      if (signal.aborted && this.watched === device) throw err;
      // An AbortError nobody asked for is a read on a destroyed device; its `lost` promise can
      // settle much later on a busy machine, and "cancelled" would tell the user something false.
      const unasked = (err as Error).name === 'AbortError' && !signal.aborted;
      const info = await Promise.race([device.lost, delay(unasked ? SETTLE_MS : LOSS_GRACE_MS).then(() => undefined)]);
      throw info ? gpuLostError(info) : err;
    }
  }

  async restart(lost: string): Promise<void> {
    const stopped = [...this.running.values()];
    stopped.forEach((r) => r.controller.abort());
    // Their tensors live on the old backend, which must outlive them.
    await Promise.race([Promise.all(stopped.map((r) => r.settled)), delay(SETTLE_MS)]);
    try {
      this.analyzer?.dispose();
    } catch {
      // Its device is gone; the memory goes with the backend.
    }
    this.analyzer = undefined;

    const skipped: BackendChoice['skipped'] = [];
    const settings = this.settings;
    try {
      this.webgpuFactory = dropWebGPU() ?? this.webgpuFactory;
    } catch (err) {
      skipped.push({ backend: 'webgpu', why: `the lost backend could not be removed (${(err as Error).message})` });
    }
    let chosen: BackendName;
    let reason: string;
    let tried: string;
    try {
      // A software adapter is only acceptable where the user forced webgpu, as at init.
      const choice = await chooseBackend('auto', { ...settings, webgpuFactory: this.webgpuFactory, skipped, acceptSoftware: this.preference === 'webgpu' ? ['webgpu'] : [] });
      chosen = choice.backend;
      tried = choice.skipped.map((s) => `${s.backend}: ${s.why}`).join('; ');
      reason = chosen === 'webgpu' ? `webgpu, on a new GPU device after the GPU was lost (${lost})` : `${chosen}, because the GPU was lost (${lost}) and ${tried}${kernelNote(chosen, settings.simdConv)}`;
      const next = await Analyzer.create(await loadModel(fromMemory(this.modelFiles)), choice, settings);
      // Results carry this reason, so the panel can tell why an analysis ran where it did.
      next.backend.reason = reason;
      this.analyzer = next;
      this.broken = undefined;
      this.watchDevice();
    } catch (err) {
      this.broken = `The GPU was lost (${lost}) and the engine could not restart: ${(err as Error).message}`;
      scope.postMessage({ type: 'backend-changed', backend: null, reason: this.broken, lost, message: `${this.broken}. Reload the page to try again.` });
      return;
    }
    const message = chosen === 'webgpu'
      ? `The GPU was lost (${lost}); the engine restarted on a new WebGPU device.`
      : `The GPU was lost (${lost}); now running on ${chosen} (${tried}). Analyses will be slower.`;
    scope.postMessage({ type: 'backend-changed', backend: chosen, reason, lost, message });
  }

  async handle(msg: ToWorker): Promise<void> {
    switch (msg.type) {
      case 'init': {
        await this.restarting;
        this.analyzer?.dispose();
        this.analyzer = undefined;
        const files = new Map<string, Uint8Array>();
        this.analyzer = await loadInThread({ weights: keeping(cachedUrlReader(msg.weightsUrl), files), backend: msg.backend, wasmPath: msg.wasmPath, warmUp: msg.warmUp, wasmThreads: msg.wasmThreads, simdConv: msg.simdConv });
        this.modelFiles = files;
        this.preference = msg.backend;
        this.settings = this.analyzer.settings;
        this.broken = undefined;
        this.watchDevice();
        scope.postMessage({ id: msg.id, type: 'ready', backend: this.analyzer.backend.backend, reason: this.analyzer.backend.reason, card: this.analyzer.card });
        return;
      }
      case 'warm-up': {
        await this.restarting;
        if (!this.analyzer) throw new Error(this.broken ?? 'The model is not loaded yet');
        scope.postMessage({ id: msg.id, type: 'warmed-up', ms: await this.analyzer.warmUp() });
        return;
      }
      case 'analyze':
      case 'window': {
        await this.restarting;
        if (!this.analyzer) throw new Error(this.broken ?? 'The model is not loaded yet');
        const controller = new AbortController();
        const device = this.watched;
        const run: Promise<FromWorker> = msg.type === 'analyze'
          ? this.analyzer.run(msg.plan, msg.geometry, { values: msg.values, inside: msg.inside }, {
              flips: msg.flips,
              readMs: msg.readMs,
              look: msg.look,
              reusePlain: msg.reusePlain,
              signal: controller.signal,
              onProgress: (progress) => scope.postMessage({ id: msg.id, type: 'progress', progress }),
            }).then((result) => ({ id: msg.id, type: 'result', result }))
          : this.analyzer.windowProbability(msg.plan, { values: msg.values, inside: msg.inside }, { iterations: msg.iterations, signal: controller.signal })
            .then((probability) => ({ id: msg.id, type: 'window-result', probability }));
        this.running.set(msg.id, { controller, settled: run.catch(() => undefined) });
        try {
          const reply = await (device ? this.unlessLost(run, device, controller.signal) : run);
          const buffer = reply.type === 'result' ? reply.result.lesion.mask.buffer : reply.type === 'window-result' ? reply.probability.buffer : undefined;
          scope.postMessage(reply, buffer ? [buffer as ArrayBuffer] : []);
        } finally {
          this.running.delete(msg.id);
        }
        return;
      }
      case 'cancel':
        this.running.forEach((r) => r.controller.abort());
        return;
    }
  }
}

const host = new WorkerHost();

scope.onmessage = (event) => {
  const msg = event.data;
  host.handle(msg).catch((err: Error) => {
    if (err.name === 'AbortError') scope.postMessage({ id: msg.id, type: 'cancelled' });
    else scope.postMessage({ id: msg.id, type: 'error', message: err.message });
  });
};
