/**
 * A small builder for Kubernetes structural OpenAPI schemas.
 *
 * The Kmesh API is written once, in `api/v1alpha1/*.ts`, with these helpers. `hack/gen-api.ts`
 * renders the CRD YAML in `crds/` and the TypeScript interfaces in `api/v1alpha1/generated/` from
 * the same definitions, so the two can never drift. Every helper takes the field's description
 * first: `kubectl explain` is our reference documentation, and a field without one is a bug.
 */

/** One CEL rule (`x-kubernetes-validations`), with a message a person understands. */
export interface ValidationRule {
  rule: string;
  message: string;
  /** Path the error is reported at, relative to the schema the rule sits on (e.g. `.keySecretRef`). */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps that Kmesh uses. */
export interface JSONSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  format?: string;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  additionalProperties?: JSONSchemaProps;
  items?: JSONSchemaProps;
  enum?: readonly (string | number)[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-validations'?: ValidationRule[];
}

/** Options every helper accepts; they map one to one onto schema keywords. */
export type Options = Omit<JSONSchemaProps, 'type' | 'description' | 'properties' | 'items' | 'required'> & {
  /** CEL rules for this field (cross-field rules go on the nearest common parent). */
  rules?: ValidationRule[];
};

/** Marks a property as required; recorded here rather than in the schema so `object()` can collect it. */
const requiredFields = new WeakSet<JSONSchemaProps>();
/** TypeScript interface names for object schemas; only the type generator reads them. */
const typeNames = new WeakMap<JSONSchemaProps, string>();

function build(type: JSONSchemaProps['type'], description: string, options: Options = {}): JSONSchemaProps {
  const { rules, ...rest } = options;
  const schema: JSONSchemaProps = { ...(type ? { type } : {}), description, ...rest };
  if (rules?.length) schema['x-kubernetes-validations'] = rules;
  return schema;
}

/** Marks `schema` as a required property of the object it is placed in. */
export function required(schema: JSONSchemaProps): JSONSchemaProps {
  requiredFields.add(schema);
  return schema;
}

export function isRequired(schema: JSONSchemaProps): boolean {
  return requiredFields.has(schema);
}

/** The interface name `schema` is generated under, if it was given one with `named()`. */
export function typeName(schema: JSONSchemaProps): string | undefined {
  return typeNames.get(schema);
}

export function string(description: string, options?: Options): JSONSchemaProps {
  return build('string', description, options);
}

export function integer(description: string, options?: Options): JSONSchemaProps {
  return build('integer', description, { format: 'int64', ...options });
}

export function boolean(description: string, options?: Options): JSONSchemaProps {
  return build('boolean', description, options);
}

/** A string limited to `values`; the API server names the allowed values in its error. */
export function enumeration(description: string, values: readonly string[], options?: Options): JSONSchemaProps {
  return build('string', description, { enum: values, ...options });
}

export function array(description: string, items: JSONSchemaProps, options?: Options): JSONSchemaProps {
  return { ...build('array', description, options), items };
}

/** A string-keyed map (`additionalProperties`). */
export function map(description: string, values: JSONSchemaProps, options?: Options): JSONSchemaProps {
  return { ...build('object', description, options), additionalProperties: values };
}

/** An object; properties wrapped in `required()` go into its `required` list. */
export function object(
  description: string,
  properties: Record<string, JSONSchemaProps>,
  options?: Options,
): JSONSchemaProps {
  const schema: JSONSchemaProps = { ...build('object', description, options), properties };
  const requiredNames = Object.keys(properties).filter((name) => isRequired(properties[name]!));
  if (requiredNames.length) schema.required = requiredNames;
  return schema;
}

/** Gives an object schema an interface name in the generated TypeScript. Returns a fresh copy each call. */
export function named(name: string, schema: JSONSchemaProps): JSONSchemaProps {
  const copy = { ...schema };
  typeNames.set(copy, name);
  return copy;
}

/** Re-describes a shared schema for one place it is used, keeping its type name and requiredness. */
export function describe(schema: JSONSchemaProps, description: string, options: Options = {}): JSONSchemaProps {
  const { rules, ...rest } = options;
  const copy: JSONSchemaProps = { ...schema, description, ...rest };
  if (rules?.length) copy['x-kubernetes-validations'] = [...(schema['x-kubernetes-validations'] ?? []), ...rules];
  const name = typeNames.get(schema);
  if (name) typeNames.set(copy, name);
  return copy;
}
