/**
 * The http-trigger's rights as this tree's chart grants them. The stack installs every
 * controller's RBAC when it starts (`up`), from the chart of that moment: a stack started before
 * the chart last changed would test older rights. Applying the http-trigger's ClusterRole and
 * binding again, as the stack does (server-side, field manager `kubeless-stack`), makes the suite
 * run on the rights of the code it tests.
 */
import { eventually, kubectl, kubectlOk, renderControllerIdentities, toYamlStream } from '@kubeless/stack';

const SA = 'system:serviceaccount:kubeless:kubeless-http-trigger';

export async function applyHttpTriggerRbac(): Promise<void> {
  const objects = (await renderControllerIdentities()).filter(
    (o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'http-trigger' && (o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding'),
  );
  await kubectlOk(['apply', '--server-side', '--force-conflicts', '--field-manager=kubeless-stack', '-f', '-'], { input: toYamlStream(objects) });
  // The authorizer follows RBAC objects through an informer: wait until it grants the newest rule.
  await eventually('http-trigger may list EndpointSlices', async () => (await kubectl(['auth', 'can-i', 'list', 'endpointslices.discovery.k8s.io', '-A', '--as', SA])).code === 0, 15_000);
}

/** Whether the http-trigger's ServiceAccount may `verb` `resource` in `namespace` (optionally one object). */
export async function httpTriggerMay(verb: string, resource: string, namespace: string, name?: string): Promise<boolean> {
  const r = await kubectl(['auth', 'can-i', verb, name ? `${resource}/${name}` : resource, '-n', namespace, '--as', SA]);
  return r.code === 0;
}
