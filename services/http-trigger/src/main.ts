/**
 * http-trigger: its configuration and one runControllerProcess.
 * HTTPTriggers -> Ingress or HTTPRoute, plus the gateway's
 * Middlewares (traefik) or KongPlugins, KongConsumer and ACL credential Secret (kong).
 */
import { GATEWAYS } from '@kubeless/api';
import { commonShape, env, leaseShape, loadConfig } from '@kubeless/config';
import { runControllerProcess } from '@kubeless/controller';
import { DEFAULT_ANNOTATION_DENY, annotationPolicy } from './annotations.js';
import { buildHttpTriggerController } from './assemble.js';

const config = loadConfig({
  ...commonShape,
  /** cert-manager issuer for triggers with `tls: true` that name none; unset: `kubernetes.io/tls-acme`. */
  ACME_ISSUER: env.string().optional(),
  ACME_ISSUER_KIND: env.enum(['Issuer', 'ClusterIssuer'] as const).default('ClusterIssuer'),
  /** The gateway of a trigger that names none. */
  DEFAULT_GATEWAY: env.enum(GATEWAYS).default('nginx'),
  /** The IngressClass of a trigger that names none; unset: the gateway's name. */
  INGRESS_CLASS_NAME: env.string().optional(),
  /**
   * Key patterns (comma-separated, `*` any run of characters) a trigger annotation must match to
   * reach the Ingress; unset: any key not denied.
   */
  ANNOTATIONS_ALLOW: env.list().default([]),
  /** Key patterns refused on triggers; default every snippet; `-` denies nothing beyond the keys kubeless generates. */
  ANNOTATIONS_DENY: env.list().default([...DEFAULT_ANNOTATION_DENY]),
  /** EndpointSlice managers trusted beside the endpointslice controller (comma-separated; a service mesh's). */
  TRUSTED_ENDPOINTSLICE_MANAGERS: env.list().default([]),
  RECONCILE_CONCURRENCY: env.int(1, 256).default(4),
  ...leaseShape('kubeless-http-trigger'),
  /** Every trigger is reconciled again this often, changed or not. */
  RESYNC_PERIOD: env.duration().prefault('10m'),
});

await runControllerProcess({
  name: 'http-trigger',
  config,
  assemble: (service) =>
    buildHttpTriggerController({
      ...service,
      settings: {
        defaultGateway: config.DEFAULT_GATEWAY,
        ...(config.INGRESS_CLASS_NAME ? { ingressClassName: config.INGRESS_CLASS_NAME } : {}),
        ...(config.ACME_ISSUER ? { acmeIssuer: { name: config.ACME_ISSUER, kind: config.ACME_ISSUER_KIND } } : {}),
        annotations: annotationPolicy(config.ANNOTATIONS_ALLOW, config.ANNOTATIONS_DENY),
      },
      trustedEndpointSliceManagers: config.TRUSTED_ENDPOINTSLICE_MANAGERS,
      concurrency: config.RECONCILE_CONCURRENCY,
      resyncPeriodMs: config.RESYNC_PERIOD,
    }),
});
