/**
 * Adopt-or-conflict server-side apply of a controller's children: an object of the child's name
 * that the owner does not own is never touched and reported instead, and an object the API server
 * refuses to accept is reported, not retried. The one copy of that policy for every controller.
 */
import { ApiError, isInvalid, isNotFound } from './errors.js';
import type { KubeClient, KubeObject } from './kube-client.js';
import { isOwnedBy } from './owner.js';
import { objectPath, resourceFor, type ResourceType } from './resources.js';

export interface ApplyOwnedOptions {
  /** The controller's SSA field manager; the apply forces its fields. */
  fieldManager: string;
  /** How the messages name the owner: `a ConfigMap ... was not created by kubeless for this <ownerNoun>`. */
  ownerNoun: string;
  /**
   * Where the child is looked up first (the controller's, usually label-filtered, cache of its
   * kind). A miss, or no cache, costs one GET: a foreign object of that name may still exist.
   */
  cache?: { get(namespace: string | undefined, name: string): KubeObject | undefined };
  /**
   * An annotation holding a hash of the desired object: when the existing (owned) object carries
   * the same value, nothing is written and the outcome is `unchanged`. Without it every call applies.
   */
  hashAnnotation?: string;
  signal?: AbortSignal;
}

/** What `applyOwned` did; `conflict` and `invalid` come with a condition reason (`<Kind>Conflict`, `<Kind>Invalid`) and message. */
export type ApplyOutcome = { result: 'applied' | 'unchanged' } | { result: 'conflict' | 'invalid'; reason: string; message: string };

/**
 * Server-side applies `desired` (a whole child with its owner reference) unless an object of its
 * name exists that `owner` does not own (`conflict`, left untouched) or the owned one already
 * carries the desired hash (`unchanged`). `invalid` when the API server rejects the object (422,
 * 400, or SSA's 500 "failed to create typed patch object" that a wrongly typed field gets): as
 * deterministic as the 422, so retrying it cannot help. Every other error is thrown as it came,
 * among them a 404 from the apply (the kind is not served) and a 403 from the look-up or the apply.
 */
export async function applyOwned(client: KubeClient, owner: KubeObject, desired: KubeObject, options: ApplyOwnedOptions): Promise<ApplyOutcome> {
  const ns = desired.metadata?.namespace;
  const name = desired.metadata?.name ?? '';
  const kind = desired.kind ?? '';
  const path = objectPath(resourceFor(desired.apiVersion ?? '', kind), ns, name);
  let existing = options.cache?.get(ns, name);
  if (!existing) {
    try {
      existing = await client.get(path, options.signal);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  if (existing && !isOwnedBy(existing, owner)) {
    return {
      result: 'conflict',
      reason: `${kind}Conflict`,
      message: `a ${kind} named "${name}" already exists and was not created by kubeless for this ${options.ownerNoun}; it is left untouched`,
    };
  }
  const key = options.hashAnnotation;
  const want = key === undefined ? undefined : desired.metadata?.annotations?.[key];
  if (want !== undefined && key !== undefined && existing?.metadata?.annotations?.[key] === want) return { result: 'unchanged' };
  try {
    await client.apply(path, desired, options.fieldManager, { force: true, signal: options.signal });
  } catch (err) {
    if (isRejected(err)) return { result: 'invalid', ...rejected(kind, err) };
    throw err;
  }
  return { result: 'applied' };
}

/**
 * True when the API server refused the object itself, so the same request can never succeed: a
 * 422 or 400, or the 500 "failed to create typed patch object" with which server-side apply
 * answers a field of the wrong type in a user's template (upstream behaviour).
 */
export function isRejected(err: unknown): boolean {
  return isInvalid(err) || (err instanceof ApiError && err.status === 500 && err.message.includes('failed to create typed patch object'));
}

/** The condition reason and message of an object of `kind` the API server rejected. */
export function rejected(kind: string, err: unknown): { reason: string; message: string } {
  return { reason: `${kind}Invalid`, message: `the API server rejected the ${kind}: ${err instanceof ApiError ? err.message : String(err)}` };
}

/**
 * Deletes `obj` (of resource `r`) if `owner` owns it; an object already gone counts as deleted.
 * Returns whether it was the owner's (and so is gone). Anything else the API server answers is thrown.
 */
export async function deleteIfOwned(client: KubeClient, owner: KubeObject, r: ResourceType, obj: KubeObject | undefined, options: { signal?: AbortSignal } = {}): Promise<boolean> {
  if (!obj || !isOwnedBy(obj, owner)) return false;
  try {
    await client.delete(objectPath(r, obj.metadata?.namespace, obj.metadata?.name ?? ''), { signal: options.signal });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  return true;
}
