/**
 * The chart lints, renders with its defaults and every documented example, and the real API
 * server accepts every rendered object (`kubectl apply --dry-run=server --validate=strict`, CRDs
 * first); controller pods pass Pod Security `restricted` (asked of the API server as warnings)
 * and kubeless-config parses with the function controller's own parser.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { defaultKubelessConfig, parseKubelessConfig, runtimeIds } from '@kubeless/api';
import { REPO_ROOT, crdEstablished, kubectlOk, uniqueName, withNamespace } from '@kubeless/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART, EXAMPLES_DIR, helm, kubectlIn, parseObjects, render, renderYaml, toYamlStream, type K8sObject } from './chart.js';

const examples = readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.yaml')).sort();
const CONTROLLERS = ['cronjob-trigger', 'function-controller', 'http-trigger', 'kafka-trigger', 'sqs-trigger'];

let releaseNs: { name: string; cleanup: () => Promise<void> };
const createdNamespaces: string[] = [];

beforeAll(async () => {
  releaseNs = await withNamespace('helm-chart');
  // Deployments are checked against `restricted`: the API server warns about any pod template
  // that would violate it.
  await kubectlOk(['label', 'namespace', releaseNs.name, 'pod-security.kubernetes.io/warn=restricted', 'pod-security.kubernetes.io/enforce=restricted']);
  await kubectlOk(['apply', '-f', path.join(import.meta.dirname, 'fixtures', 'servicemonitor-crd.yaml')]);
  await crdEstablished('servicemonitors.monitoring.coreos.com');
});

afterAll(async () => {
  for (const ns of createdNamespaces) await kubectlOk(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  await releaseNs.cleanup();
});

/** Creates the namespaces `objects` live in that do not exist yet (an example names its own). */
async function ensureNamespaces(objects: K8sObject[]): Promise<void> {
  const wanted = new Set(objects.map((o) => o.metadata.namespace).filter((n): n is string => n !== undefined && n !== releaseNs.name));
  const existing = new Set((await kubectlOk(['get', 'namespaces', '-o', 'name'])).split('\n').map((l) => l.replace('namespace/', '')));
  for (const ns of wanted) {
    if (existing.has(ns)) continue;
    await kubectlOk(['create', 'namespace', ns]);
    createdNamespaces.push(ns);
  }
}

/** Server-side dry run of a YAML stream; returns the objects as the API server would store them. */
async function dryRun(yaml: string): Promise<{ objects: K8sObject[]; stderr: string }> {
  const r = await kubectlIn(['apply', '--dry-run=server', '--validate=strict', '-o', 'json', '-f', '-'], yaml);
  expect(r.stderr, 'kubectl apply --dry-run=server').not.toMatch(/error|invalid|unknown field/i);
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as { kind: string; items?: K8sObject[] } & K8sObject;
  return { objects: out.kind === 'List' ? (out.items ?? []) : [out], stderr: r.stderr };
}

const env = (d: K8sObject): Record<string, string> =>
  Object.fromEntries((d.spec.template.spec.containers[0].env as { name: string; value?: string }[]).map((e) => [e.name, e.value ?? '<from>']));

/** The config keys a controller reads: its main.ts's and libs/config's common ones (`NAME: env...`). */
function configKeys(component: string): Set<string> {
  const sources = [path.join(REPO_ROOT, 'services', component, 'src', 'main.ts'), ...readdirSync(path.join(REPO_ROOT, 'libs', 'config', 'src')).map((f) => path.join(REPO_ROOT, 'libs', 'config', 'src', f))];
  // NODE_OPTIONS is Node.js's own (the chart sizes V8's heap with it).
  const keys = new Set<string>(['NODE_OPTIONS']);
  for (const f of sources) for (const m of readFileSync(f, 'utf8').matchAll(/^\s*([A-Z][A-Z0-9_]+): env\./gm)) keys.add(m[1] ?? '');
  return keys;
}

