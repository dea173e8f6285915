export { buildFunctionController, type FunctionControllerOptions } from './assemble.js';
export { planFunction, PlanError, type FunctionPlan } from './plan.js';
export { FunctionReconciler, FIELD_MANAGER } from './reconcile.js';
