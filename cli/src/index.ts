/** The `kubeless` CLI as a library: the command tree and its pure helpers (the binary is main.ts). */
export { buildProgram, commandTree } from './program.js';
export { createApp, type App, type CliEnv } from './app.js';
export { buildFunction, updateFunction, codeFromFile, codeFromUrl, type FunctionFlags, type CodeSource } from './function-spec.js';
export { buildHttpTrigger, buildKafkaTrigger, buildSqsTrigger, updateHttpTrigger, updateKafkaTrigger, updateSqsTrigger } from './trigger-spec.js';
export { buildHpa } from './autoscale-spec.js';
export { runtimeList, checkRuntime, DEFAULT_RUNTIME_IDS } from './runtimes.js';
export { errorMessage, CliError } from './errors.js';
