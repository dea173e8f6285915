import type { EndpointResolver, FunctionTarget, ObjectCache } from './resolver.js';
import type { KubeObject } from '@kubeless/controller';

/** How long a delivery to a function scaled to zero waits for its activation by default: 5 minutes. */
export const DEFAULT_ACTIVATION_TIMEOUT_MS = 5 * 60_000;

/**
 * A function that may be scaled to zero (its trigger autoscales it): before an attempt, the
 * delivery waits until `ready()` says the function can answer, so the wait for its first replica
 * is no failed attempt (no retry spent, nothing dead-lettered). After `timeoutMs` the attempt goes
 * out anyway and fails or succeeds as any other.
 */
export interface Activation {
  ready: () => boolean;
  timeoutMs: number;
  /** How often `ready` is asked while waiting; 200 ms. */
  pollMs?: number;
}

/** Resolves once `a.ready()` or after `a.timeoutMs`; rejects with the signal's reason when aborted. */
export async function awaitActivation(a: Activation, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + a.timeoutMs;
  while (!a.ready() && Date.now() < deadline) {
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(done, a.pollMs ?? 200);
      function done(): void {
        signal?.removeEventListener('abort', abort);
        resolve();
      }
      function abort(): void {
        clearTimeout(timer);
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      }
      signal?.addEventListener('abort', abort, { once: true });
    });
  }
  signal?.throwIfAborted();
}

interface FunctionWithStatus extends KubeObject {
  status?: { readyReplicas?: number };
}

/**
 * Ready for an activated function: its Function reports a ready replica and the resolver has
 * somewhere to send (a ready endpoint, in endpointslice mode; the Service, in service mode).
 */
export function functionReady(functions: ObjectCache<FunctionWithStatus>, resolver: EndpointResolver, target: FunctionTarget): () => boolean {
  return () => {
    if ((functions.get(target.namespace, target.name)?.status?.readyReplicas ?? 0) < 1) return false;
    try {
      resolver.resolve(target);
      return true;
    } catch {
      return false;
    }
  };
}
