export { buildFunctionController, type FunctionControllerOptions } from './controller.js';
export { planFunction, PlanError, type FunctionPlan } from './plan.js';
export { parseConfig, defaultConfig, runtimeIds, resolveRuntime, CONFIG_NAME, type KubelessConfig } from './runtime-config.js';
export { FunctionReconciler, FIELD_MANAGER } from './reconcile.js';
