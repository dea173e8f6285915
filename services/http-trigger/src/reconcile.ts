/**
 * The HTTP trigger's reconcile: observe (the trigger, its Function and the Function's Service
 * with its hand-made EndpointSlices, the auth Secret's shape where the operator lets the
 * controller read it, the existing route) -> plan (pure, plan.ts) -> apply (create-only objects,
 * then server-side apply, field manager `kubeless-http-trigger`, gateway objects before the route
 * that references them) -> prune (children of the trigger no longer planned) -> status
 * (RouteReady, Ready, url, address). No finalizer: children carry a controller owner reference to
 * the trigger, and the trigger gets a (non-controller) owner reference to its Function, so
 * deleting either cleans up by garbage collection. A route object of the same name that the
 * trigger does not own is never touched.
 *
 * Tenancy (README "Security model"): a function Service that could lead out of its namespace
 * (`functionServiceProblem`) or a trigger annotation the policy refuses gets no route at all, and
 * any route the trigger had is removed. Secrets are read only by name where the chart grants it
 * (`httpTrigger.rbac.secrets`); elsewhere the shape check is skipped and the status says so.
 */
import type { Condition, EndpointSliceLike, HTTPTrigger, HTTPTriggerStatus } from '@kubeless/api';
import { ENDPOINTSLICE_CONTROLLER, functionServiceProblem } from '@kubeless/api';
import {
  TerminalError,
  applyOwned,
  deleteIfOwned,
  getCondition,
  isConflict,
  isForbidden,
  isInvalid,
  isNotFound,
  isOwnedBy,
  objectPath,
  collectionPath,
  rejected,
  resourceFor,
  setCondition,
  summarise,
  type Informer,
  type KubeClient,
  type KubeObject,
  type ReconcileContext,
  type ReconcileResult,
} from '@kubeless/controller';
import { PlanError, TRIGGER_LABEL, planHttpTrigger, type PlanSettings, type SecretRequirement } from './plan.js';

export const FIELD_MANAGER = 'kubeless-http-trigger';
/** A problem outside the trigger (a missing function, Secret or CRD) is looked at again this often. */
export const RECHECK_MS = 5_000;
const DEPENDENTS = ['RouteReady'];
/** Kinds the controller may have made for a trigger; pruned when no longer planned. */
const CHILD_KINDS: [apiVersion: string, kind: string][] = [
  ['networking.k8s.io/v1', 'Ingress'],
  ['gateway.networking.k8s.io/v1', 'HTTPRoute'],
  ['traefik.io/v1alpha1', 'Middleware'],
  ['configuration.konghq.com/v1', 'KongPlugin'],
  ['configuration.konghq.com/v1', 'KongConsumer'],
];

export type HttpTriggerObject = HTTPTrigger & KubeObject;

export interface HttpTriggerReconcilerDeps {
  client: KubeClient;
  functions: Informer;
  services: Informer;
  ingresses: Informer;
  /** EndpointSlices the endpointslice controller does not manage (the only ones that can be foreign). */
  endpointSlices: Informer;
  settings: PlanSettings;
  /** EndpointSlice managers trusted beside the endpointslice controller (a mesh's); default none. */
  trustedEndpointSliceManagers?: readonly string[];
}

interface Problem {
  reason: string;
  message: string;
}

/** The outcome of the Secret check: a problem that stops the route, or a note for the status. */
type SecretCheck = { problem: Problem; note?: undefined } | { problem?: undefined; note?: string };

export class HttpTriggerReconciler {
  readonly #d: HttpTriggerReconcilerDeps;

  constructor(deps: HttpTriggerReconcilerDeps) {
    this.#d = deps;
  }

