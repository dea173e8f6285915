/**
 * Helpers of the chart tests: the cached helm binary (test/stack/build/helm.sh), rendering the
 * chart into objects, kubectl with stdin, and SubjectAccessReviews as the admin.
 */
import path from 'node:path';
import { KubeClient } from '@kubeless/controller';
import { CHART, kubectl, stackEnv, type KubectlResult } from '@kubeless/stack';

export { CHART, helm, helmBin, parseObjects, render, renderYaml, toYamlStream, type K8sObject, type RenderOptions } from '@kubeless/stack';
export const EXAMPLES_DIR = path.join(CHART, 'examples');

/** kubectl as the stack admin with `input` on stdin. */
export function kubectlIn(args: string[], input: string): Promise<KubectlResult> {
  return kubectl(args, { input });
}

let admin: KubeClient | undefined;
export function adminClient(): KubeClient {
  admin ??= KubeClient.fromKubeconfig(stackEnv().KUBECONFIG, { userAgent: 'kubeless-helm-test' });
  return admin;
}

export interface Access {
  verb: string;
  group?: string;
  resource: string;
  subresource?: string;
  /** Absent: cluster-wide (all namespaces for a namespaced kind). */
  namespace?: string;
  name?: string;
}

export const describeAccess = (a: Access): string =>
  `${a.verb} ${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.group ? `.${a.group}` : ''}${a.name ? ` ${a.name}` : ''} ${a.namespace ? `in ${a.namespace}` : 'cluster-wide'}`;

/** Whether the API server's authorizer allows `a` for a ServiceAccount (a SubjectAccessReview, as `kubectl auth can-i --as`). */
export async function serviceAccountMay(namespace: string, serviceAccount: string, a: Access): Promise<boolean> {
  const review = await adminClient().create<any>('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user: `system:serviceaccount:${namespace}:${serviceAccount}`,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
      resourceAttributes: {
        verb: a.verb,
        group: a.group ?? '',
        resource: a.resource,
        subresource: a.subresource ?? '',
        namespace: a.namespace ?? '',
        name: a.name ?? '',
      },
    },
  });
  return review.status?.allowed === true;
}

/** The accesses of `list` the ServiceAccount is (allowed=true) or is not (false) granted, for one failure message. */
export async function partition(namespace: string, serviceAccount: string, list: Access[]): Promise<{ allowed: string[]; denied: string[] }> {
  const answers = await Promise.all(list.map((a) => serviceAccountMay(namespace, serviceAccount, a)));
  return {
    allowed: list.filter((_, i) => answers[i]).map(describeAccess),
    denied: list.filter((_, i) => !answers[i]).map(describeAccess),
  };
}
