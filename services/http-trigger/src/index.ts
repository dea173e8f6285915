/** @kubeless/http-trigger: HTTPTrigger -> Ingress or HTTPRoute (+ gateway objects) for nginx, traefik and kong. */
export const COMPONENT = 'http-trigger';
export { buildHttpTriggerController, type HttpTriggerControllerOptions, type HttpTriggerControllerParts } from './controller.js';
export { HttpTriggerReconciler, FIELD_MANAGER, RECHECK_MS, type HttpTriggerObject } from './reconcile.js';
export { planHttpTrigger, normalisePath, PlanError, TRIGGER_LABEL, type HttpTriggerPlan, type PlanSettings, type Backend } from './plan.js';
