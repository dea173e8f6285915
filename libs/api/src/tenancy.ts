/**
 * The tenancy model (docs/tenancy.md; the chart's values in helm/kubeless/README.md "Tenancy"), as pure
 * checks every controller shares:
 *  - **Shared identity grants.** A trigger controller's own Kafka or AWS identity (its default
 *    brokers and credentials) serves only the namespaces the operator lists, and only for the
 *    topics and queues listed for each (`tenancy.sharedIdentity` in the chart, the env
 *    `SHARED_IDENTITY_GRANTS` of the kafka- and sqs-trigger). Every other namespace brings its
 *    own Secret. The default (no grant) refuses every namespace.
 *  - **A function's Service stays in its namespace**: not ExternalName, no externalIPs, a selector
 *    that picks the function's own pods, and no EndpointSlice but the endpointslice controller's
 *    with endpoints that are Pods of the namespace. Triggers and the http-trigger refuse to route
 *    to one that does not; the function controller refuses to plan one.
 */

/** Why a tenancy rule refused something: a CamelCase `reason` for a status condition and a sentence. */
export interface TenancyProblem {
  reason: string;
  message: string;
}

/** One grant of the controller's shared identity to a namespace (all patterns full-match regexes). */
export interface IdentityGrant {
  /** A namespace name, or `*` for every namespace. */
  namespace: string;
  /** Kafka: topics a KafkaTrigger may consume. */
  topics?: string[];
  /** Kafka: topics a KafkaTrigger may dead-letter into. */
  deadLetterTopics?: string[];
  /** SQS: queues an SQSTrigger may receive from (and delete from): URLs, or ARNs when the pattern starts with `arn:`. */
  queues?: string[];
  /** SQS: queues an SQSTrigger may dead-letter into (URLs or ARNs as `queues`). */
  deadLetterQueues?: string[];
}

const PATTERN_KEYS = ['topics', 'deadLetterTopics', 'queues', 'deadLetterQueues'] as const;
type PatternKey = (typeof PATTERN_KEYS)[number];

/** Grants parsed once, with their regexes compiled. */
export interface IdentityGrants {
  readonly grants: readonly IdentityGrant[];
  /** The patterns of a namespace for one key (the union of its entries and of `*`), compiled; undefined when no entry names the namespace. */
  patterns(namespace: string, key: PatternKey): GrantPattern[] | undefined;
}

/** One pattern of a grant, as written and compiled. */
export interface GrantPattern {
  source: string;
  re: RegExp;
}

/** A pattern as a full-match regex: `orders` is exactly `orders`, `team-a\..*` a prefix. */
function fullMatch(p: string): RegExp {
  return new RegExp(`^(?:${p})$`, 'u');
}

/**
 * Parses grants from their JSON form (the env value the chart renders): an array of
 * `IdentityGrant`. Throws a TypeError listing every bad entry (a namespace missing, a pattern
 * that is not a regex); an empty string means no grant.
 */
export function parseIdentityGrants(json: string | undefined): IdentityGrants {
  const raw: unknown = json === undefined || json.trim() === '' ? [] : JSON.parse(json);
  if (!Array.isArray(raw)) throw new TypeError('shared identity grants must be a JSON array of {namespace, topics, deadLetterTopics, queues, deadLetterQueues}');
  const problems: string[] = [];
  const grants: IdentityGrant[] = [];
  const compiled: { namespace: string; key: PatternKey; pattern: GrantPattern }[] = [];
  raw.forEach((entry: unknown, i) => {
    if (typeof entry !== 'object' || entry === null) {
      problems.push(`entry ${String(i)} is not an object`);
      return;
    }
    const e = entry as Record<string, unknown>;
    if (typeof e.namespace !== 'string' || e.namespace === '') {
      problems.push(`entry ${String(i)} has no namespace`);
      return;
    }
    const g: IdentityGrant = { namespace: e.namespace };
    for (const key of PATTERN_KEYS) {
      const v = e[key];
      if (v === undefined || v === null) continue;
      if (!Array.isArray(v) || v.some((p) => typeof p !== 'string')) {
        problems.push(`entry ${String(i)} (${e.namespace}): ${key} must be a list of strings`);
        continue;
      }
      const list = v as string[];
      for (const p of list) {
        try {
          compiled.push({ namespace: e.namespace, key, pattern: { source: p, re: fullMatch(p) } });
        } catch {
          problems.push(`entry ${String(i)} (${e.namespace}): ${key} pattern ${JSON.stringify(p)} is not a regular expression`);
        }
      }
      g[key] = [...list];
    }
    for (const k of Object.keys(e)) if (k !== 'namespace' && !(PATTERN_KEYS as readonly string[]).includes(k)) problems.push(`entry ${String(i)} (${e.namespace}): unknown key ${k}`);
    grants.push(g);
  });
  if (problems.length > 0) throw new TypeError(`invalid shared identity grants: ${problems.join('; ')}`);
  return {
    grants,
    patterns(namespace, key) {
      const entries = grants.filter((g) => g.namespace === namespace || g.namespace === '*');
      if (entries.length === 0) return undefined;
      return compiled.filter((c) => c.key === key && (c.namespace === namespace || c.namespace === '*')).map((c) => c.pattern);
    },
  };
}

