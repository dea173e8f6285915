/**
 * RBAC as in the talk: an ordinary user is Forbidden, the admin creates a role and a rolebinding
 * with kubectl, the same list then succeeds; a user of another group is still denied, and
 * namespaces isolate.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, kubectlOk, withNamespace } from '../helpers.js';

let ns: { name: string; cleanup: () => Promise<void> };
let other: { name: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  ns = await withNamespace('rbac');
  other = await withNamespace('rbac-other');
  for (const n of [ns.name, other.name]) {
    await kubectlOk(['apply', '-n', n, '-f', '-'], {
      input: `apiVersion: kubeless.io/v1beta1
kind: Function
metadata: {name: foo, labels: {created-by: kubeless, function: foo}}
spec: {runtime: python3.11, handler: foo.handler, function: "def handler(e, c): return 'hi'"}
`,
    });
  }
});
afterAll(async () => {
  await ns.cleanup();
  await other.cleanup();
});

describe('RBAC on functions', () => {
  it('denies, then allows after a rolebinding, only that user and only in that namespace', async () => {
    const denied = await kubectl(['get', 'functions', '-n', ns.name], { user: 'alice' });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain(
      `Error from server (Forbidden): functions.kubeless.io is forbidden: User "alice" cannot list resource "functions" in API group "kubeless.io" in the namespace "${ns.name}"`,
    );

    await kubectlOk(['create', 'role', 'function-reader', '--verb=get,list,watch', '--resource=functions', '-n', ns.name]);
    await kubectlOk(['create', 'rolebinding', 'function-reader', '--role', 'function-reader', '--user=alice', '-n', ns.name]);

    // RBAC changes reach the authorizer through its informer; allow it a moment.
    let allowed = await kubectl(['get', 'functions', '-n', ns.name], { user: 'alice' });
    for (let i = 0; i < 50 && allowed.code !== 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      allowed = await kubectl(['get', 'functions', '-n', ns.name], { user: 'alice' });
    }
    expect(allowed.code).toBe(0);
    expect(allowed.stdout).toMatch(/^NAME\s+RUNTIME\s+HANDLER\s+READY\s+AGE\nfoo\s+python3\.11\s+foo\.handler/);

    // bob is in another group and has no binding.
    const bob = await kubectl(['get', 'functions', '-n', ns.name], { user: 'bob' });
    expect(bob.code).not.toBe(0);
    expect(bob.stderr).toContain('User "bob" cannot list resource "functions"');

    // The role is namespaced: alice still sees nothing elsewhere, nor across namespaces.
    const elsewhere = await kubectl(['get', 'functions', '-n', other.name], { user: 'alice' });
    expect(elsewhere.stderr).toContain('Forbidden');
    const all = await kubectl(['get', 'functions', '--all-namespaces'], { user: 'alice' });
    expect(all.stderr).toContain('cannot list resource "functions" in API group "kubeless.io" at the cluster scope');

    // alice may read but not write.
    const write = await kubectl(['delete', 'function', 'foo', '-n', ns.name], { user: 'alice' });
    expect(write.stderr).toContain('cannot delete resource "functions"');
  });

  it('shows the admin every namespace', async () => {
    const out = await kubectlOk(['get', 'functions', '--all-namespaces', '-o', 'custom-columns=NS:.metadata.namespace,NAME:.metadata.name', '--no-headers']);
    const rows = out.trim().split('\n').map((l) => l.trim().split(/\s+/).join('/'));
    expect(rows).toEqual(expect.arrayContaining([`${ns.name}/foo`, `${other.name}/foo`]));
  });
});
