/**
 * Ctrl-C (SIGINT) and SIGTERM while a command works (infer, detect): the work stops at its next
 * step and nothing is written; the command exits 130 (143 for SIGTERM), with {"error":"cancelled"}
 * on stdout under --json. Writing is synchronous and comes after the last check, so a signal can
 * never land half-way through it. A second signal stops at once (every file is written whole, so
 * that too leaves nothing half-written).
 */
export type CancelSignal = 'SIGINT' | 'SIGTERM';

const STATUS: Record<CancelSignal, number> = { SIGINT: 130, SIGTERM: 143 };

export class Cancelled extends Error {
  constructor(readonly signal: CancelSignal) {
    super('cancelled');
    this.name = 'Cancelled';
  }

  get status(): number {
    return STATUS[this.signal];
  }
}

/** What --json prints for a cancelled run. */
export const CANCELLED_JSON = JSON.stringify({ error: 'cancelled', code: 'cancelled' });

export interface Cancellation {
  /** Aborted on the first signal; pass it to the engine (scan, analyze). */
  signal: AbortSignal;
  /**
   * Lets a signal that came during synchronous work be handled, then throws Cancelled if one
   * came: await it after each stage, and last before writing.
   */
  checkpoint(): Promise<void>;
}

/**
 * Node handles a signal in the poll phase of its event loop; work that resolves in microtasks
 * only (the wasm and cpu backends) never gets there. Two setImmediate hops always pass one poll
 * phase, wherever in the loop they start.
 */
const pollPhase = async () => {
  for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** Runs `work` with SIGINT and SIGTERM turned into Cancelled (see the file's comment). */
export async function cancellable<T>(json: boolean, work: (c: Cancellation) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let received: CancelSignal | undefined;
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((name) => {
    const handler = () => {
      if (received) {
        if (json) console.log(CANCELLED_JSON);
        console.error(`abus-ai: cancelled (${name} again); nothing written`);
        process.exit(STATUS[received]);
      }
      received = name;
      console.error(`\nabus-ai: cancelling (${name}; again to stop at once)`);
      controller.abort();
    };
    process.on(name, handler);
    return [name, handler] as const;
  });
  const checkpoint = async () => {
    await pollPhase();
    if (received) throw new Cancelled(received);
  };
  try {
    return await work({ signal: controller.signal, checkpoint });
  } catch (err) {
    // Whatever the abort made the work throw (an AbortError, mostly) is the cancellation.
    if (received) throw new Cancelled(received);
    throw err;
  } finally {
    for (const [name, handler] of handlers) process.removeListener(name, handler);
  }
}