const NOT_GRANTED = 'SharedIdentityNotGranted';

function notGranted(namespace: string, what: string, secretField: string): TenancyProblem {
  return {
    reason: NOT_GRANTED,
    message: `namespace ${namespace} may not use the controller's own ${what}: name a Secret of this namespace in ${secretField}, or ask the operator to grant the namespace in tenancy.sharedIdentity`,
  };
}

/**
 * Whether a KafkaTrigger of `namespace` may use the controller's default brokers and credentials
 * for `topics` and `deadLetter`. undefined: allowed.
 */
export function kafkaSharedIdentityProblem(grants: IdentityGrants, namespace: string, topics: readonly string[], deadLetter: string | undefined): TenancyProblem | undefined {
  const consume = grants.patterns(namespace, 'topics');
  if (!consume) return notGranted(namespace, 'Kafka identity', 'spec.authSecret (with spec.brokers)');
  const refused = topics.filter((t) => !consume.some((p) => p.re.test(t)));
  if (refused.length > 0) {
    return { reason: 'TopicNotGranted', message: `namespace ${namespace} may not consume topic(s) ${refused.join(', ')} with the controller's identity (tenancy.sharedIdentity grants it: ${patternList(grants, namespace, 'topics')})` };
  }
  if (deadLetter) {
    const produce = grants.patterns(namespace, 'deadLetterTopics') ?? [];
    if (!produce.some((p) => p.re.test(deadLetter))) {
      return { reason: 'DeadLetterTopicNotGranted', message: `namespace ${namespace} may not dead-letter into topic ${deadLetter} with the controller's identity (tenancy.sharedIdentity grants it: ${patternList(grants, namespace, 'deadLetterTopics')})` };
    }
  }
  return undefined;
}

/** The queue an SQSTrigger names, as the grants match it. */
export interface QueueIdentity {
  url: string;
  /** `arn:aws:sqs:<region>:<account>:<name>`, when the URL says the account. */
  arn?: string | undefined;
}

/** The ARN of a queue URL (`<scheme>://<host>/<account>/<name>`) in `region`; undefined when the path is not `/<account>/<name>`. */
export function queueArn(url: string, region: string): string | undefined {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return undefined;
  }
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.length !== 2) return undefined;
  const [account, name] = parts as [string, string];
  return `arn:aws:sqs:${region}:${account}:${name}`;
}

function queueMatches(patterns: readonly GrantPattern[], q: QueueIdentity): boolean {
  return patterns.some((p) => (p.source.startsWith('arn:') ? q.arn !== undefined && p.re.test(q.arn) : p.re.test(q.url)));
}

/**
 * Whether an SQSTrigger of `namespace` may use the controller's default AWS identity on `queue`
 * (receive, delete, change visibility) and send dead letters to `deadLetter`; either may be left
 * out to check the other alone. undefined: allowed.
 */
export function sqsSharedIdentityProblem(grants: IdentityGrants, namespace: string, queue: QueueIdentity | undefined, deadLetter: QueueIdentity | undefined): TenancyProblem | undefined {
  const receive = grants.patterns(namespace, 'queues');
  if (!receive) return notGranted(namespace, 'AWS identity', 'spec.credentialsSecret');
  if (queue && !queueMatches(receive, queue)) {
    return { reason: 'QueueNotGranted', message: `namespace ${namespace} may not use queue ${queue.url} with the controller's identity (tenancy.sharedIdentity grants it: ${patternList(grants, namespace, 'queues')})` };
  }
  if (deadLetter) {
    const send = grants.patterns(namespace, 'deadLetterQueues') ?? [];
    if (!queueMatches(send, deadLetter)) {
      return { reason: 'DeadLetterQueueNotGranted', message: `namespace ${namespace} may not dead-letter into queue ${deadLetter.url} with the controller's identity (tenancy.sharedIdentity grants it: ${patternList(grants, namespace, 'deadLetterQueues')})` };
    }
  }
  return undefined;
}

function patternList(grants: IdentityGrants, namespace: string, key: PatternKey): string {
  const list = grants.patterns(namespace, key) ?? [];
  return list.length === 0 ? 'none' : list.map((p) => p.source).join(', ');
}

// ---------------------------------------------------------------- function Services

/** The parts of a Service the checks read. */
export interface ServiceLike {
  metadata?: { name?: string; namespace?: string } | undefined;
  spec?: { type?: string; externalName?: string; externalIPs?: string[] | null; selector?: Record<string, string> | null } | undefined;
}

