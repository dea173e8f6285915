/**
 * With kube-controller-manager running, deleting a namespace deletes its functions, and owner
 * references collect dependents (what the function controller relies on instead of finalizers).
 */
import { describe, expect, it } from 'vitest';
import { clients, eventually, kubectlOk, uniqueName, withNamespace } from '../helpers.js';

const poll = (what: string, check: () => Promise<boolean>): Promise<boolean> => eventually(what, check, 60_000);


describe('garbage collection', () => {
  it('deletes the functions of a deleted namespace, and the namespace itself', async () => {
    const ns = await withNamespace('nsdel');
    await kubectlOk(['apply', '-n', ns.name, '-f', '-'], {
      input: `apiVersion: kubeless.io/v1beta1
kind: Function
metadata: {name: a}
spec: {runtime: nodejs24, handler: index.a}
---
apiVersion: kubeless.io/v1beta1
kind: Function
metadata: {name: b}
spec: {runtime: nodejs24, handler: index.b}
`,
    });
    const { custom, core } = clients();
    const list = async (): Promise<unknown[]> =>
      ((await custom.listNamespacedCustomObject({ group: 'kubeless.io', version: 'v1beta1', namespace: ns.name, plural: 'functions' })) as { items: unknown[] }).items;
    expect(await list()).toHaveLength(2);

    await core.deleteNamespace({ name: ns.name });
    await poll('namespace gone', async () => {
      try {
        await core.readNamespace({ name: ns.name });
        return false;
      } catch (err) {
        return (err as { code?: number }).code === 404;
      }
    });
    // The functions went with it, from etcd too: a namespace of the same name starts empty.
    await core.createNamespace({ body: { metadata: { name: ns.name } } });
    expect(await list()).toHaveLength(0);
    await core.deleteNamespace({ name: ns.name });
  });

  it('deletes a ConfigMap owned by a Function when the Function is deleted', async () => {
    const ns = await withNamespace('gc');
    try {
      const { custom, core } = clients();
      const name = uniqueName('fn');
      const fn = (await custom.createNamespacedCustomObject({
        group: 'kubeless.io',
        version: 'v1beta1',
        namespace: ns.name,
        plural: 'functions',
        body: { apiVersion: 'kubeless.io/v1beta1', kind: 'Function', metadata: { name }, spec: { runtime: 'nodejs24', handler: 'index.h' } },
      })) as { metadata: { uid: string } };
      await core.createNamespacedConfigMap({
        namespace: ns.name,
        body: {
          metadata: { name, ownerReferences: [{ apiVersion: 'kubeless.io/v1beta1', kind: 'Function', name, uid: fn.metadata.uid, controller: true }] },
          data: { handler: 'index.h' },
        },
      });
      await custom.deleteNamespacedCustomObject({ group: 'kubeless.io', version: 'v1beta1', namespace: ns.name, plural: 'functions', name });
      await poll('owned ConfigMap collected', async () => {
        try {
          await core.readNamespacedConfigMap({ name, namespace: ns.name });
          return false;
        } catch (err) {
          return (err as { code?: number }).code === 404;
        }
      });
    } finally {
      await ns.cleanup();
    }
  });
});
