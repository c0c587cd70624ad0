/** KubeClient against the real API server: keep-alive reuse, discovery, errors. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RESOURCES } from '../../lib/kube/resources.js';
import { KubeApiError, KubeClient } from '../../lib/kube/rest.js';
import { createNamespace, deleteNamespace, testClient, testKubeConfig } from '../support/cluster.js';

let admin: KubeClient;
let namespace: string;

beforeAll(async () => {
  admin = testClient();
  namespace = await createNamespace(admin, 'rest');
});
afterAll(async () => {
  await deleteNamespace(admin, namespace);
  admin.close();
});

describe('KubeClient', () => {
  it('keeps one connection usable after a DELETE with options (a chunked body once broke the next request)', async () => {
    const single = new KubeClient(testKubeConfig(), { maxSockets: 1 });
    try {
      const configMap = (name: string) => ({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, namespace },
        data: { a: '1' },
      });
      for (let i = 0; i < 3; i++) {
        await single.create(RESOURCES.configMap, configMap(`cm-${i}`));
        await single.delete(RESOURCES.configMap, namespace, `cm-${i}`);
      }
      expect((await single.list(RESOURCES.configMap, { namespace })).items.map((c) => c.metadata?.name)).not.toContain(
        'cm-2',
      );
    } finally {
      single.close();
    }
  });

  it('finds where a kind is served by discovery, and names a kind that is not', async () => {
    expect(await admin.resourceFor('apps/v1', 'Deployment')).toEqual({
      group: 'apps',
      version: 'v1',
      plural: 'deployments',
      kind: 'Deployment',
      namespaced: true,
    });
    expect(await admin.resourceFor('v1', 'Namespace')).toMatchObject({
      group: '',
      plural: 'namespaces',
      namespaced: false,
    });
    await expect(admin.resourceFor('apps/v1', 'Gadget')).rejects.toThrow(
      'the API server does not serve kind Gadget in apps/v1',
    );
  });

  it('turns an error answer into KubeApiError with the server status, and a missing object into undefined', async () => {
    expect(await admin.get(RESOURCES.configMap, namespace, 'absent')).toBeUndefined();
    const error = await admin
      .create(RESOURCES.configMap, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Not_Valid', namespace } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeApiError);
    expect([(error as KubeApiError).code, (error as KubeApiError).status?.reason]).toEqual([422, 'Invalid']);
  });
});
