/**
 * Which of a trigger's own annotations may reach its Ingress (docs/tenancy.md#http-routes: ingress
 * annotations pass an allow-list). The controller's ServiceAccount writes the Ingress, so an
 * annotation copied from the trigger acts with the controller's authority: a snippet runs
 * configuration in the ingress controller, an `auth-secret: other-ns/secret` borrows another
 * namespace's credentials. Pure.
 *
 * A key is refused when it is one the controller generates (whatever the trigger's spec; the
 * operator cannot lift this), when it matches a `deny` pattern (default every `*-snippet` and
 * `*snippets` key), or when `allow` is not empty and it matches no `allow` pattern. Patterns are
 * whole keys with `*` matching any run of characters, compared case-insensitively.
 */

/** Keys the controller writes itself (for any gateway): never taken from a trigger. */
export const GENERATED_ANNOTATIONS: readonly string[] = [
  'nginx.ingress.kubernetes.io/use-regex',
  'nginx.ingress.kubernetes.io/rewrite-target',
  'nginx.ingress.kubernetes.io/auth-type',
  'nginx.ingress.kubernetes.io/auth-secret',
  'nginx.ingress.kubernetes.io/auth-secret-type',
  'nginx.ingress.kubernetes.io/auth-realm',
  'nginx.ingress.kubernetes.io/enable-cors',
  'nginx.ingress.kubernetes.io/cors-*',
  'nginx.ingress.kubernetes.io/ssl-redirect',
  'traefik.ingress.kubernetes.io/router.middlewares',
  'traefik.ingress.kubernetes.io/router.tls',
  'konghq.com/plugins',
  'konghq.com/strip-path',
  'konghq.com/protocols',
  'kubernetes.io/ingress.class',
  'kubernetes.io/tls-acme',
  'cert-manager.io/*',
];

/** The default deny list: every configuration snippet (ingress-nginx `*-snippet`, `*snippets`). */
export const DEFAULT_ANNOTATION_DENY: readonly string[] = ['*-snippet', '*snippets'];

/** Trigger annotations that are client bookkeeping: neither copied nor checked. */
export const NOT_COPIED_PREFIX = 'kubectl.kubernetes.io/';

export interface AnnotationPolicy {
  /** Key patterns a trigger annotation must match; empty: any key not denied. */
  allow: readonly string[];
  /** Key patterns refused even when allowed. */
  deny: readonly string[];
}

export const DEFAULT_ANNOTATION_POLICY: AnnotationPolicy = { allow: [], deny: DEFAULT_ANNOTATION_DENY };

/**
 * The policy from the operator's lists (env `ANNOTATIONS_ALLOW`, `ANNOTATIONS_DENY`): blanks are
 * dropped, and a deny list of just `-` denies nothing beyond the generated keys (an empty
 * environment variable means "unset", i.e. the default).
 */
export function annotationPolicy(allow: readonly string[], deny: readonly string[]): AnnotationPolicy {
  const clean = (l: readonly string[]): string[] => l.map((p) => p.trim()).filter((p) => p !== '' && p !== '-');
  return { allow: clean(allow), deny: clean(deny) };
}

function globMatch(pattern: string, key: string): boolean {
  const re = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${re}$`, 'i').test(key);
}

/** Why one key is refused, or undefined when it may be copied. */
export function annotationRefusal(key: string, policy: AnnotationPolicy): string | undefined {
  const generated = GENERATED_ANNOTATIONS.find((p) => globMatch(p, key));
  if (generated) return `${key} is set by kubeless from the trigger's spec`;
  const denied = policy.deny.find((p) => globMatch(p, key));
  if (denied) return `${key} is denied by the operator (pattern ${denied})`;
  if (policy.allow.length > 0 && !policy.allow.some((p) => globMatch(p, key))) return `${key} is not in the operator's allow-list`;
  return undefined;
}

/**
 * The trigger annotations to copy onto the Ingress, or the refusals (one sentence per refused
 * key, keys in order) when any key is refused: a trigger is served with all its annotations or
 * not at all.
 */
export function filterAnnotations(annotations: Record<string, string> | undefined, policy: AnnotationPolicy): { copied: Record<string, string>; refused: string[] } {
  const copied: Record<string, string> = {};
  const refused: string[] = [];
  for (const key of Object.keys(annotations ?? {}).sort()) {
    if (key.startsWith(NOT_COPIED_PREFIX)) continue;
    const why = annotationRefusal(key, policy);
    if (why) refused.push(why);
    else copied[key] = annotations?.[key] ?? '';
  }
  return { copied, refused };
}
