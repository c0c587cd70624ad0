/**
 * The DataFlow controller against the real API server, with a real sync worker process and a
 * real gateway: the worker's ConfigMap and Deployment, restarts on spec change, suspend, status
 * read from the running worker's /status, activeMounts from the CSI nodes' reports, and
 * deleteAfterUse. The test plays the ReplicaSet controller and kubelet by creating the worker pod
 * and marking it Running on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { parse as parseYaml, stringify } from 'yaml';
import type { Condition, DataFlow } from '../../api/v1alpha1/index.js';
import { freePorts } from '../../hack/control-plane/process.js';
import { CertificateAuthority } from '../../hack/pki.js';
import { REPO_ROOT } from '../../hack/tools.js';
import { loggerFor } from '../../lib/logging.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import type { KubeClient, WireObject } from '../../lib/kube/rest.js';
import { parseWorkerConfig } from '../../sync/config.js';
import { initCodecs } from '../../sync/engine/seal.js';
import { startGateway, type Gateway } from '../../sync/gateway/server.js';
import { createNamespace, deleteNamespace, installCrds, testClient } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { installOperatorRbac, startTestOperator, testOperatorConfig, type TestOperator } from '../support/operator.js';
import { S3_ACCESS_KEY, S3_SECRET_KEY, startTestS3 } from '../support/s3.js';
import { siteTls, writeTlsDir } from '../support/sync.js';
import { treeListing } from '../support/tree-hash.js';

let client: KubeClient;
let namespace: string;
let operator: TestOperator;
let statusPort: number;
let top: string;
let gateway: Gateway;
const key = randomBytes(32);
let worker: ChildProcess | undefined;

type ConfigMap = WireObject & { data: Record<string, string> };
type Deployment = WireObject & {
  spec: {
    replicas: number;
    template: {
      metadata: { annotations: Record<string, string>; labels: Record<string, string> };
      spec: { volumes: WireObject[]; containers: { args: string[] }[] };
    };
  };
};

const get = async <T extends WireObject>(
  type: (typeof RESOURCES)[keyof typeof RESOURCES],
  name: string,
): Promise<T> => {
  const object = await client.get<T>(type, namespace, name);
  if (!object) throw new Error(`${type.kind} ${name} does not exist (yet)`);
  return object;
};
const dataFlow = (name: string) => get<DataFlow & WireObject>(RESOURCES.dataFlow, name);
const condition = (df: DataFlow, type: string): Condition | undefined =>
  df.status?.conditions?.find((c) => c.type === type);
async function expectCondition(name: string, type: string, status: string, reason: string): Promise<DataFlow> {
  return eventually(async () => {
    const df = await dataFlow(name);
    expect([type, condition(df, type)?.status, condition(df, type)?.reason]).toEqual([type, status, reason]);
    return df;
  }, 30_000);
}

/** The worker's rendered config with pod paths mapped to this machine, then started as a process. */
async function runWorker(name: string): Promise<void> {
  await stopWorker();
  const rendered = parseYaml(
    (await get<ConfigMap>(RESOURCES.configMap, `${name}-sync`)).data['config.yaml']!,
  ) as Record<string, unknown>;
  const local = JSON.parse(
    JSON.stringify(rendered)
      .replaceAll('/kmesh/data', join(top, 'east'))
      .replaceAll('/etc/kmesh/keys/', `${join(top, 'keys')}/`)
      .replaceAll('/etc/kmesh/peers/', `${join(top, 'peers')}/`)
      .replaceAll('/etc/kmesh/sources/', `${join(top, 'sources')}/`)
      .replaceAll('/var/lib/kmesh/sources/', `${join(top, 'source-data')}/`),
  ) as Record<string, unknown>;
  local['statusPort'] = statusPort;
  for (const peer of local['peers'] as { endpoint: string }[]) peer.endpoint = `127.0.0.1:${gateway.port}`;
  writeFileSync(join(top, 'worker.yaml'), stringify(local));
  worker = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'cmd', 'kmesh.ts'), 'sync', '--config', join(top, 'worker.yaml')],
    { cwd: REPO_ROOT, env: { ...process.env, KMESH_LOG_LEVEL: 'warn' }, stdio: 'ignore' },
  );
}

