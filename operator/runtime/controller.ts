/**
 * One controller: a cache of its primary kind, caches of the kinds it owns or watches, a work queue
 * of primary keys and workers that reconcile them. Reconcile is level-based: it gets a key, never
 * the event that queued it, and reads the current state from the caches. A change to a child
 * requeues its controller owner; a periodic resync requeues every primary object.
 */
import type { KubeObject } from '../../api/meta.js';
import type { Logger } from '../../lib/logging.js';
import { isConflictError, type KubeClient, type ResourceType, type WireObject } from '../../lib/kube/rest.js';
import { MANAGED_SELECTOR, OWNER_UID_LABEL } from './children.js';
import type { EventRecorder } from './events.js';
import type { Informer } from './informer.js';
import { objectKey } from './informer.js';
import { SharedInformers } from './shared-informers.js';
import type { OperatorMetrics } from './metrics.js';
import { WorkQueue } from './queue.js';
import { ReconcileError, type Result } from './result.js';

/** Another kind whose changes should reconcile some primary objects. */
export interface Watch {
  type: ResourceType;
  /** Name of this cache when the controller also owns or watches `type` otherwise (default: the plural). */
  name?: string;
  labelSelector?: string;
  /** Watch only this namespace (default: the controller's). */
  namespace?: string;
  /** Keys (namespace/name) of the primary objects to reconcile when `object` changes. */
  map(object: WireObject): string[];
}

/** What a reconcile function can use. */
export interface ReconcileContext<T extends KubeObject> {
  client: KubeClient;
  events: EventRecorder;
  log: Logger;
  /** The primary kind's cache. */
  primary: Informer<T>;
  /** The cache of an owned or watched kind (or a named watch). */
  cache(type: ResourceType | string): Informer<WireObject>;
  /** Cached children of `type` whose owner has `ownerUid` (indexed, no scan). */
  owned(type: ResourceType, ownerUid: string): WireObject[];
}

export interface ControllerDefinition<T extends KubeObject> {
  /** Lowercase name, used in metrics and logs (e.g. kmeshinstance). */
  name: string;
  primary: ResourceType;
  /** Kinds this controller creates with itself as controller owner (only managed objects are cached). */
  owns: ResourceType[];
  watches?: Watch[];
  /**
   * Brings the object with `key` to its desired state. Must be idempotent: called again with nothing
   * changed, it makes no write. Throws ReconcileError (or any error) to be retried with backoff.
   */
  reconcile(key: string, context: ReconcileContext<T>): Promise<Result>;
}

export interface ControllerDeps {
  client: KubeClient;
  metrics: OperatorMetrics;
  events: EventRecorder;
  log: Logger;
  /** Parallel reconciles (of different keys). */
  workers?: number;
  /** Every primary object is reconciled at least this often. */
  resyncMs?: number;
  /** Only this namespace; all when unset. */
  namespace?: string;
  /** Server-side watch timeout for the informers (tests lower it). */
  watchTimeoutSeconds?: number;
  /** Informers shared with the operator's other controllers; a controller alone makes its own. */
  informers?: SharedInformers;
}

const DEFAULT_RESYNC_MS = 10 * 60_000;

export class Controller<T extends KubeObject> {
  readonly queue: WorkQueue;
  readonly primary: Informer<T>;
  private readonly caches = new Map<string, Informer<WireObject>>();
  private readonly log: Logger;

  constructor(
    private readonly definition: ControllerDefinition<T>,
    private readonly deps: ControllerDeps,
  ) {
    this.log = deps.log.child({ controller: definition.name });
    this.queue = new WorkQueue(undefined, deps.metrics.queue(definition.name));
    const informers =
      deps.informers ??
      new SharedInformers({
        client: deps.client,
        log: this.log,
        namespace: deps.namespace,
        watchTimeoutSeconds: deps.watchTimeoutSeconds,
      });
    this.primary = informers.get({ type: definition.primary }) as unknown as Informer<T>;
    this.primary.subscribe((object) => this.queue.add(objectKey(object)));
    for (const type of definition.owns) {
      const informer = informers.get({ type, labelSelector: MANAGED_SELECTOR, indexLabel: OWNER_UID_LABEL });
      informer.subscribe((object) => this.enqueueOwner(object));
      this.caches.set(type.plural, informer);
    }
    for (const watch of definition.watches ?? []) {
      const informer = informers.get({
        type: watch.type,
        ...(watch.namespace ? { namespace: watch.namespace } : {}),
        ...(watch.labelSelector ? { labelSelector: watch.labelSelector } : {}),
      });
      informer.subscribe((object) => watch.map(object).forEach((key) => this.queue.add(key)));
      this.caches.set(watch.name ?? watch.type.plural, informer);
    }
  }

