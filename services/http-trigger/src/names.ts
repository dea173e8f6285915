/**
 * Names derived from an HTTPTrigger, unique across namespaces. Gateways resolve some names in a
 * space wider than the namespace: Traefik's CRD provider IDs a Middleware as
 * `<namespace>-<name>@kubernetescrd` (so `team`/`a-x` and `team-a`/`x` would meet), Kong consumer
 * usernames and ACL groups are global. Every derived object name therefore carries a hash of what
 * identifies the trigger, and stays a DNS label (at most 63 characters) for any trigger and
 * namespace name. Pure.
 */
import { createHash } from 'node:crypto';

/** Hex digits of `<namespace>/<name>` in object names: 64 bits, so no one can grind a name that meets another tenant's. */
export const NAME_HASH_HEX = 16;
/** Hex digits of the uid in Kong identities (usernames and ACL groups). */
export const KONG_HASH_HEX = 20;
const MAX_LABEL = 63;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * `<readable>-<what>-<hash>`: `readable` is `trigger` lower-cased with every character outside
 * `[a-z0-9-]` replaced by `-` and cut so the whole is at most 63 characters; `hash` is the first
 * 16 hex digits of sha256(`hashed`). `what` (e.g. `auth`) must be a short DNS label.
 */
function derive(trigger: string, what: string, hashed: string): string {
  const hash = sha256(hashed).slice(0, NAME_HASH_HEX);
  const budget = MAX_LABEL - what.length - hash.length - 2;
  const readable = trigger
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, Math.max(0, budget))
    .replace(/^-+|-+$/g, '');
  return readable === '' ? `${what}-${hash}` : `${readable}-${what}-${hash}`;
}

/**
 * The name of a gateway object of a trigger (a Middleware, KongPlugin or KongConsumer):
 * `<trigger>-<what>-<hash of namespace/name>`, the same on every reconcile of the trigger.
 */
export function childName(namespace: string, trigger: string, what: string): string {
  return derive(trigger, what, `${namespace}/${trigger}`);
}

/**
 * The name of an object tied to one incarnation of the trigger (its Kong ACL credential Secret):
 * `<trigger>-<what>-<hash of the uid>`. A trigger deleted and made again gets a new name, so a
 * create-only object of the old one (garbage collected later) is never mistaken for its own.
 */
export function incarnationName(trigger: string, what: string, uid: string): string {
  return derive(trigger, what, `uid/${uid}`);
}

/**
 * `kubeless-<first 20 hex of sha256(uid)>`: the trigger's Kong consumer username and ACL group.
 * Other namespaces cannot read a trigger's uid, so they cannot name its group in a credential of
 * their own.
 */
export function kongIdentity(uid: string): string {
  return `kubeless-${sha256(uid).slice(0, KONG_HASH_HEX)}`;
}
