/** @kubeless/http-trigger: HTTPTrigger -> Ingress or HTTPRoute (+ gateway objects) for nginx, traefik and kong. */
export const COMPONENT = 'http-trigger';
export { buildHttpTriggerController, type HttpTriggerControllerOptions, type HttpTriggerControllerParts } from './assemble.js';
export { HttpTriggerReconciler, FIELD_MANAGER, RECHECK_MS, type HttpTriggerObject } from './reconcile.js';
export { planHttpTrigger, normalisePath, PlanError, TRIGGER_LABEL, ANNOTATION_NOT_ALLOWED, type HttpTriggerPlan, type PlanSettings, type Backend } from './plan.js';
export { annotationPolicy, filterAnnotations, DEFAULT_ANNOTATION_DENY, DEFAULT_ANNOTATION_POLICY, GENERATED_ANNOTATIONS, type AnnotationPolicy } from './annotations.js';
export { childName, incarnationName, kongIdentity } from './names.js';
