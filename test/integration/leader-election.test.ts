/**
 * Leader election against the real API server, in the case the process tests cannot stage: a
 * leader that keeps running but loses its Lease (another process holds it, as after a network
 * partition). It must stop leading within its renew deadline, before the other could start.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loggerFor } from '../../lib/logging.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import type { KubeClient, WireObject } from '../../lib/kube/rest.js';
import { microTime } from '../../operator/runtime/events.js';
import { LeaderElector } from '../../operator/runtime/leader-election.js';
import { createNamespace, deleteNamespace, testClient } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';

let client: KubeClient;
let namespace: string;

beforeAll(async () => {
  client = testClient();
  namespace = await createNamespace(client, 'lease');
});
afterAll(async () => {
  await deleteNamespace(client, namespace);
  client?.close();
});

type Lease = WireObject & { spec: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number } };
const leasePath = (name: string) => `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`;

describe('leader election', () => {
  it('stops leading within the renew deadline when another process takes the lease', async () => {
    const renewDeadlineMs = 2_000;
    const changes: boolean[] = [];
    const elector = new LeaderElector({
      client,
      namespace,
      name: 'lost',
      identity: 'first',
      log: loggerFor('lease-test'),
      leaseDurationMs: 4_000,
      renewDeadlineMs,
      retryPeriodMs: 300,
      onLeadershipChange: (leading) => changes.push(leading),
    });
    const stop = new AbortController();
    let lostAt = 0;
    let reconciling = false;
    const running = elector.run(stop.signal, async (leading) => {
      reconciling = true;
      await new Promise((resolve) => leading.addEventListener('abort', resolve, { once: true }));
      lostAt = Date.now();
      reconciling = false;
      stop.abort(); // campaign no more: the intruder keeps the lease
    });
    await eventually(() => expect(reconciling).toBe(true));

    // Another process writes itself in as holder and keeps renewing, as a leader on the far side of a partition would.
    const intruder = setInterval(() => {
      void client.get<Lease>(RESOURCES.lease, namespace, 'lost').then((lease) =>
        client
          .request('PUT', leasePath('lost'), {
            body: {
              ...lease,
              spec: { ...lease!.spec, holderIdentity: 'second', renewTime: microTime(), leaseDurationSeconds: 4 },
            },
          })
          .catch(() => undefined),
      );
    }, 200);
    const takenAt = Date.now();
    try {
      await eventually(() => expect(reconciling).toBe(false), 10_000);
      await running;
    } finally {
      clearInterval(intruder);
    }
    expect(changes).toEqual([true, false]);
    // The last successful renewal can be up to one retry period before the take-over.
    expect(lostAt - takenAt).toBeLessThanOrEqual(renewDeadlineMs + 1_000);
    expect((await client.get<Lease>(RESOURCES.lease, namespace, 'lost'))!.spec.holderIdentity).toBe('second'); // not released over the new holder
  });
});
