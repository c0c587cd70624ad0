/**
 * The Supported condition every kind carries: True when this release acts on every field the spec
 * sets, False (reason NotSupported) naming each field it ignores, from the pure per-kind lists in
 * api/v1alpha1/support.ts. One Warning Event is recorded when that set changes, not every reconcile.
 */
import type { KubeObject } from '../../api/meta.js';
import {
  Conditions,
  EventReasons,
  Reasons,
  describeUnsupported,
  type Condition,
  type UnsupportedField,
} from '../../api/v1alpha1/index.js';
import { findCondition, setCondition } from './conditions.js';
import type { EventRecorder } from './events.js';

/** `conditions` with Supported set from `fields`. */
export function withSupported(
  conditions: readonly Condition[] | undefined,
  fields: readonly UnsupportedField[],
  generation: number | undefined,
): Condition[] {
  return fields.length
    ? setCondition(
        conditions,
        Conditions.Supported,
        'False',
        Reasons.NotSupported,
        `not acted on by this release: ${describeUnsupported(fields)}`,
        generation,
      )
    : setCondition(
        conditions,
        Conditions.Supported,
        'True',
        Reasons.AllSupported,
        'this release acts on every field the spec sets',
        generation,
      );
}

/** A Warning Event when Supported turned False or names other fields than before. */
export async function announceUnsupported(
  events: EventRecorder,
  object: KubeObject,
  before: readonly Condition[] | undefined,
  after: readonly Condition[] | undefined,
): Promise<void> {
  const previous = findCondition(before, Conditions.Supported);
  const next = findCondition(after, Conditions.Supported);
  if (next?.status !== 'False' || (previous?.status === 'False' && previous.message === next.message)) return;
  await events.warning(object, EventReasons.NotSupported, next.message);
}

/** A suffix for a Ready message that is True while some fields are ignored. */
export function unsupportedNote(fields: readonly UnsupportedField[]): string {
  return fields.length ? `; ignored by this release (see Supported): ${fields.map((f) => f.path).join(', ')}` : '';
}
