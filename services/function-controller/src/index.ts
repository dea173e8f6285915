/** @kubeless/function-controller: the package's public surface grows with its issue. */
export const COMPONENT = 'function-controller';
