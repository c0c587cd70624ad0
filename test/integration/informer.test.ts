/** The operator's informer against the real API server: 410 Gone, a silent watch, and deletions. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startControlPlane, stopControlPlane } from '../../hack/control-plane/control-plane.js';
import { kubeconfigCredentials } from '../../lib/kube/kubeconfig.js';
import { loggerFor } from '../../lib/logging.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import { KubeClient, type WireObject } from '../../lib/kube/rest.js';
import { Informer } from '../../operator/runtime/informer.js';
import { createNamespace, deleteNamespace, testClient } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';

let client: KubeClient;
let namespace: string;

const configMap = (name: string): WireObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data: { a: '1' },
});

/** Runs an informer on this namespace's ConfigMaps for the duration of `body`. */
async function withInformer(
  options: Partial<ConstructorParameters<typeof Informer>[0]>,
  body: (informer: Informer<WireObject>, changes: string[]) => Promise<void>,
  through: KubeClient = client,
): Promise<void> {
  const changes: string[] = [];
  const informer = new Informer<WireObject>({
    client: through,
    type: RESOURCES.configMap,
    namespace,
    log: loggerFor('informer-test'),
    onChange: (object, change) => changes.push(`${change} ${object.metadata?.name}`),
    ...options,
  });
  const abort = new AbortController();
  const running = informer.run(abort.signal);
  try {
    await body(informer, changes);
  } finally {
    abort.abort();
    await running;
  }
}

beforeAll(async () => {
  client = testClient();
  namespace = await createNamespace(client, 'informer');
  await client.create(RESOURCES.configMap, configMap('existing'));
});
afterAll(async () => {
  await deleteNamespace(client, namespace);
  client.close();
});

describe('Informer', () => {
  it('lists again when the resourceVersion it resumes from was compacted away (410 Gone)', async () => {
    // The shared API server's watch cache still covers every version of a young cluster; this one
    // serves watches from etcd, whose history we compact, as a long-running cluster's would be.
    const plane = await startControlPlane({ controllerManager: false, extraApiServerArgs: ['--watch-cache=false'] });
    const ownClient = new KubeClient(kubeconfigCredentials(plane.kubeconfigPath));
    try {
      await ownClient.create(RESOURCES.namespace, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: namespace },
      });
      await ownClient.create(RESOURCES.configMap, configMap('existing'));
      const etcd = async (path: string, body: unknown): Promise<{ header: { revision: string } }> =>
        (await fetch(`${plane.etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body) })).json() as Promise<{
          header: { revision: string };
        }>;
      const { header } = await etcd('/v3/kv/range', { key: Buffer.from('/').toString('base64') });
      await etcd('/v3/kv/compaction', { revision: header.revision, physical: true });
      await withInformer(
        { resumeFrom: '1' },
        async (informer) => {
          await eventually(() => expect(informer.get(`${namespace}/existing`)).toBeDefined());
          expect(informer.stats.gone).toBe(1);
          expect(informer.stats.lists).toBe(1);
        },
        ownClient,
      );
    } finally {
      ownClient.close();
      await stopControlPlane(plane.workDir);
    }
  });

  it('restarts a watch that went silent, from where it was, and misses nothing', async () => {
    await withInformer({ watchdogMs: 400, watchTimeoutSeconds: 600 }, async (informer, changes) => {
      await informer.synced;
      await eventually(() => expect(informer.stats.stalls).toBeGreaterThanOrEqual(2));
      expect(informer.stats.lists).toBe(1); // resumed from its resourceVersion, no relist
      await client.create(RESOURCES.configMap, configMap('after-stall'));
      await eventually(() => expect(changes).toContain('upsert after-stall'));
    });
  });

  it('reports a deletion and drops the object from its cache', async () => {
    await client.create(RESOURCES.configMap, configMap('doomed'));
    await withInformer({}, async (informer, changes) => {
      await informer.synced;
      await client.delete(RESOURCES.configMap, namespace, 'doomed');
      await eventually(() => expect(changes).toContain('delete doomed'));
      expect(informer.get(`${namespace}/doomed`)).toBeUndefined();
    });
  });
});
