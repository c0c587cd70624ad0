/** Setting metav1.Conditions on a status the way every Kubernetes controller does. */
import type { Condition } from '../../api/v1alpha1/index.js';

export type ConditionStatus = Condition['status'];

/**
 * Returns `conditions` with `type` set. lastTransitionTime moves only when the status changes, so
 * re-setting an unchanged condition leaves the list equal (and the status write is skipped).
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
  status: ConditionStatus,
  reason: string,
  message: string,
  observedGeneration: number | undefined,
): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === type);
  const previous = index >= 0 ? list[index] : undefined;
  const next: Condition = {
    type,
    status,
    reason,
    message,
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
    lastTransitionTime:
      previous && previous.status === status
        ? previous.lastTransitionTime
        : new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
