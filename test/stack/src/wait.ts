import { setTimeout as sleep } from 'node:timers/promises';

/** Thrown when a component is not ready by its deadline; carries the last probe error. */
export class NotReadyError extends Error {
  override readonly name = 'NotReadyError';
  readonly code = 'KUBELESS_STACK_NOT_READY';
  constructor(what: string, timeoutMs: number, override readonly cause?: unknown) {
    super(`${what} not ready after ${String(timeoutMs)} ms${cause instanceof Error ? `: ${cause.message}` : ''}`);
  }
}

/**
 * Polls `probe` until it returns a value other than undefined/false, or throws NotReadyError
 * after `timeoutMs`. A throwing probe counts as not ready yet. `alive` aborts early (e.g. the
 * process died) by returning an explanation.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  options: { timeoutMs: number; intervalMs?: number; alive?: () => string | undefined },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let last: unknown;
  for (;;) {
    const dead = options.alive?.();
    if (dead !== undefined) throw new NotReadyError(what, options.timeoutMs, new Error(dead));
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new NotReadyError(what, options.timeoutMs, last);
    await sleep(options.intervalMs ?? 250);
  }
}
