/**
 * The writes every reconciler makes, each done only when needed so a settled object costs no
 * write: finalizers (with optimistic concurrency, so a stale cache gets a 409 and a quiet
 * requeue), status through the status subresource, and children through server-side apply.
 */
import { createHash } from 'node:crypto';
import type { KubeObject } from '../../api/meta.js';
import { EventReasons } from '../../api/v1alpha1/index.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import { resourcePath, type KubeClient, type ResourceType, type WireObject } from '../../lib/kube/rest.js';
import { differs } from './children.js';
import type { EventRecorder } from './events.js';

/** Hash of the child as last applied (see `stamped`). */
export const APPLIED_HASH_ANNOTATION = 'kmesh.io/applied-hash';

/** The field manager of everything the operator applies. */
export const FIELD_MANAGER = 'kmesh-operator';

type Named = KubeObject & { metadata: NonNullable<KubeObject['metadata']> };

/** Adds `finalizer` (before any external side effect); returns the object as stored. */
export async function ensureFinalizer<T extends Named>(
  client: KubeClient,
  type: ResourceType,
  object: T,
  finalizer: string,
): Promise<T> {
  const finalizers = object.metadata.finalizers ?? [];
  if (finalizers.includes(finalizer)) return object;
  return client.mergePatch<T>(type, object.metadata.namespace, object.metadata.name!, {
    metadata: { finalizers: [...finalizers, finalizer], resourceVersion: object.metadata.resourceVersion },
  });
}

/** Removes `finalizer` (the last step of deletion). */
export async function removeFinalizer<T extends Named>(
  client: KubeClient,
  type: ResourceType,
  object: T,
  finalizer: string,
): Promise<void> {
  const finalizers = object.metadata.finalizers ?? [];
  if (!finalizers.includes(finalizer)) return;
  await client.mergePatch(type, object.metadata.namespace, object.metadata.name!, {
    metadata: {
      finalizers: finalizers.filter((f) => f !== finalizer),
      resourceVersion: object.metadata.resourceVersion,
    },
  });
}

/** True when two JSON values are equal (key order aside). */
export function sameJson(a: unknown, b: unknown): boolean {
  return !differs(a, b) && !differs(b, a);
}

/** Replaces the status of `object` with `status` unless it is already that; returns whether it wrote. */
export async function writeStatus<T extends Named & { status?: unknown }>(
  client: KubeClient,
  type: ResourceType,
  object: T,
  status: unknown,
): Promise<boolean> {
  if (sameJson(object.status ?? {}, status)) return false;
  await client.request(
    'PUT',
    resourcePath(type, { namespace: object.metadata.namespace, name: object.metadata.name, subresource: 'status' }),
    {
      body: { ...object, status },
    },
  );
  return true;
}

/**
 * Server-side applies each desired child that is missing or differs from the cluster's copy
 * (`observed` looks it up in the caches), and records one Event for what changed (one per
 * reconcile, not per child: each Event is a write the API server must take).
 */
export async function applyChildren(
  client: KubeClient,
  events: EventRecorder,
  owner: KubeObject,
  desired: readonly WireObject[],
  types: (child: WireObject) => ResourceType,
  observed: (child: WireObject) => WireObject | undefined,
): Promise<number> {
  const created: string[] = [];
  const updated: string[] = [];
  try {
    for (const unstamped of desired) {
      const child = stamped(unstamped);
      const current = observed(child);
      if (current && !differs(child, current)) continue;
      await client.apply(types(child), child, FIELD_MANAGER);
      (current ? updated : created).push(`${child.kind} ${child.metadata?.name}`);
    }
  } finally {
    // Also when a later child fails: the ones applied before it did change.
    if (created.length) await events.normal(owner, EventReasons.Created, `created ${created.join(', ')}`);
    if (updated.length)
      await events.normal(owner, EventReasons.Updated, `updated ${updated.join(', ')} to match the spec`);
  }
  return created.length + updated.length;
}

/**
 * The child with a hash of itself as an annotation. `differs` only sees fields the desired object
 * sets, so a field the operator stopped setting (a nodeSelector removed from the spec) would go
 * unnoticed; it changes the hash, the child is applied again, and server-side apply removes the
 * field the operator no longer claims.
 */
function stamped(child: WireObject): WireObject {
  const hash = createHash('sha256').update(JSON.stringify(child)).digest('hex').slice(0, 16);
  const metadata = child.metadata ?? {};
  return {
    ...child,
    metadata: { ...metadata, annotations: { ...metadata.annotations, [APPLIED_HASH_ANNOTATION]: hash } },
  };
}

/** The resource type of a child, by its kind (every child kind is one of RESOURCES). */
export function resourceOf(child: WireObject): ResourceType {
  const type = Object.values(RESOURCES).find((t) => t.kind === child.kind);
  if (!type) throw new Error(`no resource type for child kind ${child.kind}`);
  return type;
}

/** applyChildren for children the controller owns: each is looked up among `owned(type)` by name. */
export function applyOwned(
  client: KubeClient,
  events: EventRecorder,
  owner: KubeObject,
  desired: readonly WireObject[],
  owned: (type: ResourceType) => WireObject[],
): Promise<number> {
  return applyChildren(client, events, owner, desired, resourceOf, (child) =>
    owned(resourceOf(child)).find((o) => o.metadata?.name === child.metadata?.name),
  );
}