  readonly reconcile = async (t: HttpTriggerObject, ctx: ReconcileContext): Promise<ReconcileResult | undefined> => {
    const status: HTTPTriggerStatus = (t.status ??= {});
    const conditions: Condition[] = (status.conditions ??= []);
    const wasReady = getCondition(conditions, 'Ready')?.status;
    const ns = t.metadata.namespace ?? 'default';
    const fnName = t.spec['function-name'];
    const fail = (p: Problem, result: ReconcileResult | undefined = { requeueAfterMs: RECHECK_MS }): ReconcileResult | undefined => {
      setCondition(conditions, { type: 'RouteReady', status: 'False', reason: p.reason, message: p.message });
      summarise(conditions, DEPENDENTS);
      ctx.record('Warning', p.reason, p.message);
      return result;
    };

    /** Removes every route object of the trigger: a refused trigger serves nothing. */
    const withdraw = async (): Promise<void> => {
      await this.#prune(t, [], ctx.signal);
      delete status.address;
    };

    // A route is kept only while its backend is a Service of the function that stays in the
    // namespace. The route names the Service, not its labels: a Service the (label-filtered)
    // cache does not hold, e.g. an unlabelled ExternalName one put in its place, is not vouched for.
    const fn = this.#d.functions.get(ns, fnName);
    if (!fn) {
      await withdraw();
      return fail({ reason: 'FunctionNotFound', message: `function "${fnName}" not found in namespace ${ns}` });
    }
    await this.#ownByFunction(t, fn, ctx);
    const svc = this.#d.services.get(ns, fnName);
    const port = (svc?.spec as { ports?: { port?: number }[] } | undefined)?.ports?.[0]?.port;
    if (!svc || port === undefined) {
      await withdraw();
      return fail({ reason: 'ServiceNotFound', message: `function "${fnName}" has no Service with a port yet` });
    }
    const slices = this.#d.endpointSlices.list(ns) as EndpointSliceLike[];
    const leaves = functionServiceProblem(fnName, svc, slices, this.#trusted());
    if (leaves) {
      await withdraw();
      // No polling: the Service and slice watches bring the trigger back when either changes.
      return fail(leaves, undefined);
    }

    let plan;
    try {
      plan = planHttpTrigger(t, { service: fnName, port }, this.#d.settings);
    } catch (err) {
      if (!(err instanceof PlanError)) throw err;
      if (err.withdraw) await withdraw();
      fail(err);
      throw new TerminalError(err.reason, err.message);
    }
    status.url = plan.url;

    let note: string | undefined;
    if (plan.secret) {
      const check = await this.#checkSecret(ns, plan.secret, ctx.signal);
      if (check.problem) return fail(check.problem);
      note = check.note;
    }

    // Credentials first, then gateway objects: the route must never reference a Middleware,
    // plugin or credential that is not there.
    for (const desired of plan.createOnly) {
      const problem = await this.#createOnce(desired, ctx);
      if (problem) return fail(problem, problem.reason.endsWith('Invalid') ? undefined : { requeueAfterMs: RECHECK_MS });
    }
    for (const desired of [...plan.extras, plan.route]) {
      const problem = await this.#ensure(t, desired, ctx);
      if (problem) return fail(problem, problem.reason.endsWith('Invalid') ? undefined : { requeueAfterMs: RECHECK_MS });
    }
    await this.#prune(t, [...plan.extras, plan.route], ctx.signal);

    let address: string | undefined;
    if (plan.route.kind === 'Ingress') {
      const ing = this.#d.ingresses.get(ns, t.metadata.name ?? '');
      const lb = (ing?.status as { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } } | undefined)?.loadBalancer?.ingress?.[0];
      address = lb?.ip ?? lb?.hostname;
    }
    if (address) status.address = address;
    else delete status.address;
    const suffix = note ? `; ${note}` : '';
    setCondition(conditions, { type: 'RouteReady', status: 'True', reason: 'Applied', message: `${plan.route.kind} ${t.metadata.name ?? ''} routes ${plan.url}${suffix}` });
    summarise(conditions, DEPENDENTS, 'Routed', `serving at ${plan.url}${suffix}`);
    if (getCondition(conditions, 'Ready')?.status === 'True' && wasReady !== 'True') ctx.record('Normal', 'Routed', `routing ${plan.url} to function ${fnName}`);
    return undefined;
  };

  /** Adds an owner reference to the Function on the trigger, so deleting the function deletes the trigger (as the original did). */
  async #ownByFunction(t: HttpTriggerObject, fn: KubeObject, ctx: ReconcileContext): Promise<void> {
    if (isOwnedBy(t, fn)) return;
    const ref = { apiVersion: fn.apiVersion ?? 'kubeless.io/v1beta1', kind: 'Function', name: fn.metadata?.name ?? '', uid: fn.metadata?.uid ?? '' };
    const r = resourceFor('kubeless.io/v1beta1', 'HTTPTrigger');
    await this.#d.client.apply(
      objectPath(r, t.metadata.namespace, t.metadata.name ?? ''),
      { apiVersion: 'kubeless.io/v1beta1', kind: 'HTTPTrigger', metadata: { name: t.metadata.name, namespace: t.metadata.namespace, ownerReferences: [ref] } },
      `${FIELD_MANAGER}-owner`,
      { force: true, signal: ctx.signal },
    );
  }

  #trusted(): readonly string[] | undefined {
    const extra = this.#d.trustedEndpointSliceManagers ?? [];
    return extra.length === 0 ? undefined : [ENDPOINTSLICE_CONTROLLER, ...extra];
  }

  /**
   * The Secret must exist, and for kong be a labelled basic-auth credential. Read only where the
   * operator granted it by name (`httpTrigger.rbac.secrets`): elsewhere the read is forbidden,
   * the check is skipped (the gateway reads the Secret itself) and the note says so. Never
   * modified, never logged.
   */
  async #checkSecret(namespace: string, req: SecretRequirement, signal: AbortSignal): Promise<SecretCheck> {
    const path = `/api/v1/namespaces/${namespace}/secrets/${encodeURIComponent(req.name)}`;
    let secret: KubeObject & { type?: string; data?: Record<string, string> };
    try {
      secret = await this.#d.client.get(path, signal);
    } catch (err) {
      if (isNotFound(err)) return { problem: { reason: 'SecretNotFound', message: `basic-auth Secret "${req.name}" not found in namespace ${namespace}` } };
      if (isForbidden(err)) {
        return { note: `basic-auth Secret "${req.name}" not checked: the http-trigger may not read it (the operator can grant it in httpTrigger.rbac.secrets)` };
      }
      throw err;
    }
    const keys = Object.keys(secret.data ?? {});
    if (req.form === 'htpasswd' && !keys.includes('auth')) {
      return { problem: { reason: 'SecretInvalid', message: `basic-auth Secret "${req.name}" has no key "auth" (an htpasswd file, e.g. from \`htpasswd -c auth user\`)` } };
    }
    if (req.form === 'kong-credential') {
      const labelled = secret.metadata?.labels?.['konghq.com/credential'] === 'basic-auth';
      if (secret.type !== 'kubernetes.io/basic-auth' || !labelled || !keys.includes('username') || !keys.includes('password')) {
        return { problem: {
          reason: 'SecretInvalid',
          message:
            `Kong needs the plaintext credentials: basic-auth-secret "${req.name}" must be a kubernetes.io/basic-auth Secret with username and password, ` +
            'labelled konghq.com/credential=basic-auth (an htpasswd Secret cannot be used); kubeless does not modify your Secret',
        } };
      }
    }
    return {};
  }

  /**
   * Creates `desired` (POST) unless an object of that name exists, which is accepted as it is:
   * the controller may only create Secrets, never read or change them. A Secret made beforehand
   * under that name was made by someone who can read the trigger's uid, i.e. its own namespace,
   * and can only name a group that namespace knows. Pruned by garbage collection with the trigger.
   */
  async #createOnce(desired: KubeObject, ctx: ReconcileContext): Promise<Problem | undefined> {
    const kind = desired.kind ?? '';
    const r = resourceFor(desired.apiVersion ?? '', kind);
    try {
      await this.#d.client.create(collectionPath(r, desired.metadata?.namespace), desired, ctx.signal);
    } catch (err) {
      if (isConflict(err)) return undefined;
      if (isForbidden(err)) return { reason: 'Forbidden', message: `the http-trigger may not create the ${kind} "${desired.metadata?.name ?? ''}" that kong basic auth needs (its ClusterRole grants secrets: create)` };
      if (isInvalid(err)) return rejected(kind, err);
      throw err;
    }
    return undefined;
  }

  /** Applies `desired` unless an object of that name exists that the trigger does not own. */
  async #ensure(t: HttpTriggerObject, desired: KubeObject, ctx: ReconcileContext): Promise<Problem | undefined> {
    const kind = desired.kind ?? '';
    const r = resourceFor(desired.apiVersion ?? '', kind);
    let outcome;
    try {
      outcome = await applyOwned(this.#d.client, t, desired, {
        fieldManager: FIELD_MANAGER,
        ownerNoun: 'trigger',
        cache: kind === 'Ingress' ? this.#d.ingresses : undefined,
        signal: ctx.signal,
      });
    } catch (err) {
      // A 404 can only come from the apply (an absent object is what SSA creates): the kind is not served.
      if (isNotFound(err)) return crdMissing(r.group, r.version, r.plural, kind);
      if (isForbidden(err)) return forbidden(kind, r.plural, r.group);
      throw err;
    }
    return outcome.result === 'conflict' || outcome.result === 'invalid' ? { reason: outcome.reason, message: outcome.message } : undefined;
  }

  /** Deletes the trigger's children (by label and owner) that the plan no longer has. Kinds whose CRD is absent are skipped. */
  async #prune(t: HttpTriggerObject, desired: KubeObject[], signal: AbortSignal): Promise<void> {
    const keep = new Set(desired.map((o) => `${o.kind ?? ''}/${o.metadata?.name ?? ''}`));
    const ns = t.metadata.namespace;
    for (const [apiVersion, kind] of CHILD_KINDS) {
      const r = resourceFor(apiVersion, kind);
      let items: KubeObject[];
      if (kind === 'Ingress') {
        items = this.#d.ingresses.list(ns).filter((o) => o.metadata?.labels?.[TRIGGER_LABEL] === t.metadata.name);
      } else {
        try {
          items = (await this.#d.client.list(collectionPath(r, ns), { labelSelector: `${TRIGGER_LABEL}=${t.metadata.name ?? ''}` }, signal)).items;
        } catch (err) {
          // A kind whose CRD is absent, or that this install may not manage (the chart's
          // httpTrigger.routes), cannot hold children of ours.
          if (isNotFound(err) || isForbidden(err)) continue;
          throw err;
        }
      }
      for (const o of items) {
        if (!keep.has(`${kind}/${o.metadata?.name ?? ''}`)) await deleteIfOwned(this.#d.client, t, r, o, { signal });
      }
    }
  }
}

function forbidden(kind: string, plural: string, group: string): Problem {
  return {
    reason: 'Forbidden',
    message: `the http-trigger may not manage ${kind} (${plural}.${group}): enable that route kind in the chart value httpTrigger.routes`,
  };
}

function crdMissing(group: string, version: string, plural: string, kind: string): Problem {
  return {
    reason: 'CRDNotInstalled',
    message: `the gateway needs ${kind} (${plural}.${group}/${version}), whose CRD is not installed in the cluster`,
  };
}
