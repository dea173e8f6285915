/** Types of audit-verbs.mjs (a plain Node script, so it runs without a build). */
export interface AuditVerb {
  verb: string;
  group: string;
  resource: string;
  subresource: string;
  scope: 'namespaced' | 'cluster';
}
export const CONTROLLERS: readonly ['function-controller', 'http-trigger', 'kafka-trigger', 'sqs-trigger', 'cronjob-trigger'];
export function stackUser(controller: string): string;
export function deriveVerbs(text: string, user: string): AuditVerb[];
export interface RefusedRequest {
  verb: string;
  group: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  /** `verb requestURI`, for messages. */
  uri: string;
}
export function forbiddenRequests(text: string, user: string): RefusedRequest[];
