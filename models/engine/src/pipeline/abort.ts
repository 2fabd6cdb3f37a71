/** Cancellation shared by the click analysis and the scan: an AbortSignal checked between steps. */
export class AbortError extends Error {
  constructor(message = 'Analysis cancelled') {
    super(message);
    this.name = 'AbortError';
  }
}

export function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted) throw new AbortError();
}

/**
 * Resolves in a later task, not a microtask: between slabs the page's event loop runs (input,
 * painting), so reading a window is many short tasks, never one long one.
 */
export function nextTask(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  if (typeof MessageChannel !== 'undefined') {
    const channel = new MessageChannel();
    return new Promise((resolve) => {
      channel.port1.onmessage = () => {
        channel.port1.close();
        resolve();
      };
      channel.port2.postMessage(null);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}