async function stopWorker(): Promise<void> {
  if (!worker || worker.exitCode !== null) return;
  const exited = new Promise((resolve) => worker!.once('exit', resolve));
  worker.kill('SIGTERM');
  await exited;
}

/** Plays the ReplicaSet controller and kubelet: one Running worker pod on 127.0.0.1. */
async function runningPod(name: string): Promise<void> {
  const deployment = await get<Deployment>(RESOURCES.deployment, `${name}-sync`);
  const pod = await client.create(RESOURCES.pod, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${name}-sync-pod`, namespace, labels: deployment.spec.template.metadata.labels },
    spec: { automountServiceAccountToken: false, containers: [{ name: 'sync', image: 'kmesh.test/kmesh:dev' }] },
  });
  await client.mergePatch(
    RESOURCES.pod,
    namespace,
    pod.metadata.name,
    { status: { phase: 'Running', podIP: '127.0.0.1', podIPs: [{ ip: '127.0.0.1' }] } },
    'status',
  );
}

beforeAll(async () => {
  await initCodecs();
  client = testClient();
  await installCrds(client);
  await installOperatorRbac(client);
  namespace = await createNamespace(client, 'df');
  top = mkdtempSync(join(tmpdir(), 'kmesh-df-'));
  [statusPort] = (await freePorts(1)) as [number];
  const ca = await CertificateAuthority.create('kmesh-df-ca');
  writeTlsDir(join(top, 'peers/west'), await siteTls(ca, 'east'));
  mkdirSync(join(top, 'keys'));
  writeFileSync(join(top, 'keys', `${namespace}_shared`), key);
  mkdirSync(join(top, 'west/tree'), { recursive: true });
  gateway = await startGateway({
    host: '127.0.0.1',
    port: 0,
    tls: await siteTls(ca, 'west'),
    dataFlows: () => [
      {
        name: `${namespace}/shared`,
        treeDir: join(top, 'west/tree'),
        stateDir: join(top, 'west/state'),
        deletedRetentionMs: 3_600_000,
        peers: [{ name: 'east', direction: 'pull' }],
        encryption: 'aes-256-gcm',
        key,
      },
    ],
    log: loggerFor('df-test-gateway'),
  });
  operator = await startTestOperator(
    testOperatorConfig(namespace, {
      settings: { ...testOperatorConfig(namespace).settings, workerStatusPort: statusPort },
    }),
  );
  await client.create(RESOURCES.kmeshInstance, {
    apiVersion: 'kmesh.io/v1alpha1',
    kind: 'KmeshInstance',
    metadata: { name: 'east', namespace },
    spec: { backend: { type: 'local', local: { path: '/srv/kmesh/east' } } },
  });
  await client.create(RESOURCES.secret, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'flow-key', namespace },
    data: { key: key.toString('base64') },
  });
  await client.create(RESOURCES.secret, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'west-tls', namespace },
    type: 'Opaque',
    stringData: { 'tls.crt': 'c', 'tls.key': 'k', 'ca.crt': 'a' },
  });
});

afterAll(async () => {
  await stopWorker();
  await operator?.stop();
  await gateway?.close();
  await deleteNamespace(client, namespace);
  client?.close();
  rmSync(top, { recursive: true, force: true });
});

const sharedSpec = {
  instanceRef: { name: 'east' },
  peers: [{ name: 'west', endpoint: 'west.example:7443', direction: 'push', tlsSecretRef: { name: 'west-tls' } }],
  policy: { compression: 'zstd', encryption: { algorithm: 'aes-256-gcm', keySecretRef: { name: 'flow-key' } } },
};

describe('DataFlow controller', () => {
  it('runs a worker whose status reaches the DataFlow: peers, transfer totals, Synced', async () => {
    mkdirSync(join(top, 'east/dataflows/shared/data'), { recursive: true });
    writeFileSync(join(top, 'east/dataflows/shared/data/a.bin'), randomBytes(300_000));
    writeFileSync(join(top, 'east/dataflows/shared/readme'), 'hello');
    await client.create(RESOURCES.dataFlow, {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'DataFlow',
      metadata: { name: 'shared', namespace },
      spec: sharedSpec,
    });

    const config = parseYaml(
      (await eventually(() => get<ConfigMap>(RESOURCES.configMap, 'shared-sync'))).data['config.yaml']!,
    ) as Record<string, unknown>;
    expect(config).toMatchObject({
      dataFlow: `${namespace}/shared`,
      site: 'east',
      treeDir: '/kmesh/data/dataflows/shared',
      policy: {
        compression: 'zstd',
        encryption: { algorithm: 'aes-256-gcm', keyFile: `/etc/kmesh/keys/${namespace}_shared` },
      },
      peers: [
        {
          name: 'west',
          endpoint: 'west.example:7443',
          remoteDataFlow: `${namespace}/shared`,
          direction: 'push',
          tlsDir: '/etc/kmesh/peers/west',
        },
      ],
    });
    const deployment = await eventually(() => get<Deployment>(RESOURCES.deployment, 'shared-sync'));
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.template.spec.containers[0]!.args).toEqual([
      'sync',
      '--config',
      '/etc/kmesh/sync/config.yaml',
    ]);
    expect(deployment.spec.template.spec.volumes).toEqual(
      expect.arrayContaining([
        {
          name: 'data',
          csi: { driver: 'csi.kmesh.io', volumeAttributes: { 'kmesh.io/instance': expect.any(String) } },
        },
        expect.objectContaining({
          name: 'key',
          projected: expect.objectContaining({
            sources: [{ secret: { name: 'flow-key', items: [{ key: 'key', path: `${namespace}_shared` }] } }],
          }),
        }),
        expect.objectContaining({ name: 'peer-0', secret: expect.objectContaining({ secretName: 'west-tls' }) }),
      ]),
    );
    await expectCondition('shared', 'Ready', 'False', 'WorkerStarting');

    await runWorker('shared');
    await runningPod('shared');
    const synced = await expectCondition('shared', 'Synced', 'True', 'PeersInSync');
    expect(synced.status?.phase).toBe('Ready');
    expect(condition(synced, 'Ready')?.status).toBe('True');
    expect(synced.status?.peers?.[0]).toMatchObject({ name: 'west', connected: true, lagSeconds: 0, pendingBytes: 0 });
    expect(synced.status?.transfer).toMatchObject({ files: 2, logicalBytes: 300_005 });
    expect(synced.status?.transfer?.wireBytes).toBeGreaterThan(300_000);
    expect(synced.status?.accessPoint).toEqual({
      path: '/dataflows/shared',
      mountSource: '/srv/kmesh/east/dataflows/shared',
    });
    expect(treeListing(join(top, 'west/tree'))).toEqual(treeListing(join(top, 'east/dataflows/shared')));
  });

  it('restarts the worker on a spec change and scales it to zero on suspend', async () => {
    const before = (await get<Deployment>(RESOURCES.deployment, 'shared-sync')).spec.template.metadata.annotations[
      'kmesh.io/config-hash'
    ];
    await client.mergePatch(RESOURCES.dataFlow, namespace, 'shared', { spec: { policy: { compression: 'lz4' } } });
    await eventually(async () =>
      expect(
        (await get<Deployment>(RESOURCES.deployment, 'shared-sync')).spec.template.metadata.annotations[
          'kmesh.io/config-hash'
        ],
      ).not.toBe(before),
    );
    // A peer's paths reach the worker's config (the worker sends that peer only those subtrees).
    await client.mergePatch(RESOURCES.dataFlow, namespace, 'shared', {
      spec: { peers: [{ ...sharedSpec.peers[0], paths: ['/data'] }] },
    });
    await eventually(async () =>
      expect(parseYaml((await get<ConfigMap>(RESOURCES.configMap, 'shared-sync')).data['config.yaml']!)).toMatchObject({
        peers: [{ name: 'west', paths: ['/data'] }],
      }),
    );
    await client.mergePatch(RESOURCES.dataFlow, namespace, 'shared', { spec: { peers: sharedSpec.peers } });
    await client.mergePatch(RESOURCES.dataFlow, namespace, 'shared', { spec: { suspend: true } });
    await eventually(async () =>
      expect((await get<Deployment>(RESOURCES.deployment, 'shared-sync')).spec.replicas).toBe(0),
    );
    const suspended = await expectCondition('shared', 'Ready', 'False', 'Suspended');
    expect(suspended.status?.phase).toBe('Suspended');
    await client.mergePatch(RESOURCES.dataFlow, namespace, 'shared', { spec: { suspend: false } });
    await eventually(async () =>
      expect((await get<Deployment>(RESOURCES.deployment, 'shared-sync')).spec.replicas).toBe(1),
    );
  });

  it('counts active mounts from the CSI nodes and deletes the data after the last one with deleteAfterUse', async () => {
    const report = (name: string, counts: Record<string, number>) =>
      client.apply(
        RESOURCES.configMap,
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name, namespace, labels: { 'csi.kmesh.io/publications': 'true' } },
          data: { publications: JSON.stringify(counts) },
        },
        'kmesh-csi-node',
        { force: true },
      );
    await client.mergePatch(RESOURCES.dataFlow, namespace, 'shared', { spec: { policy: { deleteAfterUse: true } } });
    await report('kmesh-publications-node-1', { [`${namespace}/DataFlow/shared`]: 2 });
    await report('kmesh-publications-node-2', {
      [`${namespace}/DataFlow/shared`]: 1,
      [`${namespace}/DataFlow/other`]: 4,
    });
    await eventually(async () => expect((await dataFlow('shared')).status?.activeMounts).toBe(3));
    await report('kmesh-publications-node-1', {});
    await eventually(async () => expect((await dataFlow('shared')).status?.activeMounts).toBe(1));
    await report('kmesh-publications-node-2', { [`${namespace}/DataFlow/other`]: 4 });
    const requested = await expectCondition('shared', 'DataDeleted', 'False', 'DeletionRequested');
    expect(requested.status?.activeMounts).toBe(0);
    const config = await eventually(async () => {
      const c = parseYaml((await get<ConfigMap>(RESOURCES.configMap, 'shared-sync')).data['config.yaml']!) as {
        purgeRequestedAt?: string;
      };
      expect(c.purgeRequestedAt).toBe(condition(requested, 'DataDeleted')?.lastTransitionTime);
      return c;
    });
    expect(config.purgeRequestedAt).toBeDefined();
    await runWorker('shared'); // the new pod of the rolled Deployment
    const deleted = await expectCondition('shared', 'DataDeleted', 'True', 'DataDeleted');
    expect(condition(deleted, 'DataDeleted')?.message).toContain('deleted the data here and at every peer');
    expect(readdirSync(join(top, 'east/dataflows/shared'))).toEqual([]);
    expect(readdirSync(join(top, 'west/tree'))).toEqual([]);
  });

  it('ingests an S3 source and a PVC source with write-back, and reports both; cache access is reported as not supported', async () => {
    const s3 = await startTestS3();
    try {
      await s3.createBucket('uploads');
      await s3.client.send(new PutObjectCommand({ Bucket: 'uploads', Key: 'in/one.txt', Body: 'one' }));
      mkdirSync(join(top, 'sources/camera'), { recursive: true });
      writeFileSync(join(top, 'sources/camera/accessKeyId'), S3_ACCESS_KEY);
      writeFileSync(join(top, 'sources/camera/secretAccessKey'), S3_SECRET_KEY);
      mkdirSync(join(top, 'source-data/lab/results'), { recursive: true }); // the claim's content, as the pod would see it
      writeFileSync(join(top, 'source-data/lab/results/r1.csv'), 'a,b\n1,2\n');
      await client.create(RESOURCES.secret, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 's3-creds', namespace },
        stringData: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
      });
      await client.create(RESOURCES.dataFlow, {
        apiVersion: 'kmesh.io/v1alpha1',
        kind: 'DataFlow',
        metadata: { name: 'raw', namespace },
        spec: {
          instanceRef: { name: 'east' },
          sources: [
            {
              name: 'camera',
              s3: {
                endpoint: s3.endpoint,
                bucket: 'uploads',
                prefix: 'in/',
                forcePathStyle: true,
                credentialsSecretRef: { name: 's3-creds' },
              },
            },
            { name: 'lab', pvc: { claimName: 'lab-data' }, writeBack: true },
          ],
        },
      });
      const deployment = await eventually(() => get<Deployment>(RESOURCES.deployment, 'raw-sync'));
      expect(deployment.spec.template.spec.volumes).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ name: 'source-0', secret: expect.objectContaining({ secretName: 's3-creds' }) }),
          { name: 'source-data-0', persistentVolumeClaim: { claimName: 'lab-data' } }, // writable: lab is written back
        ]),
      );
      await runWorker('raw');
      await runningPod('raw');
      const ingested = await expectCondition('raw', 'SourcesIngested', 'True', 'Ingested');
      expect(ingested.status?.sources).toEqual([
        expect.objectContaining({
          name: 'camera',
          result: expect.objectContaining({ outcome: 'Succeeded', files: 1, bytes: 3 }),
        }),
        expect.objectContaining({
          name: 'lab',
          result: expect.objectContaining({ outcome: 'Succeeded', files: 1, bytes: 8 }),
        }),
      ]);
      const tree = join(top, 'east/dataflows/raw');
      expect(treeListing(tree).map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([
        'd camera',
        'f camera/one.txt',
        'd lab',
        'd lab/results',
        'f lab/results/r1.csv',
      ]);

      // A change made in the DataFlow goes back to the claim, and the status counts it.
      writeFileSync(join(tree, 'lab/results/r2.csv'), 'c,d\n3,4\n');
      const wrote = await eventually(async () => {
        const df = await dataFlow('raw');
        expect(df.status?.sources?.find((x) => x.name === 'lab')?.writeBack).toMatchObject({
          outcome: 'Succeeded',
          files: 1,
          bytes: 8,
          removed: 0,
          conflicts: 0,
        });
        return df;
      }, 30_000);
      expect(wrote.status?.sources?.find((x) => x.name === 'lab')?.writeBack?.lastWriteBack).toBeDefined();
      expect(readdirSync(join(top, 'source-data/lab/results')).sort()).toEqual(['r1.csv', 'r2.csv']);

      await client.create(RESOURCES.dataFlow, {
        apiVersion: 'kmesh.io/v1alpha1',
        kind: 'DataFlow',
        metadata: { name: 'shares', namespace },
        spec: {
          instanceRef: { name: 'east' },
          sources: [
            { name: 'share', nfs: { server: 'nfs.example', path: '/exports/share' } },
            { name: 'archive', nfs: { server: 'nfs.example', path: '/exports/archive' }, access: 'cache' },
          ],
        },
      });
      const shares = await expectCondition('shares', 'SourcesIngested', 'False', 'SourcesNotSupported');
      expect(condition(shares, 'SourcesIngested')?.message).toMatch(/access: cache .* archive are not brought in/);
      const sharesWorker = await eventually(() => get<Deployment>(RESOURCES.deployment, 'shares-sync'));
      const mounts = sharesWorker.spec.template.spec.volumes.filter((v) =>
        String(v['name']).startsWith('source-data-'),
      );
      expect(mounts).toEqual([
        { name: 'source-data-0', nfs: { server: 'nfs.example', path: '/exports/share', readOnly: true } },
      ]);
    } finally {
      await stopWorker();
      await s3.stop();
    }
  });

  it('says why a DataFlow cannot run: a missing Secret, an unsupported mode, a missing instance', async () => {
    await client.create(RESOURCES.dataFlow, {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'DataFlow',
      metadata: { name: 'nokey', namespace },
      spec: { ...sharedSpec, policy: { encryption: { algorithm: 'aes-128-gcm', keySecretRef: { name: 'absent' } } } },
    });
    const nokey = await expectCondition('nokey', 'Ready', 'False', 'SecretNotFound');
    expect(condition(nokey, 'Ready')?.message).toContain('spec.policy.encryption.keySecretRef');
    await client.create(RESOURCES.dataFlow, {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'DataFlow',
      metadata: { name: 'mm', namespace },
      spec: { ...sharedSpec, mode: 'multiMaster' },
    });
    await expectCondition('mm', 'Ready', 'False', 'ModeNotSupported');
    await eventually(async () =>
      expect((await get<Deployment>(RESOURCES.deployment, 'mm-sync')).spec.replicas).toBe(0),
    );
    await client.create(RESOURCES.dataFlow, {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'DataFlow',
      metadata: { name: 'orphan', namespace },
      spec: { instanceRef: { name: 'nowhere' } },
    });
    await expectCondition('orphan', 'Ready', 'False', 'InstanceNotFound');
    // Cron the API server lets through but that can never run: refused here with the field, no worker.
    await client.create(RESOURCES.dataFlow, {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'DataFlow',
      metadata: { name: 'feb31', namespace },
      spec: {
        ...sharedSpec,
        sources: [{ name: 'lab', pvc: { claimName: 'lab-data' }, ingest: { schedule: '0 0 31 2 *' } }],
      },
    });
    const feb31 = await expectCondition('feb31', 'Ready', 'False', 'InvalidSchedule');
    expect(condition(feb31, 'Ready')?.message).toMatch(/spec\.sources\[0\]\.ingest\.schedule: .*never run/);
    expect(await client.get(RESOURCES.deployment, namespace, 'feb31-sync')).toBeUndefined();
  });

  it('lists a DataFlow that receives from a peer in its instance gateway configuration', async () => {
    await client.create(RESOURCES.secret, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'gw-tls', namespace },
      type: 'Opaque',
      stringData: { 'tls.crt': 'c', 'tls.key': 'k', 'ca.crt': 'a' },
    });
    await client.create(RESOURCES.kmeshInstance, {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'KmeshInstance',
      metadata: { name: 'west', namespace },
      spec: {
        backend: { type: 'local', local: { path: '/srv/kmesh/west' } },
        gateway: { tlsSecretRef: { name: 'gw-tls' } },
      },
    });
    await client.create(RESOURCES.dataFlow, {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'DataFlow',
      metadata: { name: 'incoming', namespace },
      spec: {
        instanceRef: { name: 'west' },
        peers: [{ name: 'east', endpoint: 'east.example:7443', direction: 'pull', tlsSecretRef: { name: 'west-tls' } }],
        policy: { encryption: { algorithm: 'aes-256-gcm', keySecretRef: { name: 'flow-key' } } },
      },
    });
    const config = await eventually(async () => {
      const c = parseYaml((await get<ConfigMap>(RESOURCES.configMap, 'west-gateway')).data['config.yaml']!) as {
        dataFlows: unknown[];
      };
      expect(c.dataFlows).toHaveLength(1);
      return c;
    });
    expect(config.dataFlows[0]).toEqual({
      name: `${namespace}/incoming`,
      treeDir: '/kmesh/data/dataflows/incoming',
      stateDir: `/kmesh/data/.kmesh/gateway/${namespace}/incoming`,
      deletedRetention: '168h',
      peers: [{ name: 'east', direction: 'pull' }],
      encryption: { algorithm: 'aes-256-gcm', keyFile: `/etc/kmesh/keys/${namespace}_incoming` },
      publishedFile: `/kmesh/data/.kmesh/worker/${namespace}/incoming/published.json`,
    });
    // The Deployment is applied after its ConfigMap, and rolled when the DataFlow list changes: wait for the key.
    await eventually(async () => {
      const gw = await get<Deployment>(RESOURCES.deployment, 'west-gateway');
      expect(gw.spec.template.spec.volumes).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            name: 'keys',
            projected: expect.objectContaining({
              sources: [{ secret: { name: 'flow-key', items: [{ key: 'key', path: `${namespace}_incoming` }] } }],
            }),
          }),
        ]),
      );
    });
  });

  it('names the fields it ignores (dedup false, cache, snapshots) in Supported=False and one Warning event, and runs the rest', async () => {
    const workerResources = { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '3Gi' } };
    await client.create(RESOURCES.kmeshInstance, {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'KmeshInstance',
      metadata: { name: 'north', namespace },
      spec: {
        backend: { type: 'local', local: { path: '/srv/kmesh/north' } },
        workers: { resources: workerResources },
      },
    });
    await client.create(RESOURCES.dataFlow, {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'DataFlow',
      metadata: { name: 'partial', namespace },
      // 1e9 is a quantity the API server accepts; the worker must read the same number.
      spec: {
        instanceRef: { name: 'north' },
        policy: { dedup: false, bandwidthLimit: '1e9' },
        cache: { size: '1Gi' },
        snapshots: { retention: {} },
      },
    });
    const partial = await expectCondition('partial', 'Supported', 'False', 'NotSupported');
    expect(condition(partial, 'Supported')?.message).toMatch(
      /^not acted on by this release: spec\.policy\.dedup: .*; spec\.cache: .*; spec\.snapshots: /,
    );
    const reasons = async () =>
      (
        await client.list<WireObject & { regarding: { name: string }; reason: string; note: string }>(RESOURCES.event, {
          namespace,
        })
      ).items.filter((e) => e.regarding.name === 'partial' && e.reason === 'NotSupported');
    const [event] = await eventually(async () => {
      const found = await reasons();
      expect(found).toHaveLength(1);
      return found;
    });
    expect(event!.note).toBe(condition(partial, 'Supported')?.message);
    // The rest runs: the worker with the instance's worker resources and a bandwidth limit it reads as 1e9 bytes/s.
    const deployment = await eventually(() => get<Deployment>(RESOURCES.deployment, 'partial-sync'));
    expect(deployment.spec.replicas).toBe(1);
    expect((deployment.spec.template.spec.containers[0] as unknown as { resources: unknown }).resources).toEqual(
      workerResources,
    );
    const rendered = (await get<ConfigMap>(RESOURCES.configMap, 'partial-sync')).data['config.yaml']!;
    expect(parseWorkerConfig(rendered).bandwidthBytesPerSecond).toBe(1_000_000_000);
    // Dropping them turns Supported True; no further event.
    await client.mergePatch(RESOURCES.dataFlow, namespace, 'partial', {
      spec: { policy: { dedup: true }, cache: null, snapshots: null },
    });
    await expectCondition('partial', 'Supported', 'True', 'AllSupported');
    expect(await reasons()).toHaveLength(1);
  });

  it('keeps a DataFlow while a Snapshot of it exists', async () => {
    await client.create(RESOURCES.snapshot, {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'Snapshot',
      metadata: { name: 'snap', namespace },
      spec: { dataFlowRef: { name: 'orphan' } },
    });
    await client.delete(RESOURCES.dataFlow, namespace, 'orphan');
    const blocked = await expectCondition('orphan', 'DeletionBlocked', 'True', 'DependentsExist');
    expect(condition(blocked, 'DeletionBlocked')?.message).toContain('Snapshot snap');
    await client.delete(RESOURCES.snapshot, namespace, 'snap');
    await eventually(async () => expect(await client.get(RESOURCES.dataFlow, namespace, 'orphan')).toBeUndefined());
  });
});
