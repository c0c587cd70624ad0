/**
 * The KmeshInstance controller against the real API server, run as its ServiceAccount. The tests
 * play kubelet and the workload controllers by writing Deployment and StatefulSet status.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Condition, KmeshInstance } from '../../api/v1alpha1/index.js';
import { parse as parseYaml } from 'yaml';
import { RESOURCES } from '../../lib/kube/resources.js';
import type { KubeClient } from '../../lib/kube/rest.js';
import { type WireObject } from '../../lib/kube/rest.js';
import { Registry } from 'prom-client';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../hack/control-plane/process.js';
import { startHealthServer } from '../../lib/health-server.js';
import { filesystemCapacity } from '../../sync/gateway/capacity.js';
import {
  createNamespace,
  deleteNamespace,
  installCrds,
  testClient,
  eventReasons as eventReasonsOf,
} from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { installOperatorRbac, startTestOperator, testOperatorConfig, type TestOperator } from '../support/operator.js';

let client: KubeClient;
let namespace: string;
let operator: TestOperator;
let gatewayHealthPort: number;

type Workload = WireObject & {
  spec: Record<string, unknown> & {
    replicas?: number;
    template: { spec: Record<string, unknown> & { containers: Array<Record<string, unknown>> } };
  };
  status?: Record<string, unknown>;
};

const instance = (name: string, spec: Record<string, unknown>): WireObject => ({
  apiVersion: 'kmesh.io/v1alpha1',
  kind: 'KmeshInstance',
  metadata: { name, namespace },
  spec,
});
const getInstance = async (name: string): Promise<KmeshInstance> =>
  (await client.get<KmeshInstance>(RESOURCES.kmeshInstance, namespace, name))!;
const condition = (object: KmeshInstance, type: string): Condition | undefined =>
  object.status?.conditions?.find((c) => c.type === type);
/** The object, or an error (for `eventually`) while it does not exist. */
const getIn = async <T extends WireObject>(
  ns: string,
  type: (typeof RESOURCES)[keyof typeof RESOURCES],
  name: string,
): Promise<T> => {
  const object = await client.get<T>(type, ns, name);
  if (!object) throw new Error(`${type.kind} ${ns}/${name} does not exist (yet)`);
  return object;
};
const get = <T extends WireObject>(type: (typeof RESOURCES)[keyof typeof RESOURCES], name: string): Promise<T> =>
  getIn<T>(namespace, type, name);
async function expectCondition(name: string, type: string, status: string, reason?: string): Promise<KmeshInstance> {
  return eventually(async () => {
    const current = await getInstance(name);
    expect([type, condition(current, type)?.status, reason ? condition(current, type)?.reason : undefined]).toEqual([
      type,
      status,
      reason,
    ]);
    return current;
  });
}
const tlsSecret = (name: string): WireObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace },
  type: 'Opaque',
  stringData: { 'tls.crt': 'c', 'tls.key': 'k', 'ca.crt': 'a' },
});

