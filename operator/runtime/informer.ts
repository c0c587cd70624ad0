/**
 * A cache of one kind kept current by list-then-watch. It resumes a broken watch from the last
 * resourceVersion it saw, lists again when the server answers 410 Gone (the version is too old),
 * restarts after any error with capped backoff, and restarts a watch that has gone silent for
 * longer than the server's own timeout (a stall no error reports). Handlers get each change once,
 * in order; they must not block.
 */
import type { KubeObject } from '../../api/meta.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../lib/logging.js';
import {
  apiVersionOf,
  isGoneError,
  KubeApiError,
  type KubeClient,
  type ResourceType,
  type WatchEvent,
} from '../../lib/kube/rest.js';
import { DEFAULT_BACKOFF, type BackoffOptions } from './queue.js';

export type ChangeHandler<T> = (object: T, change: 'upsert' | 'delete') => void;

export interface InformerOptions<T> {
  client: KubeClient;
  type: ResourceType;
  log: Logger;
  /** The first handler; `subscribe` adds more (an informer shared by controllers). */
  onChange?: ChangeHandler<T>;
  /** Only this namespace; all namespaces when unset. */
  namespace?: string;
  labelSelector?: string;
  /** Server-side watch timeout; each watch picks a random value between this and twice this. */
  watchTimeoutSeconds?: number;
  /** Restart a watch that delivered nothing (not even a bookmark) for this long. */
  watchdogMs?: number;
  backoff?: BackoffOptions;
  /** Start by watching from this resourceVersion instead of listing (e.g. a saved bookmark). */
  resumeFrom?: string;
  /** Keep an index of the cache by the value of this label (see `byLabel`). */
  indexLabel?: string;
}

const LIST_PAGE_SIZE = 500;
const DEFAULT_WATCH_TIMEOUT_SECONDS = 300;

/** `namespace/name` (or `name` for cluster-scoped objects): the key of the cache and the queue. */
export function objectKey(object: KubeObject): string {
  const { namespace, name } = object.metadata ?? {};
  return namespace ? `${namespace}/${name ?? ''}` : (name ?? '');
}