  get name(): string {
    return this.definition.name;
  }

  /** All caches hold their first full list. */
  async synced(): Promise<void> {
    await Promise.all([this.primary.synced, ...[...this.caches.values()].map((c) => c.synced)]);
  }

  /** Runs until `signal` aborts, then lets in-flight reconciles finish. */
  async run(signal: AbortSignal): Promise<void> {
    const informers = [this.primary, ...this.caches.values()].map((informer) => informer.run(signal));
    await Promise.race([
      this.synced(),
      new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true })),
    ]);
    if (signal.aborted) {
      await Promise.all(informers);
      return;
    }
    this.log.info({ objects: this.primary.keys().length }, 'caches synced; reconciling');
    const resync = setInterval(
      () => this.primary.keys().forEach((key) => this.queue.add(key)),
      this.deps.resyncMs ?? DEFAULT_RESYNC_MS,
    );
    resync.unref();
    signal.addEventListener(
      'abort',
      () => {
        clearInterval(resync);
        this.queue.shutDown();
      },
      { once: true },
    );
    const workers = Array.from({ length: this.deps.workers ?? 4 }, () => this.work());
    await Promise.all([...workers, ...informers]);
  }

  private enqueueOwner(child: WireObject): void {
    for (const ref of child.metadata?.ownerReferences ?? []) {
      if (ref.controller && ref.kind === this.definition.primary.kind)
        this.queue.add(`${child.metadata?.namespace ?? ''}/${ref.name}`);
    }
  }

  private context(log: Logger): ReconcileContext<T> {
    return {
      client: this.deps.client,
      events: this.deps.events,
      log,
      primary: this.primary,
      cache: (type) => this.cacheOf(type),
      owned: (type, ownerUid) => this.cacheOf(type).byLabel(ownerUid),
    };
  }

  private cacheOf(type: ResourceType | string): Informer<WireObject> {
    const name = typeof type === 'string' ? type : type.plural;
    const cache = this.caches.get(name);
    if (!cache) throw new Error(`controller ${this.definition.name} neither owns nor watches ${name}`);
    return cache;
  }

  private async work(): Promise<void> {
    for (let key = await this.queue.take(); key !== undefined; key = await this.queue.take()) {
      const [namespace, name] = key.includes('/') ? key.split('/', 2) : ['', key];
      const log = this.log.child({ kind: this.definition.primary.kind, ...(namespace ? { namespace } : {}), name });
      const started = process.hrtime.bigint();
      const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
      try {
        const result = await this.definition.reconcile(key, this.context(log));
        this.queue.forget(key);
        if (result.requeueAfterMs !== undefined) {
          this.queue.addAfter(key, result.requeueAfterMs);
          log.debug({ requeueAfterMs: result.requeueAfterMs, reason: result.reason }, 'reconciled; coming back');
        }
        this.deps.metrics.reconciled(
          this.name,
          result.requeueAfterMs === undefined ? 'success' : 'requeue_after',
          seconds(),
        );
      } catch (error) {
        this.deps.metrics.reconciled(this.name, 'error', seconds());
        if (isConflictError(error)) {
          // Our cache was behind a write; the newer version is on its way through the watch.
          log.debug('conflict; requeued');
          this.queue.addRateLimited(key);
        } else if (error instanceof ReconcileError && !error.retryable) {
          log.warn({ reason: error.reason, err: error }, 'reconcile failed; waiting for a change');
        } else {
          const delayMs = this.queue.addRateLimited(key);
          log.error({ err: error, retryInMs: delayMs, retries: this.queue.retries(key) }, 'reconcile failed; retrying');
        }
      } finally {
        this.queue.done(key);
      }
    }
  }
}