/** Plays the Deployment controller and kubelet: every replica is up. */
/** Plays the scheduler and kubelet for one pod of a gateway Deployment: Running on a node at `hostIP`. */
async function runGatewayPod(deploymentName: string, hostIP: string): Promise<void> {
  const deployment = await get<Workload & { spec: { template: { metadata: { labels: Record<string, string> } } } }>(
    RESOURCES.deployment,
    deploymentName,
  );
  const pod = await client.create(RESOURCES.pod, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${deploymentName}-pod`, namespace, labels: deployment.spec.template.metadata.labels },
    spec: { automountServiceAccountToken: false, containers: [{ name: 'gateway', image: 'kmesh.test/kmesh:dev' }] },
  });
  await client.mergePatch(
    RESOURCES.pod,
    namespace,
    pod.metadata.name,
    { status: { phase: 'Running', hostIP } },
    'status',
  );
}

async function markAvailable(name: string): Promise<void> {
  const deployment = await get<Workload>(RESOURCES.deployment, name);
  const replicas = deployment.spec.replicas ?? 1;
  await client.mergePatch(
    RESOURCES.deployment,
    namespace,
    name,
    {
      status: {
        observedGeneration: deployment.metadata?.generation,
        replicas,
        readyReplicas: replicas,
        availableReplicas: replicas,
        updatedReplicas: replicas,
      },
    },
    'status',
  );
}

/** Plays the StatefulSet controller and kubelet: `ready` pods are ready. */
async function markStatefulSetReady(name: string, ready?: number): Promise<void> {
  const sts = await get<Workload>(RESOURCES.statefulSet, name);
  const replicas = sts.spec.replicas ?? 1;
  await client.mergePatch(
    RESOURCES.statefulSet,
    namespace,
    name,
    {
      status: {
        observedGeneration: sts.metadata?.generation,
        replicas,
        readyReplicas: ready ?? replicas,
        availableReplicas: ready ?? replicas,
        currentReplicas: replicas,
      },
    },
    'status',
  );
}

const eventReasons = (name: string): Promise<string[]> => eventReasonsOf(client, namespace, name);

beforeAll(async () => {
  client = testClient();
  await installCrds(client);
  await installOperatorRbac(client);
  namespace = await createNamespace(client, 'kmi');
  [gatewayHealthPort] = (await freePorts(1)) as [number];
  operator = await startTestOperator(
    testOperatorConfig(namespace, { settings: { ...testOperatorConfig(namespace).settings, gatewayHealthPort } }),
  );
});

afterAll(async () => {
  await operator?.stop();
  await deleteNamespace(client, namespace);
  client?.close();
});

describe('KmeshInstance with the local backend', () => {
  it('runs the gateway with the TLS Secret and the directory mounted, and becomes Ready when it is available', async () => {
    await client.create(RESOURCES.secret, tlsSecret('site-a-tls'));
    await client.create(
      RESOURCES.kmeshInstance,
      instance('site-a', {
        location: { region: 'lab' },
        backend: { type: 'local', local: { path: '/var/lib/kmesh/site-a', nodeName: 'node-1' } },
        gateway: { replicas: 1, service: { type: 'NodePort', port: 7443 }, tlsSecretRef: { name: 'site-a-tls' } },
      }),
    );
    const created = await eventually(() => get<Workload>(RESOURCES.deployment, 'site-a-gateway'));
    const pod = created.spec.template.spec;
    const container = pod.containers[0]!;
    expect(container['args']).toEqual(['gateway', '--config', '/etc/kmesh/gateway/config.yaml']);
    const config = await eventually(() =>
      get<WireObject & { data: Record<string, string> }>(RESOURCES.configMap, 'site-a-gateway'),
    );
    expect(parseYaml(config.data['config.yaml']!)).toEqual({
      host: '0.0.0.0',
      port: 7443,
      metricsPort: gatewayHealthPort,
      tlsDir: '/etc/kmesh/tls',
      filesystem: '/kmesh/data',
      dataFlows: [],
    });
    expect(pod['nodeSelector']).toEqual({ 'kubernetes.io/hostname': 'node-1' });
    expect(pod['volumes']).toEqual(
      expect.arrayContaining([
        // An inline volume of the Kmesh CSI driver: the node plugin binds the instance's directory.
        { name: 'data', csi: { driver: 'csi.kmesh.io', volumeAttributes: { 'kmesh.io/instance': 'site-a' } } },
        expect.objectContaining({ name: 'tls', secret: expect.objectContaining({ secretName: 'site-a-tls' }) }),
        expect.objectContaining({ name: 'config', configMap: expect.objectContaining({ name: 'site-a-gateway' }) }),
      ]),
    );
    expect(container['volumeMounts']).toContainEqual({ name: 'data', mountPath: '/kmesh/data' });
    expect(JSON.stringify(pod)).not.toContain('hostPath');
    expect(container['securityContext']).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
    });
    expect(pod['securityContext']).toMatchObject({ runAsUser: 65532 });
    expect(created.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'KmeshInstance',
      name: 'site-a',
      controller: true,
    });
    const service = await eventually(() =>
      get<WireObject & { spec: { type: string; ports: Array<{ port: number }> } }>(RESOURCES.service, 'site-a-gateway'),
    );
    expect([service.spec.type, service.spec.ports[0]!.port]).toEqual(['NodePort', 7443]);

    let current = await expectCondition('site-a', 'GatewayReady', 'False', 'GatewayUnavailable');
    expect(current.status?.phase).toBe('Provisioning');
    expect(condition(current, 'FilesystemReady')?.status).toBe('True');
    expect(condition(current, 'CapacityReported')?.status).toBe('Unknown');
    expect(current.status?.capacity).toBeUndefined();

    await markAvailable('site-a-gateway');
    // A NodePort gateway is reached at a node's address: none until a gateway pod runs on a node.
    await eventually(async () => {
      const waiting = condition(await getInstance('site-a'), 'GatewayReady');
      expect([waiting?.status, waiting?.reason, waiting?.message]).toEqual([
        'False',
        'GatewayUnavailable',
        expect.stringMatching(/running gateway pod on a node/),
      ]);
    });
    await runGatewayPod('site-a-gateway', '10.0.0.5');
    current = await expectCondition('site-a', 'Ready', 'True', 'Ready');
    const nodePort = (service.spec.ports[0] as { nodePort?: number }).nodePort;
    expect(nodePort).toBeGreaterThan(0);
    expect(current.status).toMatchObject({
      phase: 'Ready',
      observedGeneration: current.metadata.generation,
      mountSource: 'node-1:/var/lib/kmesh/site-a',
      gatewayEndpoint: `10.0.0.5:${nodePort}`,
    });
    expect(current.metadata.finalizers).toEqual(['kmesh.io/kmeshinstance']);
    await eventually(async () =>
      expect(await eventReasons('site-a')).toEqual(expect.arrayContaining(['Created', 'Ready'])),
    );
  });

  it('updates its children in place when the spec changes, also when a field is removed', async () => {
    const before = await get<Workload>(RESOURCES.deployment, 'site-a-gateway');
    // nodeName unset: the gateway may run anywhere, so its nodeSelector must go (not merely stay as applied before).
    await client.mergePatch(RESOURCES.kmeshInstance, namespace, 'site-a', {
      spec: { backend: { local: { nodeName: null } } },
    });
    await eventually(async () =>
      expect(
        (await get<Workload>(RESOURCES.deployment, 'site-a-gateway')).spec.template.spec['nodeSelector'],
      ).toBeUndefined(),
    );
    await client.mergePatch(RESOURCES.kmeshInstance, namespace, 'site-a', {
      spec: { backend: { local: { nodeName: 'node-1' } } },
    });
    await eventually(async () =>
      expect((await get<Workload>(RESOURCES.deployment, 'site-a-gateway')).spec.template.spec['nodeSelector']).toEqual({
        'kubernetes.io/hostname': 'node-1',
      }),
    );
    await client.mergePatch(RESOURCES.kmeshInstance, namespace, 'site-a', {
      spec: { gateway: { service: { port: 8443 } } },
    });
    await eventually(async () => {
      const service = await get<WireObject & { spec: { ports: Array<{ port: number }> } }>(
        RESOURCES.service,
        'site-a-gateway',
      );
      expect(service.spec.ports[0]!.port).toBe(8443);
    });
    // A refused change (two gateway pods) shows in Reconciled and leaves the running gateway as it was.
    await client.mergePatch(RESOURCES.kmeshInstance, namespace, 'site-a', { spec: { gateway: { replicas: 2 } } });
    await expectCondition('site-a', 'Reconciled', 'False', 'NotSupported');
    const after = await get<Workload>(RESOURCES.deployment, 'site-a-gateway');
    expect([after.metadata?.uid, after.spec.replicas]).toEqual([before.metadata?.uid, 1]);
    await client.mergePatch(RESOURCES.kmeshInstance, namespace, 'site-a', { spec: { gateway: { replicas: 1 } } });
    // The gateway's pod down: Degraded is for a serving filesystem at less than full strength, so here not Ready instead.
    await client.mergePatch(
      RESOURCES.deployment,
      namespace,
      'site-a-gateway',
      { status: { replicas: 1, availableReplicas: 0, readyReplicas: 0 } },
      'status',
    );
    await expectCondition('site-a', 'GatewayReady', 'False');
    await markAvailable('site-a-gateway');
    await expectCondition('site-a', 'GatewayReady', 'True');
  });

  it('makes no write when reconciling a settled instance again', async () => {
    const settled = await expectCondition('site-a', 'Ready', 'True');
    const versions = async (): Promise<string[]> => [
      (await getInstance('site-a')).metadata.resourceVersion!,
      (await get(RESOURCES.deployment, 'site-a-gateway')).metadata!.resourceVersion!,
      (await get(RESOURCES.service, 'site-a-gateway')).metadata!.resourceVersion!,
    ];
    const before = await versions();
    expect(before[0]).toBe(settled.metadata.resourceVersion);
    const reconciles = async (): Promise<number> => {
      const metric = await operator.metrics.registry.getSingleMetric('controller_runtime_reconcile_total')!.get();
      return metric.values.reduce((sum, v) => sum + v.value, 0);
    };
    /** Requests the operator made that could change something (a no-op apply or PUT keeps resourceVersion, so count them). */
    const writes = async (): Promise<number> => {
      const metric = await operator.metrics.registry.getSingleMetric('rest_client_requests_total')!.get();
      return metric.values.filter((v) => v.labels['method'] !== 'GET').reduce((sum, v) => sum + v.value, 0);
    };
    const count = await reconciles();
    const written = await writes();
    // An annotation on the gateway Service is a change the controller sees (its child) but that needs no write.
    await client.mergePatch(RESOURCES.service, namespace, 'site-a-gateway', {
      metadata: { annotations: { 'test/poke': '1' } },
    });
    await eventually(async () => expect(await reconciles()).toBeGreaterThanOrEqual(count + 1));
    const poked = await versions();
    expect([poked[0], poked[1]]).toEqual([before[0], before[1]]);
    expect(await writes()).toBe(written);
    expect(written).toBeGreaterThan(0); // the counter does count this operator's writes
  });

  it('measures the filesystem’s capacity through the running gateway and keeps the report in a ConfigMap', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-capacity-'));
    // Plays the gateway pod: its /capacity, as `kmesh gateway` serves it, on 127.0.0.1.
    const gateway = await startHealthServer({
      port: gatewayHealthPort,
      host: '127.0.0.1',
      registry: new Registry(),
      ready: () => true,
      routes: { '/capacity': () => filesystemCapacity(dir) },
    });
    try {
      await client.create(RESOURCES.secret, tlsSecret('measured-tls'));
      await client.create(
        RESOURCES.kmeshInstance,
        instance('measured', {
          backend: { type: 'local', local: { path: '/var/lib/kmesh/measured' } },
          gateway: { tlsSecretRef: { name: 'measured-tls' } },
        }),
      );
      const deployment = await eventually(() =>
        get<Workload & { spec: { template: { metadata: { labels: Record<string, string> } } } }>(
          RESOURCES.deployment,
          'measured-gateway',
        ),
      );
      const config = parseYaml(
        (
          await eventually(() =>
            get<WireObject & { data: Record<string, string> }>(RESOURCES.configMap, 'measured-gateway'),
          )
        ).data['config.yaml']!,
      ) as Record<string, unknown>;
      expect(config).toMatchObject({ metricsPort: gatewayHealthPort, filesystem: '/kmesh/data' });
      await markAvailable('measured-gateway');
      const pod = await client.create(RESOURCES.pod, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'measured-gateway-pod', namespace, labels: deployment.spec.template.metadata.labels },
        spec: { automountServiceAccountToken: false, containers: [{ name: 'gateway', image: 'kmesh.test/kmesh:dev' }] },
      });
      await client.mergePatch(
        RESOURCES.pod,
        namespace,
        pod.metadata.name,
        { status: { phase: 'Running', podIP: '127.0.0.1', podIPs: [{ ip: '127.0.0.1' }] } },
        'status',
      );

      const expected = filesystemCapacity(dir);
      const current = await expectCondition('measured', 'CapacityReported', 'True');
      expect(current.status?.capacity).toMatchObject({ totalBytes: expected.totalBytes });
      expect(Math.abs(current.status!.capacity!.usedBytes! - expected.usedBytes)).toBeLessThanOrEqual(
        expected.totalBytes / 100,
      ); // other tests write to the same disk
      const report = await get<WireObject & { data: Record<string, string> }>(RESOURCES.configMap, 'measured-report');
      expect(JSON.parse(report.data['capacity']!)).toMatchObject({ totalBytes: expected.totalBytes });
      expect(report.metadata?.ownerReferences?.[0]).toMatchObject({
        kind: 'KmeshInstance',
        name: 'measured',
        controller: true,
      });
    } finally {
      await gateway.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('waits for a missing TLS Secret with a False condition and a Warning event, then starts the gateway', async () => {
    await client.create(
      RESOURCES.kmeshInstance,
      instance('site-b', {
        backend: { type: 'local', local: { path: '/var/lib/kmesh/site-b' } },
        gateway: { replicas: 1, tlsSecretRef: { name: 'site-b-tls' } },
      }),
    );
    const current = await expectCondition('site-b', 'Reconciled', 'False', 'SecretNotFound');
    expect(condition(current, 'Reconciled')?.message).toContain(`Secret ${namespace}/site-b-tls`);
    expect(condition(current, 'GatewayReady')).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
    expect(current.status?.phase).toBe('Pending');
    expect(await client.get(RESOURCES.deployment, namespace, 'site-b-gateway')).toBeUndefined();
    await eventually(async () => expect(await eventReasons('site-b')).toContain('MissingDependency'));
    await client.create(RESOURCES.secret, tlsSecret('site-b-tls'));
    // The controller looks again on its own (no Secret watch: it may only get Secrets).
    await eventually(() => get(RESOURCES.deployment, 'site-b-gateway'), 45_000);
    await expectCondition('site-b', 'Reconciled', 'True', 'Applied');
  });

  it('refuses more than one gateway pod with a condition naming the field, and creates no gateway', async () => {
    await client.create(RESOURCES.secret, tlsSecret('site-two-tls'));
    await client.create(
      RESOURCES.kmeshInstance,
      instance('site-two', {
        backend: { type: 'local', local: { path: '/var/lib/kmesh/site-two' } },
        gateway: { replicas: 2, tlsSecretRef: { name: 'site-two-tls' } },
      }),
    );
    const current = await expectCondition('site-two', 'GatewayReady', 'False', 'NotSupported');
    expect(condition(current, 'GatewayReady')?.message).toContain('spec.gateway.replicas');
    expect(await client.get(RESOURCES.deployment, namespace, 'site-two-gateway')).toBeUndefined();
    await client.mergePatch(RESOURCES.kmeshInstance, namespace, 'site-two', { spec: { gateway: { replicas: 1 } } });
    const gateway = await eventually(() => get<Workload>(RESOURCES.deployment, 'site-two-gateway'));
    expect(gateway.spec.replicas).toBe(1);
  });

  it('removes the gateway when the spec drops it', async () => {
    await client.mergePatch(RESOURCES.kmeshInstance, namespace, 'site-b', { spec: { gateway: null } });
    await eventually(async () =>
      expect(await client.get(RESOURCES.deployment, namespace, 'site-b-gateway')).toBeUndefined(),
    );
    const current = await expectCondition('site-b', 'GatewayReady', 'True', 'GatewayDisabled');
    expect(current.status?.gatewayEndpoint).toBeUndefined();
    await expectCondition('site-b', 'Ready', 'True');
  });
});

describe('KmeshInstance with the Lustre backend', () => {
  it('creates MDS and OSS StatefulSets with block targets from the node type preset, and headless Services', async () => {
    await client.create(
      RESOURCES.kmeshInstance,
      instance('lus', {
        backend: {
          type: 'lustre',
          lustre: {
            fsName: 'kmfs',
            nodeType: 'small',
            nodeSelector: { 'kmesh.io/lustre-server': 'true' },
            tolerations: [{ key: 'kmesh.io/lustre', operator: 'Exists', effect: 'NoSchedule' }],
          },
        },
      }),
    );
    const mds = await eventually(() => get<Workload>(RESOURCES.statefulSet, 'lus-mds'));
    const oss = await eventually(() => get<Workload>(RESOURCES.statefulSet, 'lus-oss'));
    expect([mds.spec.replicas, oss.spec.replicas]).toEqual([1, 2]);
    for (const [sts, target, size] of [
      [mds, 'mdt0', '64Gi'],
      [oss, 'ost0', '1Ti'],
    ] as const) {
      const pod = sts.spec.template.spec;
      expect(pod).toMatchObject({
        hostNetwork: true,
        dnsPolicy: 'ClusterFirstWithHostNet',
        nodeSelector: { 'kmesh.io/lustre-server': 'true' },
      });
      expect(pod['tolerations']).toEqual([expect.objectContaining({ key: 'kmesh.io/lustre', operator: 'Exists' })]);
      const container = pod.containers[0]!;
      expect(container).toMatchObject({
        image: 'kmesh.test/lustre-server:2.15',
        securityContext: { privileged: true },
        ports: [expect.objectContaining({ containerPort: 988 })],
      });
      expect(container['volumeDevices']).toEqual([{ name: target, devicePath: `/dev/kmesh/${target}` }]);
      expect(JSON.stringify(container['readinessProbe'])).toContain('lctl get_param -n health_check');
      expect(sts.spec['volumeClaimTemplates']).toEqual([
        expect.objectContaining({
          metadata: expect.objectContaining({ name: target }),
          spec: expect.objectContaining({ volumeMode: 'Block', resources: { requests: { storage: size } } }),
        }),
      ]);
    }
    const headless = await eventually(() =>
      get<WireObject & { spec: { clusterIP: string } }>(RESOURCES.service, 'lus-mds'),
    );
    expect(headless.spec.clusterIP).toBe('None');
    const current = await expectCondition('lus', 'FilesystemReady', 'False', 'ServersNotReady');
    expect(current.status?.servers).toEqual({ mds: { ready: 0, desired: 1 }, oss: { ready: 0, desired: 2 } });
    expect(current.status?.mountSource).toBe(`lus-mds-0.lus-mds.${namespace}.svc.cluster.local@tcp:/kmfs`);
  });

  it('follows server readiness: Degraded while some OSSs are down, Ready when all are up', async () => {
    await markStatefulSetReady('lus-mds');
    await markStatefulSetReady('lus-oss', 1);
    let current = await expectCondition('lus', 'Degraded', 'True', 'ServersDegraded');
    expect(current.status?.phase).toBe('Degraded');
    await markStatefulSetReady('lus-oss');
    current = await expectCondition('lus', 'Ready', 'True');
    expect(current.status?.servers).toEqual({ mds: { ready: 1, desired: 1 }, oss: { ready: 2, desired: 2 } });
  });

  it('scales out by oss.count and refuses to scale down, saying why', async () => {
    await client.mergePatch(RESOURCES.kmeshInstance, namespace, 'lus', {
      spec: { backend: { lustre: { oss: { count: 4 } } } },
    });
    await eventually(async () => expect((await get<Workload>(RESOURCES.statefulSet, 'lus-oss')).spec.replicas).toBe(4));
    await markStatefulSetReady('lus-oss');
    await expectCondition('lus', 'Ready', 'True');
    await client.mergePatch(RESOURCES.kmeshInstance, namespace, 'lus', {
      spec: { backend: { lustre: { oss: { count: 1 } } } },
    });
    const current = await expectCondition('lus', 'Reconciled', 'False', 'ScaleDownRefused');
    expect(condition(current, 'Reconciled')?.message).toContain('oss.count 1 is below the 4 OSSs running');
    // The refusal keeps the four servers running: the instance still serves.
    expect([condition(current, 'Ready')?.status, current.status?.phase]).toEqual(['True', 'Ready']);
    expect(condition(current, 'Ready')?.message).toContain('the spec is not fully applied (see Reconciled)');
    expect((await get<Workload>(RESOURCES.statefulSet, 'lus-oss')).spec.replicas).toBe(4);
    await eventually(async () => expect(await eventReasons('lus')).toContain('SpecRefused'));
  });

  it('with HA, doubles the servers, creates them in order and spreads them over the topology key', async () => {
    await client.create(
      RESOURCES.kmeshInstance,
      instance('ha', {
        backend: {
          type: 'lustre',
          lustre: {
            fsName: 'hafs',
            nodeType: 'custom',
            mds: { count: 1, storage: { size: '10Gi' } },
            oss: { count: 2, storage: { size: '100Gi' } },
            ha: { enabled: true },
          },
        },
      }),
    );
    const oss = await eventually(() => get<Workload>(RESOURCES.statefulSet, 'ha-oss'));
    expect(oss.spec.replicas).toBe(4);
    expect(oss.spec['podManagementPolicy']).toBe('OrderedReady');
    expect(oss.spec.template.spec['topologySpreadConstraints']).toEqual([
      expect.objectContaining({
        topologyKey: 'topology.kubernetes.io/zone',
        maxSkew: 1,
        whenUnsatisfiable: 'DoNotSchedule',
      }),
    ]);
    expect(JSON.stringify(oss.spec.template.spec['affinity'])).toContain('topology.kubernetes.io/zone');
    const current = await expectCondition('ha', 'FilesystemReady', 'False');
    expect(current.status?.mountSource).toBe(
      `ha-mds-0.ha-mds.${namespace}.svc.cluster.local@tcp:ha-mds-1.ha-mds.${namespace}.svc.cluster.local@tcp:/hafs`,
    );
  });

  it('applies a custom spec: storage classes, targets per server, resources, zfs with at-rest compression and encryption', async () => {
    const resources = { requests: { cpu: '3', memory: '12Gi' }, limits: { memory: '16Gi' } };
    await client.create(
      RESOURCES.kmeshInstance,
      instance('zfs', {
        backend: {
          type: 'lustre',
          lustre: {
            fsName: 'zfsfs',
            nodeType: 'custom',
            mds: { count: 1, storage: { size: '10Gi', storageClassName: 'fast-block' }, resources },
            oss: {
              count: 1,
              targetsPerServer: 2,
              storage: { size: '100Gi', storageClassName: 'bulk-block' },
              resources,
            },
            backingFs: 'zfs',
            atRest: { compression: 'lz4', encryption: { keySecretRef: { name: 'at-rest-key' } } },
          },
        },
      }),
    );
    const oss = await eventually(() => get<Workload>(RESOURCES.statefulSet, 'zfs-oss'));
    const mds = await get<Workload>(RESOURCES.statefulSet, 'zfs-mds');
    const claims = (sts: Workload) =>
      (
        sts.spec['volumeClaimTemplates'] as Array<{ metadata: { name: string }; spec: { storageClassName?: string } }>
      ).map((c) => [c.metadata.name, c.spec.storageClassName]);
    expect(claims(mds)).toEqual([['mdt0', 'fast-block']]);
    expect(claims(oss)).toEqual([
      ['ost0', 'bulk-block'],
      ['ost1', 'bulk-block'],
    ]);
    const container = oss.spec.template.spec.containers[0]!;
    expect(container['resources']).toEqual(resources);
    // The server script formats zfs targets with these (backingFs, atRest.compression, atRest.encryption).
    expect(container['env']).toEqual(
      expect.arrayContaining([
        { name: 'BACKFS', value: 'zfs' },
        { name: 'TARGETS', value: '2' },
        { name: 'ZFS_OPTIONS', value: '-o compression=lz4' },
        { name: 'KEY_FILE', value: '/etc/kmesh/at-rest/key' },
      ]),
    );
    expect(oss.spec.template.spec['volumes']).toEqual([
      {
        name: 'at-rest-key',
        secret: expect.objectContaining({ secretName: 'at-rest-key', items: [{ key: 'key', path: 'key' }] }),
      },
    ]);
    const current = await expectCondition('zfs', 'Supported', 'True', 'AllSupported');
    expect(current.status?.observedGeneration).toBe(current.metadata.generation);
  });

  it('names the fields it ignores (tiering, workers.maxConcurrentFlows) in Supported=False and one Warning event', async () => {
    await client.create(
      RESOURCES.kmeshInstance,
      instance('tier', {
        backend: { type: 'lustre', lustre: { fsName: 'tierfs' } },
        tiering: { target: { s3: { bucket: 'cold' } }, percent: 85 },
        workers: { maxConcurrentFlows: 4 },
      }),
    );
    let current = await expectCondition('tier', 'Supported', 'False', 'NotSupported');
    expect(condition(current, 'Supported')?.message).toMatch(/spec\.tiering: .*; spec\.workers\.maxConcurrentFlows: /);
    await eventually(async () =>
      expect((await eventReasons('tier')).filter((r) => r === 'NotSupported')).toHaveLength(1),
    );
    // What works still works: the servers are created and become Ready, the message says what is ignored.
    await eventually(() => get(RESOURCES.statefulSet, 'tier-oss'));
    await markStatefulSetReady('tier-mds');
    await markStatefulSetReady('tier-oss');
    current = await expectCondition('tier', 'Ready', 'True');
    expect(condition(current, 'Ready')?.message).toContain(
      'ignored by this release (see Supported): spec.tiering, spec.workers.maxConcurrentFlows',
    );
    // Dropping one changes the set: Supported names the other, and a second event says so.
    await client.mergePatch(RESOURCES.kmeshInstance, namespace, 'tier', { spec: { tiering: null } });
    await eventually(async () =>
      expect(condition(await getInstance('tier'), 'Supported')?.message).toBe(
        'not acted on by this release: spec.workers.maxConcurrentFlows: every DataFlow’s worker transfers on its own; the limit is not applied in this release',
      ),
    );
    await eventually(async () =>
      expect((await eventReasons('tier')).filter((r) => r === 'NotSupported')).toHaveLength(2),
    );
    await client.mergePatch(RESOURCES.kmeshInstance, namespace, 'tier', {
      spec: { workers: { maxConcurrentFlows: null } },
    });
    await expectCondition('tier', 'Supported', 'True', 'AllSupported');
  });

  it('adds one OSS when the reported capacity crosses the threshold, up to maxOss', async () => {
    await client.create(
      RESOURCES.kmeshInstance,
      instance('auto', {
        backend: { type: 'lustre', lustre: { fsName: 'autofs', oss: { count: 2 } } },
        autoscale: { enabled: true, thresholdPercent: 75, maxOss: 3 },
      }),
    );
    await eventually(() => get(RESOURCES.statefulSet, 'auto-oss'));
    const owner = await getInstance('auto');
    // What the gateway reports: 80% used.
    const report = (usedBytes: number): WireObject => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'auto-report',
        namespace,
        labels: { 'app.kubernetes.io/managed-by': 'kmesh-operator', 'kmesh.io/owner-uid': owner.metadata.uid! },
        ownerReferences: [
          {
            apiVersion: 'kmesh.io/v1alpha1',
            kind: 'KmeshInstance',
            name: 'auto',
            uid: owner.metadata.uid!,
            controller: true,
          },
        ],
      },
      data: { capacity: JSON.stringify({ totalBytes: 1000, usedBytes, reportedAt: new Date().toISOString() }) },
    });
    await client.apply(RESOURCES.configMap, report(800), 'kmesh-gateway');
    const current = await expectCondition('auto', 'CapacityReported', 'True');
    expect(current.status?.capacity).toEqual({ totalBytes: 1000, usedBytes: 800, percent: 80 });
    await eventually(async () =>
      expect((await get<Workload>(RESOURCES.statefulSet, 'auto-oss')).spec.replicas).toBe(3),
    );
    await eventually(async () => expect((await getInstance('auto')).status?.autoscale?.ossCount).toBe(3));
    await eventually(async () => expect(await eventReasons('auto')).toContain('ScaledUp'));
    // At maxOss it stops, however full.
    await client.apply(RESOURCES.configMap, report(990), 'kmesh-gateway');
    await eventually(async () => expect((await getInstance('auto')).status?.capacity?.percent).toBe(99));
    expect((await get<Workload>(RESOURCES.statefulSet, 'auto-oss')).spec.replicas).toBe(3);
  });

  it('gives the gateway the filesystem through the Kmesh CSI driver: no Kmesh pod mounts Lustre itself or runs privileged', async () => {
    await client.create(RESOURCES.secret, tlsSecret('lusgw-tls'));
    await client.create(
      RESOURCES.kmeshInstance,
      instance('lusgw', {
        backend: { type: 'lustre', lustre: { fsName: 'gwfs' } },
        gateway: { replicas: 1, tlsSecretRef: { name: 'lusgw-tls' } },
      }),
    );
    const gateway = await eventually(() => get<Workload>(RESOURCES.deployment, 'lusgw-gateway'));
    const pod = gateway.spec.template.spec;
    expect(pod['volumes']).toContainEqual({
      name: 'data',
      csi: { driver: 'csi.kmesh.io', volumeAttributes: { 'kmesh.io/instance': 'lusgw' } },
    });
    const container = pod.containers[0]!;
    expect(container['volumeMounts']).toContainEqual({ name: 'data', mountPath: '/kmesh/data' });
    expect(container['securityContext']).toEqual({
      runAsUser: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID'] },
    });
    expect(JSON.stringify(pod)).not.toMatch(/KMESH_MOUNT_SOURCE|emptyDir|Bidirectional|privileged/);
  });

  it('waits for a Lustre server image rather than creating pods that cannot run', async () => {
    const other = await createNamespace(client, 'kmi-noimage');
    const noImage = await startTestOperator(
      testOperatorConfig(other, { settings: { ...testOperatorConfig(other).settings, lustreImage: '' } }),
    );
    try {
      await client.create(RESOURCES.kmeshInstance, {
        ...instance('lus', { backend: { type: 'lustre', lustre: { fsName: 'kmfs' } } }),
        metadata: { name: 'lus', namespace: other },
      });
      const current = await eventually(async () => {
        const got = (await client.get<KmeshInstance>(RESOURCES.kmeshInstance, other, 'lus'))!;
        expect(condition(got, 'Reconciled')?.reason).toBe('ImageNotConfigured');
        return got;
      });
      expect(condition(current, 'Reconciled')?.message).toContain('spec.backend.lustre.image');
      expect(await client.get(RESOURCES.statefulSet, other, 'lus-oss')).toBeUndefined();
      await client.mergePatch(RESOURCES.kmeshInstance, other, 'lus', {
        spec: { backend: { lustre: { image: 'site/lustre:2.15' } } },
      });
      const oss = await eventually(() => getIn<Workload>(other, RESOURCES.statefulSet, 'lus-oss'));
      expect(oss.spec.template.spec.containers[0]!['image']).toBe('site/lustre:2.15');
    } finally {
      await noImage.stop();
      await deleteNamespace(client, other);
    }
  });
});

describe('KmeshInstance deletion', () => {
  it('is blocked while a DataFlow uses the instance, then releases the finalizer and its children go', async () => {
    await client.create(RESOURCES.dataFlow, {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'DataFlow',
      metadata: { name: 'uses-site-a', namespace },
      spec: { instanceRef: { name: 'site-a' } },
    });
    await client.delete(RESOURCES.kmeshInstance, namespace, 'site-a');
    const blocked = await expectCondition('site-a', 'DeletionBlocked', 'True', 'DependentsExist');
    expect(condition(blocked, 'DeletionBlocked')?.message).toContain('DataFlow uses-site-a');
    expect(blocked.status?.phase).toBe('Deleting');
    await eventually(async () => expect(await eventReasons('site-a')).toContain('DeletionBlocked'));
    await client.delete(RESOURCES.dataFlow, namespace, 'uses-site-a');
    await eventually(async () =>
      expect(await client.get(RESOURCES.kmeshInstance, namespace, 'site-a')).toBeUndefined(),
    );
    // Owner references hand the children to the garbage collector.
    await eventually(async () => {
      expect(await client.get(RESOURCES.deployment, namespace, 'site-a-gateway')).toBeUndefined();
      expect(await client.get(RESOURCES.service, namespace, 'site-a-gateway')).toBeUndefined();
    }, 30_000);
  });
});
