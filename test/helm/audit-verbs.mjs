#!/usr/bin/env node
/**
 * Derives the API calls one controller really makes from a kube-apiserver audit log (JSON lines,
 * level Metadata or above), attributed by the user agent the controller sets
 * (`KubeClient.fromKubeconfig(path, { userAgent })`, e.g. `kubeless-function-controller/<id>`).
 *
 *   node test/helm/audit-verbs.mjs <audit.log>... --user-agent kubeless-function-controller/ \
 *     > test/helm/fixtures/function-controller-verbs.json
 *
 * Output: one entry per distinct (verb, group, resource, subresource, scope), sorted, where scope
 * is `namespaced` (the request named a namespace) or `cluster`. Namespaces, names and response
 * codes are dropped: a role grants verbs on kinds, and a 404 GET is a call the role must allow.
 * Requests without an objectRef (discovery, /version) are left out: every authenticated user may
 * make them (system:discovery). Exits non-zero when no request matched, so an empty fixture is
 * never written by mistake.
 */
import { readFileSync } from 'node:fs';

/**
 * @param {string} text audit log contents (JSON lines)
 * @param {string} userAgentPrefix requests whose userAgent starts with this are kept
 * @param {string[]} [excludeUserAgents] ...except these exact user agents (test clients that borrow
 *   the controller's name for their own calls)
 * @returns {{verb: string, group: string, resource: string, subresource: string, scope: 'namespaced' | 'cluster'}[]}
 */
export function deriveVerbs(text, userAgentPrefix, excludeUserAgents = []) {
  const seen = new Map();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let ev;
    try {
      ev = JSON.parse(line);
    } catch {
      continue; // a line cut by log rotation
    }
    if (typeof ev.userAgent !== 'string' || !ev.userAgent.startsWith(userAgentPrefix)) continue;
    if (excludeUserAgents.includes(ev.userAgent)) continue;
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

function main(argv) {
  const files = [];
  const exclude = [];
  let prefix;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--user-agent') prefix = argv[++i];
    else if (argv[i] === '--exclude-user-agent') exclude.push(argv[++i]);
    else files.push(argv[i]);
  }
  if (!prefix || files.length === 0) {
    process.stderr.write('usage: audit-verbs.mjs <audit.log>... --user-agent <prefix> [--exclude-user-agent <agent>]...\n');
    process.exit(2);
  }
  const verbs = deriveVerbs(files.map((f) => readFileSync(f, 'utf8')).join('\n'), prefix, exclude);
  if (verbs.length === 0) {
    process.stderr.write(`no request with a user agent starting "${prefix}" in ${files.join(', ')}\n`);
    process.exit(1);
  }
  const out = {
    comment: `API calls of the controller whose user agent starts "${prefix}", derived from the audit log of its integration run by test/helm/audit-verbs.mjs; do not edit by hand`,
    userAgentPrefix: prefix,
    verbs,
  };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2));
