/**
 * A typed subset of the OpenAPI v3 schema that apiextensions.k8s.io/v1 accepts, and small builders
 * that keep the CRD definitions readable. Builders return plain objects; key order is stable so the
 * generated YAML is deterministic.
 */
export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

export interface Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  format?: string;
  pattern?: string;
  enum?: (string | number | boolean)[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema | boolean;
  nullable?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-validations'?: ValidationRule[];
}

type Extra = Omit<Schema, 'type' | 'properties' | 'items'>;

export const s = {
  string: (description: string, extra: Extra = {}): Schema => ({ type: 'string', description, ...extra }),
  boolean: (description: string, extra: Extra = {}): Schema => ({ type: 'boolean', description, ...extra }),
  integer: (description: string, extra: Extra = {}): Schema => ({ type: 'integer', description, ...extra }),
  number: (description: string, extra: Extra = {}): Schema => ({ type: 'number', description, ...extra }),
  enumOf: (description: string, values: readonly string[], extra: Extra = {}): Schema => ({
    type: 'string',
    description,
    enum: [...values],
    ...extra,
  }),
  array: (description: string, items: Schema, extra: Extra = {}): Schema => ({ type: 'array', description, items, ...extra }),
  map: (description: string, values: Schema, extra: Extra = {}): Schema => ({
    type: 'object',
    description,
    additionalProperties: values,
    ...extra,
  }),
  object: (description: string, properties: Record<string, Schema>, extra: Extra = {}): Schema => ({
    type: 'object',
    description,
    properties,
    ...extra,
  }),
  /** An embedded Kubernetes object or spec kept as written (Deployment, ServiceSpec, HPA). */
  opaque: (description: string): Schema => ({
    type: 'object',
    description,
    'x-kubernetes-preserve-unknown-fields': true,
  }),
};
