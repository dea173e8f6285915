/** kubeless-config is API surface: its parser and defaults live in @kubeless/api (kubeless-config.ts). */
export { KUBELESS_CONFIG_NAME as CONFIG_NAME } from '@kubeless/api';
