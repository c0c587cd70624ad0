/**
 * A work queue of object keys (namespace/name), with client-go's guarantees: a key is reconciled by
 * at most one worker at a time; adding a key that is already waiting does nothing; a key added
 * while it is being reconciled is reconciled again right after. Failed keys come back after a
 * capped exponential backoff; `addAfter` schedules a timed requeue.
 */

/** Observes the queue; the operator's metrics implement it. */
export interface QueueObserver {
  added(): void;
  depth(depth: number): void;
  /** Time a key waited between being added and being picked up. */
  waited(seconds: number): void;
  retried(): void;
}

const NO_OBSERVER: QueueObserver = { added() {}, depth() {}, waited() {}, retried() {} };

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 5, maxMs: 5 * 60_000 };

export class WorkQueue {
  /** Keys waiting to be picked up, in order, with the time they were added. */
  private readonly waiting = new Map<string, number>();
  /** Keys a worker holds right now. */
  private readonly processing = new Set<string>();
  /** Keys added again while being processed: re-queued when their worker is done. */
  private readonly dirty = new Set<string>();
  /** Timed requeues by key, with when they fire (ms since the epoch). */
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; dueAt: number }>();
  private readonly failures = new Map<string, number>();
  private readonly takers: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;

  constructor(
    private readonly backoff: BackoffOptions = DEFAULT_BACKOFF,
    private readonly observer: QueueObserver = NO_OBSERVER,
  ) {}

  get length(): number {
    return this.waiting.size;
  }

  /** Queues `key` now (cancelling a timed requeue of it). */
  add(key: string): void {
    if (this.shuttingDown) return;
    this.cancelTimer(key);
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.waiting.has(key)) return;
    this.observer.added();
    const taker = this.takers.shift();
    if (taker) {
      this.observer.waited(0);
      this.processing.add(key);
      taker(key);
      return;
    }
    this.waiting.set(key, Date.now());
    this.observer.depth(this.waiting.size);
  }

  /** Queues `key` after `delayMs`, unless it is queued sooner; an earlier timed requeue wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const dueAt = Date.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing && existing.dueAt <= dueAt) return;
    this.cancelTimer(key);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { timer, dueAt });
  }

  /** Queues `key` after its backoff, which doubles with each failure up to the cap. */
  addRateLimited(key: string): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    const delayMs = Math.min(this.backoff.maxMs, this.backoff.baseMs * 2 ** failures);
    this.observer.retried();
    this.addAfter(key, delayMs);
    return delayMs;
  }

  /** Resets the backoff of `key` (after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Failures of `key` since it last succeeded. */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Resolves with the next key (now held by the caller until `done`), or undefined at shutdown. */
  async take(): Promise<string | undefined> {
    if (this.shuttingDown) return undefined;
    const next = this.waiting.entries().next();
    if (!next.done) {
      const [key, addedAt] = next.value;
      this.waiting.delete(key);
      this.processing.add(key);
      this.observer.depth(this.waiting.size);
      this.observer.waited((Date.now() - addedAt) / 1000);
      return key;
    }
    return new Promise((resolve) => this.takers.push(resolve));
  }

  /** Releases `key`; if it was added while held, it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  /** Stops handing out keys; pending `take` calls resolve with undefined. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const key of [...this.timers.keys()]) this.cancelTimer(key);
    for (const taker of this.takers.splice(0)) taker(undefined);
  }

  private cancelTimer(key: string): void {
    const scheduled = this.timers.get(key);
    if (scheduled) {
      clearTimeout(scheduled.timer);
      this.timers.delete(key);
    }
  }
}