describe('controller env', () => {
  it('sets only variables the controller reads, with the defaults, every example and every optional setting', async () => {
    const settings = [
      'httpTrigger.ingressClassName=public',
      'httpTrigger.acmeIssuer.name=letsencrypt',
      'kafkaTrigger.deliveryTls.secret=tls',
      'kafkaTrigger.kafka.authSecret=kafka-auth',
      'kafkaTrigger.kafka.saslMechanism=plain',
      'sqsTrigger.deliveryTls.secret=tls',
      'sqsTrigger.sqs.endpoint=http://elasticmq:9324',
      'cronjobTrigger.deliveryTls.secret=tls',
      'watchNamespace=team-a',
    ];
    for (const values of [undefined, ...examples]) {
      const objects = await render({ release: 'envcheck', namespace: 'kubeless', set: values ? [] : settings, ...(values ? { valuesFiles: [path.join(EXAMPLES_DIR, values)] } : {}) });
      for (const d of objects.filter((o) => o.kind === 'Deployment')) {
        const component = d.metadata.labels?.['app.kubernetes.io/component'] ?? '';
        const known = configKeys(component);
        expect(known.size, component).toBeGreaterThan(8);
        const unknown = Object.keys(env(d)).filter((k) => !known.has(k));
        expect(unknown, `${component} (${values ?? 'defaults + settings'}): env its main.ts does not read`).toEqual([]);
      }
    }
  });
});

