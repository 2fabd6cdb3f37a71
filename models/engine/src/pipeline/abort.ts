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
