/** Server-side apply of arbitrary objects, with one field manager per caller. */
import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

/**
 * Applies `objects` in order with server-side apply, taking ownership of conflicting fields
 * (`force`): the caller is the source of truth for what it applies. Returns what the server stored.
 */
export async function applyObjects<T extends KubernetesObject>(
  kc: KubeConfig,
  objects: readonly T[],
  fieldManager: string,
  options: { namespace?: string; dryRun?: boolean } = {},
): Promise<T[]> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  const applied: T[] = [];
  for (const object of objects) {
    const withNamespace =
      options.namespace && !object.metadata?.namespace
        ? { ...object, metadata: { ...object.metadata, namespace: options.namespace } }
        : object;
    applied.push(
      await client.patch(withNamespace, undefined, options.dryRun ? 'All' : undefined, fieldManager, true, PatchStrategy.ServerSideApply),
    );
  }
  return applied;
}
