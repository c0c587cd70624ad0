/** Server-side apply of manifests of any kind (the kind's resource is found by discovery). */
import type { KubeObject } from '../../api/meta.js';
import type { KubeClient } from './rest.js';

/**
 * Applies `objects` in order with server-side apply, taking ownership of conflicting fields
 * (`force`): the caller is the source of truth for what it applies. Objects without a namespace
 * get `options.namespace` if they are of a namespaced kind. Returns what the server stored.
 */
export async function applyObjects<T extends KubeObject>(
  client: KubeClient,
  objects: readonly T[],
  fieldManager: string,
  options: { namespace?: string; dryRun?: boolean } = {},
): Promise<T[]> {
  const applied: T[] = [];
  for (const object of objects) {
    const type = await client.resourceFor(object.apiVersion ?? '', object.kind ?? '');
    const namespace = type.namespaced ? (object.metadata?.namespace ?? options.namespace) : undefined;
    const placed = namespace ? { ...object, metadata: { ...object.metadata, namespace } } : object;
    applied.push(await client.apply(type, placed, fieldManager, { dryRun: options.dryRun ?? false }));
  }
  return applied;
}
