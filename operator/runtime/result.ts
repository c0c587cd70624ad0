/**
 * What a reconcile returns, and the error it throws. Results are named so a reader sees why a
 * reconcile comes back (`requeueAfter(30_000, 'waiting for Secret')`), never a bare number.
 */

export interface Result {
  /** Reconcile again after this long even if nothing changes; undefined: only on change. */
  requeueAfterMs?: number;
  /** Why it comes back, for logs. */
  reason?: string;
}

/** Settled: reconcile again only when something changes (or at the periodic resync). */
export const done = (): Result => ({});

/** Come back after `ms` milliseconds, because of `reason`. */
export const requeueAfter = (ms: number, reason: string): Result => ({ requeueAfterMs: ms, reason });

/**
 * A reconcile failure. `retryable` errors go back to the queue with backoff; others are reported
 * (condition + Event) and wait for the object to change.
 */
export class ReconcileError extends Error {
  constructor(
    /** CamelCase reason, used for the condition and the Event. */
    readonly reason: string,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ReconcileError';
  }
}
