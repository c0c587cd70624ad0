/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews the
 * lease every retry period; a candidate takes it over once it has seen no renewal for a whole lease
 * duration (measured on its own clock, so clock skew between nodes does not matter). Losing the
 * lease aborts the leader's signal at once, so it stops reconciling before another process starts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../lib/logging.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import { isConflictError, isNotFoundError, type KubeClient, type WireObject } from '../../lib/kube/rest.js';
import { microTime } from './events.js';

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  /** Unique per process, e.g. the pod name. */
  identity: string;
  log: Logger;
  leaseDurationMs?: number;
  /** The leader gives up if it could not renew for this long (must be < leaseDurationMs). */
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onLeadershipChange?: (leading: boolean) => void;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
type Lease = WireObject & { spec?: LeaseSpec };

export class LeaderElector {
  private observed: { record: string; atMs: number } | undefined;
  private lease: Lease | undefined;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;

  constructor(private readonly options: LeaderElectionOptions) {
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseDurationMs)
      throw new Error('leader election: renewDeadlineMs must be less than leaseDurationMs');
  }

  /**
   * Campaigns until `signal` aborts. Each time it wins, calls `lead` with a signal that aborts when
   * leadership is lost (or `signal` aborts), and waits for `lead` to return before campaigning again.
   * On shutdown the lease is released so another process takes over without waiting it out.
   */
  async run(signal: AbortSignal, lead: (leading: AbortSignal) => Promise<void>): Promise<void> {
    const { log } = this.options;
    while (!signal.aborted) {
      if (!(await this.tryAcquireOrRenew())) {
        await sleep(this.retryPeriodMs, undefined, { signal }).catch(() => undefined);
        continue;
      }
      log.info({ identity: this.options.identity }, 'became leader');
      this.options.onLeadershipChange?.(true);
      const leading = new AbortController();
      const stopLeading = (): void => leading.abort();
      signal.addEventListener('abort', stopLeading, { once: true });
      const work = lead(leading.signal);
      await this.renewUntilLost(leading.signal);
      leading.abort();
      signal.removeEventListener('abort', stopLeading);
      await work;
      this.options.onLeadershipChange?.(false);
      if (signal.aborted) await this.release();
      else log.warn({ identity: this.options.identity }, 'lost leadership; stopped reconciling');
    }
  }

  /** Renews every retry period; returns when a renewal deadline passes or `leading` aborts. */
  private async renewUntilLost(leading: AbortSignal): Promise<void> {
    let lastRenewMs = Date.now();
    while (!leading.aborted) {
      await sleep(this.retryPeriodMs, undefined, { signal: leading }).catch(() => undefined);
      if (leading.aborted) return;
      if (await this.tryAcquireOrRenew()) lastRenewMs = Date.now();
      else if (Date.now() - lastRenewMs > this.renewDeadlineMs) return;
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name, identity, log } = this.options;
    const now = microTime();
    const mine: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      renewTime: now,
    };
    try {
      const current = await client.get<Lease>(RESOURCES.lease, namespace, name);
      if (!current) {
        this.lease = await client.create<Lease>(RESOURCES.lease, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: { ...mine, acquireTime: now, leaseTransitions: 0 },
        });
        return true;
      }
      const spec = current.spec ?? {};
      const record = `${spec.holderIdentity ?? ''}|${spec.renewTime ?? ''}`;
      if (this.observed?.record !== record) this.observed = { record, atMs: Date.now() };
      const heldByOther = spec.holderIdentity && spec.holderIdentity !== identity;
      const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
      if (heldByOther && Date.now() - this.observed.atMs < durationMs) return false;
      const taking = spec.holderIdentity !== identity;
      this.lease = await client.request<Lease>(
        'PUT',
        `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`,
        {
          body: {
            ...current,
            spec: {
              ...spec,
              ...mine,
              acquireTime: taking ? now : (spec.acquireTime ?? now),
              leaseTransitions: (spec.leaseTransitions ?? 0) + (taking && spec.holderIdentity ? 1 : 0),
            },
          },
        },
      );
      return true;
    } catch (error) {
      if (!isConflictError(error) && !isNotFoundError(error))
        log.warn({ err: error }, 'leader election: could not acquire or renew the lease');
      return false;
    }
  }

  /** Gives the lease up so another candidate need not wait for it to expire. */
  private async release(): Promise<void> {
    const { client, namespace, name, identity, log } = this.options;
    const lease = this.lease;
    if (lease?.spec?.holderIdentity !== identity) return;
    try {
      await client.request('PUT', `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`, {
        body: {
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime() },
        },
      });
      log.info('released the leader lease');
    } catch (error) {
      log.warn({ err: error }, 'could not release the leader lease; it expires on its own');
    }
  }
}
