/** @kubeless/kafka-trigger: the package's public surface grows with its issue. */
export const COMPONENT = 'kafka-trigger';