/** The parts of an EndpointSlice the checks read. */
export interface EndpointSliceLike {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> } | undefined;
  endpoints?: { targetRef?: { kind?: string; namespace?: string } | null }[] | null;
}

/** The label the endpointslice controller puts on the slices it manages, and its value. */
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const ENDPOINTSLICE_CONTROLLER = 'endpointslice-controller.k8s.io';

/**
 * Why a function's Service (its spec as planned or as observed) could route traffic out of its
 * namespace or to pods that are not the function's: type ExternalName, externalIPs, or a selector
 * that does not pick the function's pods (`function: <name>`). undefined: it stays in.
 */
export function serviceSpecProblem(functionName: string, spec: ServiceLike['spec']): TenancyProblem | undefined {
  if (spec?.type === 'ExternalName' || (spec?.externalName !== undefined && spec.externalName !== '')) {
    return { reason: 'ExternalNameService', message: `the Service of function ${functionName} is of type ExternalName: it would route events and requests outside the namespace` };
  }
  if (spec?.externalIPs && spec.externalIPs.length > 0) {
    return { reason: 'ExternalIPsService', message: `the Service of function ${functionName} sets externalIPs: it would route traffic to addresses outside the cluster's pods` };
  }
  const selector = spec?.selector ?? {};
  if (selector.function !== functionName) {
    return { reason: 'ForeignServiceSelector', message: `the Service of function ${functionName} does not select the function's pods (its selector must include function: ${functionName})` };
  }
  return undefined;
}

/**
 * Why delivering to (or routing to) a function's observed Service could reach something that is
 * not the function's own pods:
 *  - the Service is of type ExternalName or sets externalIPs;
 *  - it has a selector that does not pick the function's pods (`function: <name>`);
 *  - an EndpointSlice labelled for it is managed by neither the endpointslice controller nor one
 *    of `trustedManagers` (hand-made, or mirrored from hand-made Endpoints);
 *  - a slice of the endpointslice controller lists an endpoint that is not a Pod of the namespace.
 * A Service without a selector has only the endpoints others write: it is refused unless the
 * operator trusts a manager besides the endpointslice controller (a service mesh's,
 * `TRUSTED_ENDPOINTSLICE_MANAGERS`), and then only slices of those managers are accepted.
 * `slices` may hold any EndpointSlices; those of other Services are ignored.
 */
export function functionServiceProblem(functionName: string, service: ServiceLike, slices: Iterable<EndpointSliceLike> = [], trustedManagers: readonly string[] = [ENDPOINTSLICE_CONTROLLER]): TenancyProblem | undefined {
  const spec = service.spec;
  if (spec?.type === 'ExternalName' || (spec?.externalName !== undefined && spec.externalName !== '') || (spec?.externalIPs && spec.externalIPs.length > 0)) {
    return serviceSpecProblem(functionName, spec);
  }
  const selector = spec?.selector ?? {};
  const selectorless = Object.keys(selector).length === 0;
  if (!selectorless && selector.function !== functionName) return serviceSpecProblem(functionName, spec);
  // Without a selector only others write the endpoints, and the endpointslice controller cleans up
  // no slice of such a Service, even one forged with its label: allowed only where the operator
  // trusts another manager (a mesh) to write them.
  if (selectorless && !trustedManagers.some((m) => m !== ENDPOINTSLICE_CONTROLLER)) {
    return { reason: 'ServiceWithoutSelector', message: `the Service of function ${functionName} has no selector: its endpoints would be whatever someone writes (its selector must include function: ${functionName})` };
  }
  const ns = service.metadata?.namespace;
  const name = service.metadata?.name ?? functionName;
  for (const s of slices) {
    if (s.metadata?.labels?.['kubernetes.io/service-name'] !== name || s.metadata.namespace !== ns) continue;
    const manager = s.metadata.labels[MANAGED_BY_LABEL] ?? '';
    if (manager !== ENDPOINTSLICE_CONTROLLER || selectorless) {
      if (manager !== ENDPOINTSLICE_CONTROLLER && trustedManagers.includes(manager)) continue;
      return { reason: 'ForeignEndpoints', message: `EndpointSlice ${s.metadata.name ?? ''} of function ${functionName} is not managed by the endpointslice controller (${MANAGED_BY_LABEL}: ${manager === '' ? 'none' : manager}): its endpoints may not be the function's pods` };
    }
    for (const ep of s.endpoints ?? []) {
      const ref = ep.targetRef;
      if (ref?.kind !== 'Pod' || (ref.namespace !== undefined && ref.namespace !== ns)) {
        return { reason: 'ForeignEndpoints', message: `EndpointSlice ${s.metadata.name ?? ''} of function ${functionName} lists an endpoint that is not a pod of namespace ${ns ?? ''}` };
      }
    }
  }
  return undefined;
}
