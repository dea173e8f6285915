import type { CommonStatus, KubelessObject } from './meta.js';

export const GATEWAYS = ['nginx', 'traefik', 'kong'] as const;
export type Gateway = (typeof GATEWAYS)[number];

/**
 * HTTPTrigger spec: the original fields with their exact JSON names
 * (docs/architecture.md#compatibility-with-the-original), plus optional new fields in camelCase.
 */
export interface HTTPTriggerSpec {
  /** The function (same namespace) to expose. */
  'function-name': string;
  /** Ingress rule host. */
  'host-name'?: string;
  /** Ingress path; `/` + path, empty means `/`. */
  path?: string;
  /** ACME mode: a certificate is requested through cert-manager. Exclusive with `tls-secret`. */
  tls?: boolean;
  /** An existing TLS Secret for the host. */
  'tls-secret'?: string;
  /** A Secret with basic-auth credentials (htpasswd key `auth` for nginx and traefik). */
  'basic-auth-secret'?: string;
  /** nginx (default), traefik or kong. */
  gateway?: Gateway;
  /** Adds CORS handling on the route. */
  'cors-enable'?: boolean;
  /** New: overrides the ingress class, which defaults to the gateway's name. */
  ingressClassName?: string;
  /** New: the cert-manager issuer used when `tls` is true; defaults to the controller's setting. */
  acmeIssuer?: { name: string; kind?: 'Issuer' | 'ClusterIssuer' };
  /** New: make a Gateway API HTTPRoute attached to this Gateway instead of an Ingress. */
  gatewayParent?: { name: string; namespace?: string; sectionName?: string };
}

export interface HTTPTriggerStatus extends CommonStatus {
  /** The URL the route answers on. */
  url?: string;
  /** The load-balancer address the gateway reports, if any. */
  address?: string;
}

export type HTTPTrigger = KubelessObject<'HTTPTrigger', HTTPTriggerSpec, HTTPTriggerStatus>;
