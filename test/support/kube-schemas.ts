/**
 * JSON schemas for kubeconform, made from a real API server's OpenAPI document (the test control
 * plane, with the Kmesh CRDs installed): no network, and exactly the Kubernetes version we test
 * against. One small file per kind, `<group>-<kind>-<version>.json`, pointing into one shared
 * `_definitions.json`. Strict: objects allow no property their schema does not name.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeClient } from '../../lib/kube/rest.js';

type Schema = Record<string, unknown> & {
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: unknown;
};
interface OpenApiV2 {
  definitions: Record<
    string,
    Schema & { 'x-kubernetes-group-version-kind'?: { group: string; kind: string; version: string }[] }
  >;
}

/** kubeconform's -schema-location template matching the files written here. */
export const SCHEMA_LOCATION_TEMPLATE = '{{ .Group }}-{{ .ResourceKind }}-{{ .ResourceAPIVersion }}.json';

function strict(schema: Schema): Schema {
  // IntOrString is published as a string with a format; manifests rightly use plain integers too.
  if (schema['format'] === 'int-or-string') return { oneOf: [{ type: 'string' }, { type: 'integer' }] };
  const out: Schema = { ...schema };
  delete out['format']; // int32, int64, byte…: not JSON-schema formats
  if (out.properties) {
    out.properties = Object.fromEntries(Object.entries(out.properties).map(([k, v]) => [k, strict(v)]));
    if (out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields'])
      out.additionalProperties = false;
  }
  if (out.items) out.items = strict(out.items);
  if (out.additionalProperties && typeof out.additionalProperties === 'object')
    out.additionalProperties = strict(out.additionalProperties as Schema);
  return out;
}

/** Writes a schema file for every kind the API server serves; returns how many. */
export async function writeKubeSchemas(client: KubeClient, dir: string): Promise<number> {
  const openapi = await client.request<OpenApiV2>('GET', '/openapi/v2');
  const definitions = Object.fromEntries(
    Object.entries(openapi.definitions).map(([name, schema]) => [name, strict(schema)]),
  );
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '_definitions.json'), JSON.stringify({ definitions }));
  let written = 0;
  for (const [name, schema] of Object.entries(openapi.definitions)) {
    for (const gvk of schema['x-kubernetes-group-version-kind'] ?? []) {
      // kubeconform's {{ .Group }} of a core kind (apiVersion v1) is "v1".
      writeFileSync(
        join(dir, `${gvk.group || gvk.version}-${gvk.kind.toLowerCase()}-${gvk.version}.json`),
        JSON.stringify({ $ref: `_definitions.json#/definitions/${name}` }),
      );
      written++;
    }
  }
  return written;
}
