/**
 * Which primary objects named which other object (`namespace/name`) when they were last
 * reconciled, so a watch on the other kind can requeue them. A cache only: an entry that went
 * stale costs one extra reconcile, and the periodic resync covers anything it missed.
 */
import type { WireObject } from '../../lib/kube/rest.js';

export class References {
  private readonly byTarget = new Map<string, Set<string>>();

  /** Records that the primary object `key` names `target`. */
  add(target: string, key: string): void {
    this.byTarget.set(target, (this.byTarget.get(target) ?? new Set()).add(key));
  }

  /** A watch's map function: the primary keys that named the changed object. */
  readonly to = (object: WireObject): string[] => [
    ...(this.byTarget.get(`${object.metadata?.namespace}/${object.metadata?.name}`) ?? []),
  ];
}