describe('helm lint', () => {
  it('passes with the default values and with each example, in strict mode', async () => {
    for (const values of [undefined, ...examples]) {
      const r = await helm(['lint', CHART, '--strict', ...(values ? ['-f', path.join(EXAMPLES_DIR, values)] : [])]);
      expect(r.code, `${values ?? 'defaults'}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout).toContain('0 chart(s) failed');
    }
  });

  it('rejects values the schema does not allow', async () => {
    const bad = [
      ['--set', 'kafkaTrigger.kafka.saslMechanism=md5'],
      ['--set', 'functionController.replicas=two'],
      ['--set', 'functionController.resyncPeriod=ten minutes'],
      ['--set', 'watchNamespace=Not_A_Namespace'],
      ['--set', 'unknownKey=1'],
      ['--set-json', 'kafkaTrigger.rbac.secrets=[{"namespace":"a","names":["x"]},{"namespace":"a","names":["y"]}]'],
    ];
    for (const args of bad) {
      const r = await helm(['template', 'kl', CHART, ...args]);
      expect(r.code, args.join(' ')).not.toBe(0);
    }
  });
});

describe('the API server accepts every rendered object', () => {
  it('accepts the CRDs (first: the rest needs them)', async () => {
    // As helm install reads crds/: one object per file (`helm show crds` runs the files together).
    const crds = (await render({ release: 'kl', namespace: releaseNs.name, includeCrds: true })).filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds.map((c) => c.metadata.name).sort()).toEqual(['cronjobtriggers.kubeless.io', 'functions.kubeless.io', 'httptriggers.kubeless.io', 'kafkatriggers.kubeless.io', 'sqstriggers.kubeless.io']);
    const { objects } = await dryRun(toYamlStream(crds));
    expect(objects.map((o) => o.metadata.name).sort()).toEqual(crds.map((c) => c.metadata.name).sort());
  });

  it('accepts the default install: five restricted controllers, their RBAC, kubeless-config and the user roles', async () => {
    const release = uniqueName('kl');
    const yaml = await renderYaml({ release, namespace: releaseNs.name });
    const { objects, stderr } = await dryRun(yaml);
    expect(stderr).not.toContain('PodSecurity');
    expect(objects.length).toBe(parseObjects(yaml).length);

    const deployments = objects.filter((o) => o.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata.labels?.['app.kubernetes.io/component']).sort()).toEqual(CONTROLLERS);
    for (const d of deployments) {
      const pod = d.spec.template.spec;
      const c = pod.containers[0];
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      expect(env(d)).toMatchObject({ HEALTH_PORT: '8081', LEADER_ELECT: 'true', POD_NAMESPACE: '<from>', POD_NAME: '<from>' });
      expect(env(d)).not.toHaveProperty('WATCH_NAMESPACE');
      expect(pod.serviceAccountName).toBe(d.metadata.name);
      // Node.js refuses to start on an option it does not take (a '50%' once kept every pod down).
      const nodeOptions = env(d).NODE_OPTIONS;
      if (nodeOptions !== undefined) {
        const r = spawnSync(process.execPath, ['-e', ''], { env: { ...process.env, NODE_OPTIONS: nodeOptions }, encoding: 'utf8' });
        expect(r.stderr, `${d.metadata.name}: NODE_OPTIONS=${nodeOptions}`).toBe('');
        expect(r.status).toBe(0);
      }
    }
    expect(env(deployments.find((d) => d.metadata.labels?.['app.kubernetes.io/component'] === 'kafka-trigger') ?? deployments[0]!).NODE_OPTIONS).toContain('--max-old-space-size-percentage=');
    const kinds = (kind: string): string[] => objects.filter((o) => o.kind === kind).map((o) => o.metadata.name).sort();
    expect(kinds('PodDisruptionBudget')).toHaveLength(5);
    expect(kinds('ServiceAccount')).toHaveLength(5);
    expect(kinds('ClusterRole')).toEqual([...CONTROLLERS.map((c) => `${release}-kubeless-${c}`), `${release}-kubeless-edit`, `${release}-kubeless-view`].sort());
    const view = objects.find((o) => o.metadata.name === `${release}-kubeless-view`)!;
    const edit = objects.find((o) => o.metadata.name === `${release}-kubeless-edit`)!;
    expect(view.metadata.labels).toMatchObject({ 'rbac.authorization.k8s.io/aggregate-to-view': 'true' });
    expect(edit.metadata.labels).toMatchObject({ 'rbac.authorization.k8s.io/aggregate-to-edit': 'true' });
    expect(objects.filter((o) => o.kind === 'NetworkPolicy' || o.kind === 'ServiceMonitor')).toEqual([]);
  });

  it('writes a kubeless-config that the function controller parses without a problem', async () => {
    const objects = await render({ release: 'kubeless', namespace: releaseNs.name, valuesFiles: [path.join(EXAMPLES_DIR, 'production.yaml')] });
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'kubeless-config')!;
    const cfg = parseKubelessConfig(cm.data);
    expect(cfg.problems).toEqual([]);
    expect(runtimeIds(cfg)).toEqual(['nodejs22', 'nodejs24', 'nodejs26', 'python3.11', 'python3.12', 'python3.13']);
    expect(cfg.provisionImage).toBe('kubeless/runtime-nodejs:24');
    // The chart and the controller's built-in defaults offer the same.
    expect(runtimeIds(cfg)).toEqual(runtimeIds(defaultKubelessConfig()));
    expect(cfg.provisionImage).toBe(defaultKubelessConfig().provisionImage);
    const podSpec = (cfg.deployment as any).spec.template.spec;
    expect(podSpec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    // The example's resources and the default container security merge into one container.
    expect(podSpec.containers).toEqual([
      expect.objectContaining({ resources: expect.objectContaining({ limits: { memory: '256Mi' } }), securityContext: expect.objectContaining({ capabilities: { drop: ['ALL'] } }) }),
    ]);
  });

  it.each(examples)('accepts examples/%s', async (example) => {
    const yaml = await renderYaml({ release: uniqueName('kl'), namespace: releaseNs.name, valuesFiles: [path.join(EXAMPLES_DIR, example)] });
    await ensureNamespaces(parseObjects(yaml));
    const { objects, stderr } = await dryRun(yaml);
    expect(stderr).not.toContain('PodSecurity');
    expect(objects.length).toBe(parseObjects(yaml).length);
    expect(objects.filter((o) => o.kind === 'Deployment').length).toBeGreaterThan(0);
  });

  it('single-namespace: WATCH_NAMESPACE and Roles in that namespace, no cluster-wide grant', async () => {
    const objects = await render({ release: 'kubeless', namespace: releaseNs.name, valuesFiles: [path.join(EXAMPLES_DIR, 'single-namespace.yaml')] });
    expect(objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toEqual([]);
    for (const d of objects.filter((o) => o.kind === 'Deployment')) expect(env(d).WATCH_NAMESPACE).toBe('team-a');
    const roles = objects.filter((o) => o.kind === 'Role').map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    expect(roles).toEqual(expect.arrayContaining(['team-a/kubeless-function-controller', `${releaseNs.name}/kubeless-function-controller-local`]));
    const policy = objects.find((o) => o.kind === 'NetworkPolicy')!;
    expect(policy.metadata.namespace).toBe('team-a');
  });
});
