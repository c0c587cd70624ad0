/** Waiting for CustomResourceDefinitions to be served. */
import { ApiextensionsV1Api, type KubeConfig, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';

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
