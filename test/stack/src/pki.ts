import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { NODE } from './node/config.js';

const run = promisify(execFile);

/** A client-certificate user of the API server: CN is the user name, each O a group. */
export interface StackUser {
  name: string;
  groups: string[];
}

/** The stack's users: one admin, two ordinary users in different groups, and the controller-manager. */
export const USERS: readonly StackUser[] = [
  { name: 'admin', groups: ['system:masters'] },
  { name: 'alice', groups: ['dev-team'] },
  { name: 'bob', groups: ['qa-team'] },
];
export const KCM_USER: StackUser = { name: 'system:kube-controller-manager', groups: ['system:masters'] };
/** The API server's client identity towards the kubelet (logs, exec, port-forward). */
export const APISERVER_KUBELET_CLIENT: StackUser = { name: 'kube-apiserver-kubelet-client', groups: ['system:masters'] };

/** The real node's kubelet (CN system:node:<name>, group system:nodes), as the Node authorizer wants. */
export const NODE_USER: StackUser = { name: `system:node:${NODE.name}`, groups: ['system:nodes'] };
/** kube-proxy's identity: the default ClusterRoleBinding system:node-proxier names this user. */
export const KUBE_PROXY_USER: StackUser = { name: 'system:kube-proxy', groups: [] };
/** The scheduler's identity: the default ClusterRoleBindings system:kube-scheduler and system:volume-scheduler name this user. */
export const SCHEDULER_USER: StackUser = { name: 'system:kube-scheduler', groups: [] };

const CLIENT_EXT = 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n';
const SERVER_EXT =
  'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:10.96.0.1,IP:10.240.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n' +
  'extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n';

async function openssl(cwd: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd });
}

/** Issues `<file>.crt` and `<file>.key` signed by the CA in `dir`. */
async function issue(dir: string, file: string, subject: string, ext: string): Promise<void> {
  await openssl(dir, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${file}.key`, '-out', `${file}.csr`, '-subj', subject]);
  await writeFile(path.join(dir, `${file}.ext`), ext);
  await openssl(dir, ['x509', '-req', '-in', `${file}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '7', '-out', `${file}.crt`, '-extfile', `${file}.ext`]);
}

const subjectOf = (u: StackUser): string => `${u.groups.map((g) => `/O=${g}`).join('')}/CN=${u.name}`;
export const certFileOf = (u: StackUser): string => u.name.replace(/[^a-zA-Z0-9-]/g, '-');

/**
 * Writes a CA, the API server's serving certificate, a client certificate per user and the
 * service-account signing key pair into `dir`. EC P-256, valid 7 days.
 */
export async function generatePki(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '7',
    '-subj', '/CN=kubeless-stack-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  await issue(dir, 'apiserver', '/CN=kube-apiserver', SERVER_EXT);
  // The real node's kubelet: its identity towards the API server (Node authorizer) and its serving
  // certificate, with the node's address, so `kubectl logs` and `exec` verify it.
  await issue(dir, 'node-kubelet-server', `/CN=${NODE.name}`, `subjectAltName=DNS:${NODE.name},IP:${NODE.ip},IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n`);
  for (const u of [...USERS, KCM_USER, APISERVER_KUBELET_CLIENT, NODE_USER, KUBE_PROXY_USER, SCHEDULER_USER]) await issue(dir, certFileOf(u), subjectOf(u), CLIENT_EXT);
  await openssl(dir, ['genrsa', '-out', 'sa.key', '2048']);
  await openssl(dir, ['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
}

export interface KubeconfigUser {
  name: string;
  certFile: string;
  keyFile: string;
}

/** A kubeconfig with embedded certificates; one context per user, the first is current. */
export async function writeKubeconfig(file: string, server: string, caFile: string, users: KubeconfigUser[], namespace = 'default'): Promise<void> {
  const b64 = async (f: string): Promise<string> => (await readFile(f)).toString('base64');
  const userEntries = await Promise.all(
    users.map(async (u) => ({
      name: u.name,
      user: { 'client-certificate-data': await b64(u.certFile), 'client-key-data': await b64(u.keyFile) },
    })),
  );
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kubeless-stack', cluster: { server, 'certificate-authority-data': await b64(caFile) } }],
    users: userEntries,
    contexts: users.map((u) => ({ name: u.name, context: { cluster: 'kubeless-stack', user: u.name, namespace } })),
    'current-context': users[0]?.name ?? '',
    preferences: {},
  };
  // JSON is valid YAML, and kubectl and client-node read it.
  await writeFile(file, JSON.stringify(config, null, 2), { mode: 0o600 });
}
