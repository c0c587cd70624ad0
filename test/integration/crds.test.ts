import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { JSONSchemaProps as V1JSONSchemaProps } from '../../api/schema.js';
import { execFileSync } from 'node:child_process';
import { GROUP, KINDS, VERSION } from '../../api/v1alpha1/index.js';
import { toolPath } from '../../hack/tools.js';
import { waitForOpenApiPublished } from '../../lib/kube/crds.js';
import type { KubeClient } from '../../lib/kube/rest.js';
import type { ServedCrd } from '../../lib/kube/crds.js';
import { installCrds, testClient } from '../support/cluster.js';

/** Paths of every schema node under `schema` that has no description (root metadata excepted). */
function undescribed(schema: V1JSONSchemaProps, path: string): string[] {
  const missing = schema.description?.trim() ? [] : [path];
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    if (path === '' && name === 'metadata') continue; // ObjectMeta: documented by the API server
    missing.push(...undescribed(child, path ? `${path}.${name}` : name));
  }
  if (schema.items) missing.push(...undescribed(schema.items, `${path}[]`));
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    missing.push(...undescribed(schema.additionalProperties, `${path}{}`));
  }
  return missing;
}

describe('Kmesh CRDs on a real API server', () => {
  let client: KubeClient;
  let crds: ServedCrd[];

  beforeAll(async () => {
    client = testClient();
    crds = await installCrds(client);
  });
  afterAll(() => client.close());

  it('installs one Established CRD per kind', () => {
    expect(crds.map((c) => c.spec.names.kind).sort()).toEqual(KINDS.map((k) => k.kind).sort());
    for (const crd of crds) {
      expect(crd.status?.conditions?.find((c) => c.type === 'Established')?.status).toBe('True');
    }
  });

  it.each(KINDS.map((k) => [k.kind, k] as const))(
    '%s is namespaced, in category kmesh, with short names and a status subresource',
    (_kind, def) => {
      const crd = crds.find((c) => c.spec.names.kind === def.kind)!;
      expect(crd.spec.scope).toBe('Namespaced');
      expect(crd.spec.group).toBe('kmesh.io');
      expect(crd.spec.names.categories).toEqual(['kmesh']);
      expect(crd.spec.names.shortNames).toEqual(def.shortNames);
      const version = crd.spec.versions.find((v) => v.name === 'v1alpha1')!;
      expect(version.subresources?.status).toEqual({});
      const columns = version.additionalPrinterColumns?.map((c) => c.name) ?? [];
      expect(columns).toEqual([...def.printerColumns.map((c) => c.name), 'Age']);
    },
  );

  it.each(KINDS.map((k) => [k.kind]))('%s describes every field of its schema', (kind) => {
    const crd = crds.find((c) => c.spec.names.kind === kind)!;
    const schema = crd.spec.versions[0]!.schema.openAPIV3Schema;
    expect(undescribed(schema, '')).toEqual([]);
  });

  it.each(KINDS.map((k) => [k.kind, k] as const))('kubectl explain %s shows the descriptions', async (_kind, def) => {
    await waitForOpenApiPublished(
      client,
      GROUP,
      VERSION,
      KINDS.map((k) => k.kind),
      60_000,
    );
    const explain = (field: string): string =>
      execFileSync(toolPath('kubectl'), ['explain', field, '--kubeconfig', process.env['KUBECONFIG']!], {
        encoding: 'utf8',
      }).replace(/\s+/g, ' ');
    expect(explain(def.singular)).toContain(def.description.split(' ').slice(0, 6).join(' '));
    expect(explain(`${def.singular}.spec`)).toContain(def.spec.description!.split(' ').slice(0, 4).join(' '));
  });

  it('the description walker finds a field without description', () => {
    const schema: V1JSONSchemaProps = {
      type: 'object',
      description: 'root',
      properties: {
        spec: {
          type: 'object',
          description: 'spec',
          properties: {
            list: {
              type: 'array',
              description: 'list',
              items: { type: 'object', properties: { x: { type: 'string' } }, description: 'item' },
            },
          },
        },
      },
    };
    expect(undescribed(schema, '')).toEqual(['spec.list[].x']);
  });
});
