import type { OwnerReference } from '@kubeless/api';
import type { KubeObject } from './kube-client.js';

export type { OwnerReference };


/** The controller owner reference of a child of `owner` (garbage collected with it). */
export function controllerRef(owner: KubeObject): OwnerReference {
  const m = owner.metadata ?? {};
  if (!owner.apiVersion || !owner.kind || !m.name || !m.uid) throw new TypeError('owner needs apiVersion, kind, metadata.name and metadata.uid');
  return { apiVersion: owner.apiVersion, kind: owner.kind, name: m.name, uid: m.uid, controller: true, blockOwnerDeletion: true };
}

/** True when `obj` names `owner` (by uid) among its owner references. */
export function isOwnedBy(obj: KubeObject, owner: { metadata?: { uid?: string } }): boolean {
  const uid = owner.metadata?.uid;
  return uid !== undefined && (obj.metadata?.ownerReferences ?? []).some((r) => r.uid === uid);
}

/** The controller owner reference of `obj` of the given kind, if any. */
export function controllerOf(obj: KubeObject, kind: string): OwnerReference | undefined {
  return (obj.metadata?.ownerReferences ?? []).find((r) => r.kind === kind && r.controller === true);
}
