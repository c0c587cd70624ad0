/** Waiting for CustomResourceDefinitions to be served. */
import { ApiextensionsV1Api, type KubeConfig, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient } from './rest.js';

const POLL_MS = 100;

function condition(crd: V1CustomResourceDefinition, type: string): { status: string; message?: string } | undefined {
  return crd.status?.conditions?.find((c) => c.type === type);
}

/**
 * Resolves once every CRD in `names` is Established (its API is served), and returns them as the
 * server has them. Fails fast, with the server's message, when one is rejected (NamesAccepted=False).
 */
export async function waitForCrdsEstablished(kc: KubeConfig, names: readonly string[], timeoutMs: number): Promise<V1CustomResourceDefinition[]> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(names);
  const established = new Map<string, V1CustomResourceDefinition>();
  while (pending.size) {
    for (const name of [...pending]) {
      const crd = await api.readCustomResourceDefinition({ name });
      const namesAccepted = condition(crd, 'NamesAccepted');
      if (namesAccepted?.status === 'False') throw new Error(`CRD ${name} names not accepted: ${namesAccepted.message ?? ''}`);
      if (condition(crd, 'Established')?.status === 'True') {
        pending.delete(name);
        established.set(name, crd);
      }
    }
    if (!pending.size) break;
    if (Date.now() > deadline) throw new Error(`CRDs not Established after ${timeoutMs} ms: ${[...pending].join(', ')}`);
    await sleep(POLL_MS);
  }
  return names.map((name) => established.get(name)!);
}

/**
 * Resolves once the API server publishes the OpenAPI v3 schema of every kind in `kinds` for
 * `group/version` (what `kubectl explain` reads); that happens a few seconds after Established.
 */
export async function waitForOpenApiPublished(
  kc: KubeConfig,
  group: string,
  version: string,
  kinds: readonly string[],
  timeoutMs: number,
): Promise<void> {
  const client = new KubeClient(kc);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const document = await client
        .request<{ components?: { schemas?: Record<string, SchemaWithGvk> } }>('GET', `/openapi/v3/apis/${group}/${version}`)
        .catch(() => undefined); // 404 until the first CRD of the group is published
      const schemas = Object.values(document?.components?.schemas ?? {});
      const published = new Set(schemas.flatMap((s) => s['x-kubernetes-group-version-kind'] ?? []).map((g) => g.kind));
      if (kinds.every((k) => published.has(k))) return;
      if (Date.now() > deadline) throw new Error(`OpenAPI for ${group}/${version} not published after ${timeoutMs} ms (kinds: ${kinds.join(', ')})`);
      await sleep(POLL_MS * 5);
    }
  } finally {
    client.close();
  }
}

interface SchemaWithGvk {
  'x-kubernetes-group-version-kind'?: Array<{ group: string; version: string; kind: string }>;
}
