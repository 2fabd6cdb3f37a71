/**
 * The analysis Web Worker: loads the model once (checksums verified), then analyses VOI blocks
 * posted by the page, reporting progress and honouring cancellation between passes.
 */
import { setWasmPath } from '../engine/backend';
import { cachedUrlReader, loadModel } from '../engine/weights';
import { Analyzer } from '../pipeline/analyze';
import { blockSource } from '../pipeline/voi';
import type { FromWorker, ToWorker } from './protocol';

const scope = self as unknown as { onmessage: ((e: MessageEvent<ToWorker>) => void) | null; postMessage(m: FromWorker, transfer?: Transferable[]): void };
let analyzer: Analyzer | undefined;
const running = new Map<number, AbortController>();

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'init': {
      if (msg.wasmPath) setWasmPath(msg.wasmPath);
      analyzer?.dispose();
      analyzer = await Analyzer.create(await loadModel(cachedUrlReader(msg.weightsUrl)), msg.backend ?? 'auto');
      scope.postMessage({ id: msg.id, type: 'ready', backend: analyzer.backend.backend, reason: analyzer.backend.reason, card: analyzer.card });
      return;
    }
    case 'analyze': {
      if (!analyzer) throw new Error('The model is not loaded yet');
      const controller = new AbortController();
      running.set(msg.id, controller);
      try {
        const source = blockSource(msg.geometry, msg.blockMin, msg.blockMax, msg.block);
        const result = await analyzer.analyze(source, msg.center, {
          centerSpace: 'voxel',
          threshold: msg.threshold,
          signal: controller.signal,
          onProgress: (progress) => scope.postMessage({ id: msg.id, type: 'progress', progress }),
        });
        scope.postMessage({ id: msg.id, type: 'result', result }, [result.lesion.mask.buffer as ArrayBuffer]);
      } finally {
        running.delete(msg.id);
      }
      return;
    }
    case 'cancel':
      running.forEach((c) => c.abort());
      return;
  }
}

scope.onmessage = (event) => {
  const msg = event.data;
  handle(msg).catch((err: Error) => {
    if (err.name === 'AbortError') scope.postMessage({ id: msg.id, type: 'cancelled' });
    else scope.postMessage({ id: msg.id, type: 'error', message: err.message });
  });
};
