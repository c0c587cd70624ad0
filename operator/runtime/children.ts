/**
 * Children of a Kmesh object: their names, the labels and owner reference that tie them to it, and
 * whether the one in the cluster already matches what we would apply.
 */
import { createHash } from 'node:crypto';
import type { KubeObject, ObjectMeta } from '../../api/meta.js';

/** Label on every child: the owner's UID, for sweeping and for mapping child events to owners. */
export const OWNER_UID_LABEL = 'kmesh.io/owner-uid';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'kmesh-operator';
/** Selects every object the operator manages; child informers watch only these. */
export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

const MAX_NAME_LENGTH = 63;

/**
 * `<owner>-<role>`, or, when that is longer than 63 characters (a DNS label, which Services and
 * StatefulSet pods need), the owner name cut short plus a hash of the full name so it stays unique.
 */
export function childName(owner: string, role: string): string {
  const full = `${owner}-${role}`;
  if (full.length <= MAX_NAME_LENGTH) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 8);
  const keep = MAX_NAME_LENGTH - role.length - hash.length - 2;
  return `${owner.slice(0, keep).replace(/-+$/, '')}-${hash}-${role}`;
}

/** Labels and the controller owner reference every child of `owner` carries. */
export function ownedBy(
  owner: KubeObject,
  component: string,
): { labels: Record<string, string>; ownerReferences: ObjectMeta['ownerReferences'] } {
  const meta = owner.metadata ?? {};
  return {
    labels: {
      [MANAGED_BY_LABEL]: MANAGED_BY,
      'app.kubernetes.io/name': 'kmesh',
      'app.kubernetes.io/instance': meta.name ?? '',
      'app.kubernetes.io/component': component,
      [OWNER_UID_LABEL]: meta.uid ?? '',
    },
    ownerReferences: [
      {
        apiVersion: owner.apiVersion ?? '',
        kind: owner.kind ?? '',
        name: meta.name ?? '',
        uid: meta.uid ?? '',
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
  };
}

/**
 * True when `observed` lacks something `desired` sets: every field of `desired` must be present in
 * `observed` with the same value (extra fields in `observed`, such as server defaults, are fine).
 * Arrays must have the same length and match element by element.
 */
export function differs(desired: unknown, observed: unknown): boolean {
  if (desired === observed) return false;
  if (Array.isArray(desired)) {
    if (!Array.isArray(observed) || observed.length !== desired.length) return true;
    return desired.some((item, i) => differs(item, observed[i]));
  }
  if (typeof desired === 'object' && desired !== null) {
    if (typeof observed !== 'object' || observed === null) return true;
    const actual = observed as Record<string, unknown>;
    return Object.entries(desired).some(([key, value]) => value !== undefined && differs(value, actual[key]));
  }
  return String(desired) !== String(observed);
}
