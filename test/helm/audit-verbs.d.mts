/** Types of audit-verbs.mjs (a plain Node script, so it runs without a build). */
export interface AuditVerb {
  verb: string;
  group: string;
  resource: string;
  subresource: string;
  scope: 'namespaced' | 'cluster';
}
export function deriveVerbs(text: string, userAgentPrefix: string, excludeUserAgents?: string[]): AuditVerb[];