export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  /** indexLabel value -> keys of the cached objects that carry it. */
  private readonly index = new Map<string, Set<string>>();
  private resourceVersion: string | undefined;
  private syncedResolve!: () => void;
  /** Resolves once the first full list is in the cache. */
  readonly synced = new Promise<void>((resolve) => (this.syncedResolve = resolve));
  /** Counters for observability and tests. */
  readonly stats = { lists: 0, watches: 0, gone: 0, stalls: 0, errors: 0 };
  private readonly handlers: ChangeHandler<T>[] = [];
  private running: Promise<void> | undefined;

  constructor(private readonly options: InformerOptions<T>) {
    this.resourceVersion = options.resumeFrom;
    if (options.resumeFrom) this.syncedResolve();
    if (options.onChange) this.handlers.push(options.onChange);
  }

  /** Adds a handler of every later change. */
  subscribe(handler: ChangeHandler<T>): void {
    this.handlers.push(handler);
  }

  private notify(object: T, change: 'upsert' | 'delete'): void {
    for (const handler of this.handlers) handler(object, change);
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  keys(): string[] {
    return [...this.cache.keys()];
  }

  /** Cached objects whose `indexLabel` label has `value` (without scanning the cache). */
  byLabel(value: string): T[] {
    if (!this.options.indexLabel) throw new Error(`informer for ${this.options.type.plural} keeps no label index`);
    return [...(this.index.get(value) ?? [])].map((key) => this.cache.get(key)!);
  }

  private store(key: string, object: T | undefined): void {
    // managedFields is often the largest part of an object and no controller reads it from a cache.
    if (object?.metadata && 'managedFields' in object.metadata)
      delete (object.metadata as { managedFields?: unknown }).managedFields;
    const label = this.options.indexLabel;
    const old = this.cache.get(key);
    if (label) {
      const before = old?.metadata?.labels?.[label];
      if (before !== undefined) {
        const keys = this.index.get(before);
        keys?.delete(key);
        if (keys?.size === 0) this.index.delete(before);
      }
      const after = object?.metadata?.labels?.[label];
      if (after !== undefined) {
        let keys = this.index.get(after);
        if (!keys) this.index.set(after, (keys = new Set()));
        keys.add(key);
      }
    }
    if (object) this.cache.set(key, object);
    else this.cache.delete(key);
  }

  /** Runs until `signal` aborts; a second call while running joins the first (shared informers). */
  run(signal: AbortSignal): Promise<void> {
    this.running ??= this.loop(signal).finally(() => (this.running = undefined));
    return this.running;
  }

  private async loop(signal: AbortSignal): Promise<void> {
    const { log, backoff = DEFAULT_BACKOFF } = this.options;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (this.resourceVersion === undefined) await this.relist(signal);
        await this.watchOnce(signal);
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        if (isGoneError(error)) {
          this.stats.gone++;
          log.info(
            { resourceVersion: this.resourceVersion },
            'watch resourceVersion too old (410 Gone); listing again',
          );
          this.resourceVersion = undefined;
          continue;
        }
        this.stats.errors++;
        const delayMs = Math.min(backoff.maxMs, Math.max(backoff.baseMs, 100) * 2 ** failures++);
        log.warn({ err: error, retryInMs: delayMs }, 'list/watch failed; retrying');
        await sleep(delayMs, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const { client, type, namespace, labelSelector } = this.options;
    this.stats.lists++;
    const seen = new Map<string, T>();
    let continueToken: string | undefined;
    let resourceVersion: string | undefined;
    do {
      // The signal too: a stopping informer must not wait for a list (shutdown waits for informers).
      const page = await client.list<T>(type, {
        namespace,
        labelSelector,
        limit: LIST_PAGE_SIZE,
        continue: continueToken,
        signal,
      });
      for (const item of page.items) {
        // List items carry no apiVersion/kind; handlers may need them.
        seen.set(objectKey(item), {
          ...item,
          apiVersion: item.apiVersion ?? apiVersionOf(type),
          kind: item.kind ?? type.kind,
        });
      }
      continueToken = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion;
    } while (continueToken);
    for (const [key, old] of this.cache) {
      if (!seen.has(key)) {
        this.store(key, undefined);
        this.notify(old, 'delete');
      }
    }
    for (const [key, item] of seen) {
      const old = this.cache.get(key);
      this.store(key, item);
      if (old?.metadata?.resourceVersion !== item.metadata?.resourceVersion) this.notify(item, 'upsert');
    }
    this.resourceVersion = resourceVersion;
    this.syncedResolve();
  }

  private async watchOnce(signal: AbortSignal): Promise<void> {
    const { client, type, namespace, labelSelector, log } = this.options;
    const base = this.options.watchTimeoutSeconds ?? DEFAULT_WATCH_TIMEOUT_SECONDS;
    const timeoutSeconds = Math.floor(base + Math.random() * base);
    const watchdogMs = this.options.watchdogMs ?? (timeoutSeconds + 30) * 1000;
    const abort = new AbortController();
    const onAbort = (): void => abort.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    let watchdog: NodeJS.Timeout | undefined;
    const feedWatchdog = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        this.stats.stalls++;
        log.warn({ watchdogMs }, 'watch silent for too long; restarting it');
        abort.abort();
      }, watchdogMs);
    };
    this.stats.watches++;
    feedWatchdog();
    try {
      await client.watch<T>(
        type,
        { namespace, labelSelector, resourceVersion: this.resourceVersion, timeoutSeconds },
        (event) => {
          feedWatchdog();
          this.apply(event);
        },
        abort.signal,
      );
    } finally {
      clearTimeout(watchdog);
      signal.removeEventListener('abort', onAbort);
    }
  }

  private apply(event: WatchEvent<T>): void {
    if (event.type === 'ERROR') {
      const status = event.object as unknown as { code?: number; reason?: string; message?: string };
      throw new KubeApiError(status.code ?? 500, status, `WATCH ${this.options.type.plural}`);
    }
    const object = event.object;
    const resourceVersion = object.metadata?.resourceVersion;
    if (event.type !== 'BOOKMARK') {
      const key = objectKey(object);
      if (event.type === 'DELETED') {
        this.store(key, undefined);
        this.notify(object, 'delete');
      } else {
        this.store(key, object);
        this.notify(object, 'upsert');
      }
    }
    if (resourceVersion) this.resourceVersion = resourceVersion;
  }
}
