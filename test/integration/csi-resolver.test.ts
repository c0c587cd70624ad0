/**
 * The CSI node plugin, as its ServiceAccount: it finds a volume's data from the KmeshInstance and
 * the DataFlow or VirtualCopy, and reports its publication counts in its namespace.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { ApiVolumeResolver } from '../../csi/resolver.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import type { KubeClient, WireObject } from '../../lib/kube/rest.js';
import { join } from 'node:path';
import { REPO_ROOT } from '../../hack/tools.js';
import { createNamespace, deleteNamespace, installCrds, testClient } from '../support/cluster.js';
import { bindClusterRole, bindRole, impersonating, TEST_LOCAL_ROOTS } from '../support/operator.js';
import { ConfigMapReporter } from '../../csi/publications.js';

let client: KubeClient;
let nodeIdentity: KubeClient;
let namespace: string;

beforeAll(async () => {
  client = testClient();
  await installCrds(client);
  namespace = await createNamespace(client, 'csi-resolver');
  // The node plugin reads as its ServiceAccount, bound to csi/rbac/node-cluster-role.yaml.
  nodeIdentity = impersonating(
    await bindClusterRole(client, 'kmesh-csi-node', join(REPO_ROOT, 'csi/rbac/node-cluster-role.yaml')),
  );
  await bindRole(client, 'kmesh-csi-node', namespace, join(REPO_ROOT, 'csi/rbac/node-role.yaml'));
  const create = (kind: 'KmeshInstance' | 'DataFlow', name: string, spec: object) =>
    client.create(kind === 'KmeshInstance' ? RESOURCES.kmeshInstance : RESOURCES.dataFlow, {
      apiVersion: 'kmesh.io/v1alpha1',
      kind,
      metadata: { name, namespace },
      spec,
    });
  await create('KmeshInstance', 'dev', {
    backend: { type: 'local', local: { path: `/var/lib/kmesh/${namespace}/dev` } },
  });
  await create('KmeshInstance', 'lus', { backend: { type: 'lustre', lustre: { fsName: 'kmfs' } } });
  await create('DataFlow', 'ml-data', { instanceRef: { name: 'dev' } });
  await create('DataFlow', 'pinned', { instanceRef: { name: 'dev' }, path: '/projects/pinned' });
});
afterAll(async () => {
  await deleteNamespace(client, namespace);
  nodeIdentity.close();
  client.close();
});

describe('ApiVolumeResolver', () => {
  const resolver = (): ApiVolumeResolver => new ApiVolumeResolver(nodeIdentity, TEST_LOCAL_ROOTS);

  it('finds the local directory and the default access point /dataflows/<name>', async () => {
    expect(await resolver().resolve({ namespace, instance: 'dev', dataFlow: 'ml-data', subPath: '' })).toEqual({
      backend: 'local',
      mountSource: `/var/lib/kmesh/${namespace}/dev`,
      accessPoint: '/dataflows/ml-data',
    });
  });

  it('uses the DataFlow spec.path when it has one', async () => {
    expect(
      (await resolver().resolve({ namespace, instance: 'dev', dataFlow: 'pinned', subPath: '' })).accessPoint,
    ).toBe('/projects/pinned');
  });

  it('answers NOT_FOUND for a missing instance or DataFlow, naming it', async () => {
    await expect(
      resolver().resolve({ namespace, instance: 'gone', dataFlow: 'ml-data', subPath: '' }),
    ).rejects.toMatchObject({ code: status.NOT_FOUND, details: `KmeshInstance ${namespace}/gone does not exist` });
    await expect(
      resolver().resolve({ namespace, instance: 'dev', dataFlow: 'gone', subPath: '' }),
    ).rejects.toMatchObject({ code: status.NOT_FOUND, details: `DataFlow ${namespace}/gone does not exist` });
  });

  it('finds a VirtualCopy’s access point once it is Ready, and reports its condition', async () => {
    await client.create(RESOURCES.virtualCopy, {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'VirtualCopy',
      metadata: { name: 'copy-1', namespace },
      spec: { source: { dataFlowRef: { name: 'ml-data' } } },
    });
    const ref = { namespace, instance: 'dev', dataFlow: '', virtualCopy: 'copy-1', subPath: '' };
    await expect(resolver().resolve(ref)).rejects.toMatchObject({
      code: status.UNAVAILABLE,
      details: expect.stringContaining(`VirtualCopy ${namespace}/copy-1 is not ready yet`),
    });
    const degraded = {
      phase: 'Ready',
      conditions: [
        {
          type: 'Degraded',
          status: 'True',
          reason: 'SourceUnreachable',
          message: 'source site unreachable',
          lastTransitionTime: new Date().toISOString(),
        },
      ],
    };
    await client.mergePatch(
      RESOURCES.virtualCopy,
      namespace,
      'copy-1',
      {
        status: {
          ...degraded,
          conditions: [
            ...degraded.conditions,
            {
              type: 'Ready',
              status: 'True',
              reason: 'Ready',
              message: 'copy made',
              lastTransitionTime: new Date().toISOString(),
            },
          ],
        },
      },
      'status',
    );
    expect((await resolver().resolve(ref)).accessPoint).toBe('/virtualcopies/copy-1');
    expect(await resolver().condition(ref)).toEqual({
      abnormal: true,
      message: `VirtualCopy ${namespace}/copy-1 is degraded: source site unreachable`,
    });
    expect(await resolver().condition({ namespace, instance: 'dev', dataFlow: 'gone', subPath: '' })).toEqual({
      abnormal: true,
      message: `DataFlow ${namespace}/gone does not exist`,
    });
  });

  it('reports its publication counts in its own ConfigMap, replacing the previous report', async () => {
    const reporter = new ConfigMapReporter(nodeIdentity, namespace, 'node-a');
    await reporter.report({ 'ml/DataFlow/ml-data': 2, 'ml/VirtualCopy/copy-1': 1 });
    await reporter.report({ 'ml/DataFlow/ml-data': 1 });
    const report = await client.get<WireObject & { data?: Record<string, string> }>(
      RESOURCES.configMap,
      namespace,
      'kmesh-publications-node-a',
    );
    expect(JSON.parse(report!.data!['publications']!)).toEqual({ 'ml/DataFlow/ml-data': 1 });
  });

  it('runs with a role that may only read KmeshInstances, DataFlows and VirtualCopies (and write its report)', async () => {
    const dataFlow = {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'DataFlow',
      metadata: { name: 'not-allowed', namespace },
      spec: { instanceRef: { name: 'dev' } },
    };
    await expect(nodeIdentity.create(RESOURCES.dataFlow, dataFlow)).rejects.toMatchObject({ code: 403 });
    await expect(nodeIdentity.list(RESOURCES.secret, { namespace })).rejects.toMatchObject({ code: 403 });
    await expect(nodeIdentity.list(RESOURCES.configMap, { namespace })).rejects.toMatchObject({ code: 403 });
    await expect(nodeIdentity.get(RESOURCES.configMap, 'default', 'kube-root-ca.crt')).rejects.toMatchObject({
      code: 403,
    });
  });

  it('answers UNAVAILABLE while a Lustre instance has no mount source yet', async () => {
    await expect(
      resolver().resolve({ namespace, instance: 'lus', dataFlow: 'ml-data', subPath: '' }),
    ).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });
});
