#!/usr/bin/env node
/**
 * Derives the API calls one controller really makes from a kube-apiserver audit log (JSON lines,
 * level Metadata or above), attributed to the controller's ServiceAccount: in the stack every
 * controller runs on a TokenRequest token of its own ServiceAccount (test/stack/src/identities.ts),
 * so the audit log's `user.username` says who made each call, whatever client or test started it.
 *
 *   node test/helm/audit-verbs.mjs <audit.log>... --user system:serviceaccount:kubeless:kubeless-kafka-trigger \
 *     > test/helm/fixtures/kafka-trigger-verbs.json
 *   node test/helm/audit-verbs.mjs <audit.log> --all > (writes every controller's fixture; see below)
 *
 * Output: one entry per distinct (verb, group, resource, subresource, scope), sorted, where scope
 * is `namespaced` (the request named a namespace) or `cluster`. Namespaces, names and response
 * codes are dropped: a role grants verbs on kinds, and a 404 GET is a call the role must allow.
 * Requests the API server refused (403) are kept too, so a missing rule shows as a fixture entry
 * the RBAC test finds denied. Requests without an objectRef (discovery, /version) are left out:
 * every authenticated user may make them (system:discovery). Exits non-zero when no request
 * matched, so an empty fixture is never written by mistake.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const CONTROLLERS = ['function-controller', 'http-trigger', 'kafka-trigger', 'sqs-trigger', 'cronjob-trigger'];
/** The stack's ServiceAccount of a controller (release `kubeless` in namespace `kubeless`). */
export const stackUser = (controller) => `system:serviceaccount:kubeless:kubeless-${controller}`;

/**
 * @param {string} text audit log contents (JSON lines)
 * @param {string} user requests of this username are kept
 * @returns {{verb: string, group: string, resource: string, subresource: string, scope: 'namespaced' | 'cluster'}[]}
 */
export function deriveVerbs(text, user) {
  const seen = new Map();
  for (const line of text.split('\n')) {
    if (!line.includes(user)) continue;
    let ev;
    try {
      ev = JSON.parse(line);
    } catch {
      continue; // a line cut by log rotation
    }
    if (ev.user?.username !== user) continue;
    if (ev.stage !== undefined && ev.stage !== 'ResponseComplete' && ev.stage !== 'ResponseStarted') continue;
    const ref = ev.objectRef;
    if (!ref?.resource) continue;
    const entry = {
      verb: ev.verb,
      group: ref.apiGroup ?? '',
      resource: ref.resource,
      subresource: ref.subresource ?? '',
      scope: ref.namespace ? 'namespaced' : 'cluster',
    };
    seen.set(JSON.stringify(entry), entry);
  }
  const key = (e) => `${e.group}/${e.resource}/${e.subresource}/${e.scope}/${e.verb}`;
  return [...seen.values()].sort((a, b) => key(a).localeCompare(key(b)));
}

/**
 * The requests of `user` the API server refused (403), each once.
 * @param {string} text
 * @param {string} user
 * @returns {{verb: string, group: string, resource: string, subresource: string, namespace: string, name: string, uri: string}[]}
 */
export function forbiddenRequests(text, user) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line.includes(user) || !line.includes('403')) continue;
    let ev;
    try {
      ev = JSON.parse(line);
    } catch {
      continue;
    }
    if (ev.user?.username !== user || ev.responseStatus?.code !== 403 || !ev.objectRef?.resource) continue;
    const r = ev.objectRef;
    const entry = { verb: ev.verb, group: r.apiGroup ?? '', resource: r.resource, subresource: r.subresource ?? '', namespace: r.namespace ?? '', name: r.name ?? '', uri: `${ev.verb} ${ev.requestURI}` };
    out.set(JSON.stringify({ ...entry, uri: '' }), entry);
  }
  return [...out.values()];
}

const fixtureOf = (user, verbs) => ({
  comment: `API calls of ${user}, derived from the audit log of the integration run by test/helm/audit-verbs.mjs; do not edit by hand`,
  user,
  verbs,
});

function main(argv) {
  const files = [];
  let user;
  let all = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--user') user = argv[++i];
    else if (argv[i] === '--all') all = true;
    else files.push(argv[i]);
  }
  if ((!user && !all) || files.length === 0) {
    process.stderr.write('usage: audit-verbs.mjs <audit.log>... (--user <username> | --all)\n');
    process.exit(2);
  }
  const text = files.map((f) => readFileSync(f, 'utf8')).join('\n');
  const users = all ? CONTROLLERS.map((c) => [c, stackUser(c)]) : [[undefined, user]];
  for (const [controller, u] of users) {
    const verbs = deriveVerbs(text, u);
    if (verbs.length === 0) {
      process.stderr.write(`no request of ${u} in ${files.join(', ')}\n`);
      process.exit(1);
    }
    if (controller === undefined) {
      process.stdout.write(JSON.stringify(fixtureOf(u, verbs), null, 2) + '\n');
    } else {
      const file = path.join(import.meta.dirname, 'fixtures', `${controller}-verbs.json`);
      writeFileSync(file, JSON.stringify(fixtureOf(u, verbs), null, 2) + '\n');
      process.stderr.write(`${file}: ${String(verbs.length)} calls\n`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2));
