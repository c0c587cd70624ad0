/** Waiting for CustomResourceDefinitions to be served. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CustomResourceDefinition } from '../../api/crd.js';
import type { KubeClient, ResourceType } from './rest.js';

const POLL_MS = 100;

const CRDS: ResourceType = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  plural: 'customresourcedefinitions',
  kind: 'CustomResourceDefinition',
  namespaced: false,
};

/** A CRD as the server returns it, with its status. */
export type ServedCrd = CustomResourceDefinition & {
  status?: { conditions?: Array<{ type: string; status: string; message?: string }> };
};

function condition(crd: ServedCrd, type: string): { status: string; message?: string } | undefined {
  return crd.status?.conditions?.find((c) => c.type === type);
}

/**
 * Resolves once every CRD in `names` is Established (its API is served), and returns them as the
 * server has them. Fails fast, with the server's message, when one is rejected (NamesAccepted=False).
 */
export async function waitForCrdsEstablished(
  client: KubeClient,
  names: readonly string[],
  timeoutMs: number,
): Promise<ServedCrd[]> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(names);
  const established = new Map<string, ServedCrd>();
  while (pending.size) {
    for (const name of [...pending]) {
      const crd = await client.get<ServedCrd>(CRDS, undefined, name);
      if (!crd) throw new Error(`CRD ${name} does not exist`);
      const namesAccepted = condition(crd, 'NamesAccepted');
      if (namesAccepted?.status === 'False')
        throw new Error(`CRD ${name} names not accepted: ${namesAccepted.message ?? ''}`);
      if (condition(crd, 'Established')?.status === 'True') {
        pending.delete(name);
        established.set(name, crd);
      }
    }
    if (!pending.size) break;
    if (Date.now() > deadline)
      throw new Error(`CRDs not Established after ${timeoutMs} ms: ${[...pending].join(', ')}`);
    await sleep(POLL_MS);
  }
  return names.map((name) => established.get(name)!);
}

/**
 * Resolves once the API server publishes the OpenAPI v3 schema of every kind in `kinds` for
 * `group/version` (what `kubectl explain` reads); that happens a few seconds after Established.
 */
export async function waitForOpenApiPublished(
  client: KubeClient,
  group: string,
  version: string,
  kinds: readonly string[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const document = await client
      .request<{ components?: { schemas?: Record<string, SchemaWithGvk> } }>(
        'GET',
        `/openapi/v3/apis/${group}/${version}`,
      )
      .catch(() => undefined); // 404 until the first CRD of the group is published
    const schemas = Object.values(document?.components?.schemas ?? {});
    const published = new Set(schemas.flatMap((s) => s['x-kubernetes-group-version-kind'] ?? []).map((g) => g.kind));
    if (kinds.every((k) => published.has(k))) return;
    if (Date.now() > deadline)
      throw new Error(
        `OpenAPI for ${group}/${version} not published after ${timeoutMs} ms (kinds: ${kinds.join(', ')})`,
      );
    await sleep(POLL_MS * 5);
  }
}

interface SchemaWithGvk {
  'x-kubernetes-group-version-kind'?: Array<{ group: string; version: string; kind: string }>;
}
