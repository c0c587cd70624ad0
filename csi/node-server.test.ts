/**
 * The Node service over a real unix socket, with real bind mounts (as root). The volume resolver is
 * replaced by a table here; ApiVolumeResolver is tested against the API server in test/integration.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { credentials, status, type Client, type ServiceError } from '@grpc/grpc-js';
import {
  existsSync,
  readdirSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { notFound } from '../lib/errors.js';
import { loggerFor } from '../lib/logging.js';
import { systemRunner } from '../lib/command.js';
import { mountPointsUnder, procMountTable } from './mount/mount-table.js';
import { NodeServer } from './node-server.js';
import { loadCsi } from './proto.js';
import type { VolumeLocation, VolumeResolver } from './resolver.js';
import { volumeConditionOf } from './volume-condition.js';
import { PublicationLog, type PublicationCounts } from './publications.js';
import { serveCsi, type CsiServer } from './server.js';
import { RecordingSystem } from '../test/support/commands.js';
import type { VolumeRef } from './volume-id.js';

type Rpc = (request: object, callback: (error: ServiceError | null, response: Record<string, unknown>) => void) => void;
let dir: string;
let server: CsiServer;
let client: Client & Record<string, Rpc>;
let release: (() => void) | undefined;
let publications: PublicationLog;
let node: NodeServer;
/** A directory outside the test's root that the symlinks point at. */
let outsideDir: string;
/** What the node reported after each publish and unpublish. */
const reports: PublicationCounts[] = [];

const VOLUME = 'v1/ml/dev/ml-data';
const MOUNT = { mount: {}, access_mode: { mode: 'SINGLE_NODE_MULTI_WRITER' } };
const READER = { mount: {}, access_mode: { mode: 'MULTI_NODE_READER_ONLY' } };

/** Resolves `dev`'s DataFlows to the local directory `<dir>/instance`; `slow` waits for `release`. */
const resolver: VolumeResolver = {
  /** Instance `dev` of namespace `ml` only: another namespace's pod finds no such instance. */
  instance(namespace: string, name: string) {
    if (namespace !== 'ml' || name !== 'dev')
      return Promise.reject(notFound(`KmeshInstance ${namespace}/${name} does not exist`));
    return Promise.resolve({ backend: 'local' as const, mountSource: join(dir, 'instance'), uid: 'uid-dev' });
  },
  async resolve(ref: VolumeRef): Promise<VolumeLocation> {
    if (ref.dataFlow === 'slow') await new Promise<void>((resolve) => (release = resolve));
    // An instance whose directory is a symlink out of the allowed root (the test's directory).
    if (ref.instance === 'linked')
      return { backend: 'local', mountSource: join(dir, 'linked-instance'), accessPoint: `/dataflows/${ref.dataFlow}` };
    if (ref.instance !== 'dev' || ref.dataFlow === 'missing')
      throw notFound(`DataFlow ${ref.namespace}/${ref.dataFlow} does not exist`);
    return { backend: 'local', mountSource: join(dir, 'instance'), accessPoint: `/dataflows/${ref.dataFlow}` };
  },
  /** `degraded` is a DataFlow whose peer is gone; every other one is Ready. */
  condition(ref: VolumeRef) {
    const degraded = { type: 'Degraded', status: 'True', message: 'peer azure-west unreachable' };
    return Promise.resolve(
      volumeConditionOf('DataFlow', `${ref.namespace}/${ref.dataFlow}`, {
        status: { phase: 'Ready', conditions: ref.dataFlow === 'degraded' ? [degraded] : [] },
      }),
    );
  },
};

function call(method: string, request: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) =>
    client[method]!(request, (error, response) => (error ? reject(error) : resolve(response))),
  );
}
async function code(method: string, request: object): Promise<string> {
  return call(method, request).then(
    () => 'OK',
    (error: ServiceError) => status[error.code],
  );
}
const path = (...parts: string[]): string => join(dir, ...parts);

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('these tests make real bind mounts and must run as root (CI does)');
  dir = mkdtempSync(join(tmpdir(), 'kmesh-node-'));
  mkdirSync(path('instance/dataflows/ml-data/shared'), { recursive: true });
  writeFileSync(path('instance/dataflows/ml-data/shared/model.bin'), 'weights');
  // Written by an application into its volume: symlinks out of the instance's filesystem.
  const outside = mkdtempSync(join(tmpdir(), 'kmesh-node-outside-'));
  symlinkSync(outside, path('instance/dataflows/escape'));
  symlinkSync(outside, path('instance/dataflows/ml-data/shared/up'));
  symlinkSync(outside, path('linked-instance'));
  outsideDir = outside;
  const csi = loadCsi();
  const endpoint = `unix://${path('csi.sock')}`;
  publications = new PublicationLog(path('state'), procMountTable);
  const reporter = { report: (counts: PublicationCounts) => Promise.resolve(void reports.push(counts)) };
  node = new NodeServer({
    nodeId: 'node-1',
    region: 'lab',
    zone: 'lab-a',
    resolver,
    runner: systemRunner,
    table: procMountTable,
    publications,
    reporter,
    log: loggerFor('csi-node-test'),
    localRoots: [dir],
    instanceMountDir: join(dir, 'instances'),
  });
  server = await serveCsi(
    endpoint,
    [{ definition: csi.services.Node, handlers: node.handlers() }],
    loggerFor('csi-node-test'),
  );
  client = new csi.clients.Node(endpoint, credentials.createInsecure()) as typeof client;
});

afterAll(async () => {
  client.close();
  await server.close();
  // Whatever a failed test left mounted goes before the directory does.
  for (const mountPoint of await mountPointsUnder(dir)) await systemRunner.run('umount', ['-l', mountPoint], 10_000);
  rmSync(dir, { recursive: true, force: true });
  rmSync(outsideDir, { recursive: true, force: true });
});

describe('Node service', () => {
  it('reports the node ID and its topology', async () => {
    expect(await call('NodeGetInfo', {})).toEqual({
      node_id: 'node-1',
      max_volumes_per_node: 0,
      accessible_topology: { segments: { 'topology.kmesh.io/region': 'lab', 'topology.kmesh.io/zone': 'lab-a' } },
    });
    const capabilities = (await call('NodeGetCapabilities', {}))['capabilities'] as Array<{ rpc: { type: string } }>;
    expect(capabilities.map((c) => c.rpc.type)).toEqual([
      'STAGE_UNSTAGE_VOLUME',
      'GET_VOLUME_STATS',
      'VOLUME_CONDITION',
      'SINGLE_NODE_MULTI_WRITER',
    ]);
  });

  it('stages once, publishes read-only and read-write, and undoes it all idempotently', async () => {
    const stage = { volume_id: `${VOLUME}/shared`, staging_target_path: path('staging'), volume_capability: MOUNT };
    await call('NodeStageVolume', stage);
    await call('NodeStageVolume', stage);
    await call('NodePublishVolume', { ...stage, target_path: path('target-ro'), volume_capability: READER });
    await call('NodePublishVolume', { ...stage, target_path: path('target-rw'), readonly: false });
    expect(readFileSync(path('target-ro/model.bin'), 'utf8')).toBe('weights');
    expect(() => writeFileSync(path('target-ro/new'), 'x')).toThrow(/EROFS|read-only/);
    writeFileSync(path('target-rw/written'), 'by a writer');
    expect(readFileSync(path('target-ro/written'), 'utf8')).toBe('by a writer'); // one namespace, two views
    expect(readFileSync(path('instance/dataflows/ml-data/shared/written'), 'utf8')).toBe('by a writer');

    const stats = await call('NodeGetVolumeStats', { volume_id: VOLUME, volume_path: path('target-rw') });
    const usage = stats['usage'] as Array<{ unit: string; total: number; used: number }>;
    expect(usage.map((u) => u.unit)).toEqual(['BYTES', 'INODES']);
    expect(usage[0]!.total).toBeGreaterThan(0);
    expect(stats['volume_condition']).toEqual({ abnormal: false, message: 'DataFlow ml/ml-data is Ready' });
    const degraded = await call('NodeGetVolumeStats', {
      volume_id: 'v1/ml/dev/degraded',
      volume_path: path('target-rw'),
    });
    expect(degraded['volume_condition']).toEqual({
      abnormal: true,
      message: 'DataFlow ml/degraded is degraded: peer azure-west unreachable',
    });

    await node.reportsSettled();
    expect(reports.at(-1)).toEqual({ 'ml/DataFlow/ml-data': 2 });
    for (const target of ['target-ro', 'target-rw']) {
      await call('NodeUnpublishVolume', { volume_id: VOLUME, target_path: path(target) });
      await call('NodeUnpublishVolume', { volume_id: VOLUME, target_path: path(target) });
      expect(existsSync(path(target))).toBe(false);
    }
    await call('NodeUnstageVolume', { volume_id: VOLUME, staging_target_path: path('staging') });
    await call('NodeUnstageVolume', { volume_id: VOLUME, staging_target_path: path('staging') });
    expect(await procMountTable.isMountPoint(path('staging'))).toBe(false);
  });

  it.each([
    ['NodeStageVolume', { staging_target_path: '/s', volume_capability: MOUNT }, 'INVALID_ARGUMENT'],
    ['NodeStageVolume', { volume_id: VOLUME, volume_capability: MOUNT }, 'INVALID_ARGUMENT'],
    ['NodeStageVolume', { volume_id: VOLUME, staging_target_path: '/s' }, 'INVALID_ARGUMENT'],
    [
      'NodeStageVolume',
      {
        volume_id: VOLUME,
        staging_target_path: '/s',
        volume_capability: { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } },
      },
      'INVALID_ARGUMENT',
    ],
    ['NodeStageVolume', { volume_id: 'some-volume', staging_target_path: '/s', volume_capability: MOUNT }, 'NOT_FOUND'],
    [
      'NodeStageVolume',
      { volume_id: 'v1/ml/dev/ml-data/../../etc', staging_target_path: '/s', volume_capability: MOUNT },
      'NOT_FOUND',
    ],
    [
      'NodeStageVolume',
      { volume_id: 'v1/ml/dev/missing', staging_target_path: '/nonexistent/s', volume_capability: MOUNT },
      'NOT_FOUND',
    ],
    [
      'NodePublishVolume',
      { volume_id: VOLUME, staging_target_path: '/s', volume_capability: MOUNT },
      'INVALID_ARGUMENT',
    ],
    [
      'NodePublishVolume',
      {
        volume_id: VOLUME,
        staging_target_path: '/not-staged',
        target_path: '/nonexistent/t',
        volume_capability: MOUNT,
      },
      'FAILED_PRECONDITION',
    ],
    ['NodeUnpublishVolume', { volume_id: VOLUME }, 'INVALID_ARGUMENT'],
    ['NodeUnstageVolume', { staging_target_path: '/s' }, 'INVALID_ARGUMENT'],
    ['NodeGetVolumeStats', { volume_id: VOLUME, volume_path: '/nonexistent/volume' }, 'NOT_FOUND'],
    ['NodeGetVolumeStats', { volume_id: VOLUME }, 'INVALID_ARGUMENT'],
  ])('%s %j answers %s and changes nothing on disk', async (method, request, expected) => {
    expect(await code(method, request)).toBe(expected);
    expect(existsSync('/nonexistent')).toBe(false);
  });

  it.each([
    ['an access point that is a symlink out of the filesystem', 'v1/ml/dev/escape'],
    ['a sub-path through a symlink out of the filesystem', 'v1/ml/dev/ml-data/shared/up/new'],
  ])('refuses to publish %s (FAILED_PRECONDITION), mounting and creating nothing', async (_, volumeId) => {
    const stage = { volume_id: volumeId, staging_target_path: path('escape-staging'), volume_capability: MOUNT };
    await call('NodeStageVolume', stage);
    try {
      await expect(call('NodePublishVolume', { ...stage, target_path: path('escape-target') })).rejects.toMatchObject({
        code: status.FAILED_PRECONDITION,
        details: expect.stringMatching(/resolves to .*outside/),
      });
      expect(await procMountTable.isMountPoint(path('escape-target'))).toBe(false);
      expect(readdirSync(outsideDir)).toEqual([]);
    } finally {
      await call('NodeUnstageVolume', stage);
    }
  });

  it('refuses to stage an instance directory that resolves outside the allowed roots', async () => {
    const stage = {
      volume_id: 'v1/ml/linked/ml-data',
      staging_target_path: path('linked-staging'),
      volume_capability: MOUNT,
    };
    await expect(call('NodeStageVolume', stage)).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
      details: expect.stringMatching(/the instance directory .* resolves to .*outside/),
    });
    expect(await procMountTable.isMountPoint(path('linked-staging'))).toBe(false);
  });

  /** What the kubelet sends for an inline volume of a pod in `namespace` (lib/instance-volume.ts); `target` is under the test's directory. */
  const inline = (namespace: string, instance: string, target: string) => ({
    volume_id: `csi-${namespace}-${instance}-${target}`,
    target,
    volume_capability: MOUNT,
    volume_context: {
      'kmesh.io/instance': instance,
      'csi.storage.k8s.io/ephemeral': 'true',
      'csi.storage.k8s.io/pod.namespace': namespace,
      'csi.storage.k8s.io/pod.name': 'gateway-0',
    },
  });

  const kubelet = ({ target, ...request }: { target: string } & Record<string, unknown>) => ({
    ...request,
    target_path: path(target),
  });

  it("mounts an instance's whole filesystem into a Kmesh pod of its namespace through an inline volume, without counting a publication", async () => {
    await node.reportsSettled();
    const before = reports.length;
    await call('NodePublishVolume', kubelet(inline('ml', 'dev', 'pod-a')));
    await call('NodePublishVolume', kubelet(inline('ml', 'dev', 'pod-a'))); // idempotent
    await call('NodePublishVolume', kubelet(inline('ml', 'dev', 'pod-b')));
    expect(readFileSync(path('pod-a/dataflows/ml-data/shared/model.bin'), 'utf8')).toBe('weights');
    writeFileSync(path('pod-b/written-by-gateway'), 'x');
    // The kubelet asks for an inline volume's usage by its own volume ID.
    const stats = await call('NodeGetVolumeStats', { volume_id: 'csi-3f2a9c', volume_path: path('pod-a') });
    expect((stats['usage'] as { unit: string }[]).map((u) => u.unit)).toEqual(['BYTES', 'INODES']);
    expect(stats['volume_condition']).toEqual({ abnormal: false, message: `${path('pod-a')} is mounted` });
    expect(readFileSync(path('instance/written-by-gateway'), 'utf8')).toBe('x');
    expect(await procMountTable.isMountPoint(path('instances/ml/dev/uid-dev'))).toBe(true);
    for (const target of ['pod-a', 'pod-b']) {
      await call('NodeUnpublishVolume', { volume_id: 'x', target_path: path(target) });
      expect(existsSync(path(target))).toBe(false);
    }
    rmSync(path('instance/written-by-gateway'));
    await node.reportsSettled();
    expect(reports.slice(before).filter((r) => Object.keys(r).length)).toEqual([]);
  });

  it.each([
    ['an instance of another namespace', inline('other-team', 'dev', 'pod-x'), 'NOT_FOUND'],
    [
      'no instance name',
      {
        ...inline('ml', 'dev', 'pod-x'),
        volume_context: { 'csi.storage.k8s.io/ephemeral': 'true', 'csi.storage.k8s.io/pod.namespace': 'ml' },
      },
      'INVALID_ARGUMENT',
    ],
    ['an instance name that is a path', { ...inline('ml', '../dev', 'pod-x') }, 'INVALID_ARGUMENT'],
    [
      'no pod namespace (podInfoOnMount off)',
      {
        ...inline('ml', 'dev', 'pod-x'),
        volume_context: { 'csi.storage.k8s.io/ephemeral': 'true', 'kmesh.io/instance': 'dev' },
      },
      'INVALID_ARGUMENT',
    ],
  ])('refuses an inline volume for %s, mounting nothing', async (_, request, expected) => {
    expect(await code('NodePublishVolume', kubelet(request))).toBe(expected);
    expect(await procMountTable.isMountPoint(path('pod-x'))).toBe(false);
  });

  it('reports a volume path that is no longer mounted as abnormal', async () => {
    mkdirSync(path('plain'), { recursive: true });
    const stats = await call('NodeGetVolumeStats', { volume_id: VOLUME, volume_path: path('plain') });
    expect(stats['volume_condition']).toEqual({ abnormal: true, message: `${path('plain')} is not mounted` });
  });

  it('counts publications per DataFlow from what is still mounted, forgetting what a crash left', async () => {
    await node.reportsSettled();
    expect(reports.at(-1)).toEqual({}); // the lifecycle above ended with nothing published
    // A crash between mount and unmount leaves a record whose target is no longer mounted.
    await publications.add({ volumeId: VOLUME, owner: 'ml/DataFlow/ml-data', target: path('crashed') });
    expect(await publications.counts()).toEqual({});
    expect(readdirSync(path('state'))).toEqual([]);
  });

  it('answers ABORTED while another call on the same volume is in progress', async () => {
    const slow = { volume_id: 'v1/ml/dev/slow', staging_target_path: path('slow-staging'), volume_capability: MOUNT };
    const first = code('NodeStageVolume', slow);
    for (let i = 0; i < 50 && !release; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await code('NodeStageVolume', slow)).toBe('ABORTED');
    release!();
    expect(await first).toBe('OK');
    await call('NodeUnstageVolume', { volume_id: 'v1/ml/dev/slow', staging_target_path: path('slow-staging') });
  });
});

describe('Node service on Lustre (the narrow recording runner: no test machine has the client)', () => {
  it("mounts a Lustre instance's filesystem once per node for inline volumes and binds its root into each pod", async () => {
    const system = new RecordingSystem();
    const source = 'lus-mds-0.lus-mds.ml.svc.cluster.local@tcp:/lus';
    const lustre: VolumeResolver = {
      instance: () => Promise.resolve({ backend: 'lustre', mountSource: source, uid: 'uid-lus' }),
      resolve: () => Promise.reject(new Error('not used')),
      condition: () => Promise.reject(new Error('not used')),
    };
    const instances = join(dir, 'lustre-instances');
    const lustreNode = new NodeServer({
      nodeId: 'node-2',
      resolver: lustre,
      runner: system.runner,
      table: system.table,
      publications,
      reporter: { report: () => Promise.resolve() },
      log: loggerFor('csi-node-test'),
      localRoots: [dir],
      instanceMountDir: instances,
    });
    const publish = lustreNode.handlers()['NodePublishVolume'];
    const context = {
      'kmesh.io/instance': 'lus',
      'csi.storage.k8s.io/ephemeral': 'true',
      'csi.storage.k8s.io/pod.namespace': 'ml',
    };
    const request = (pod: string) => ({
      volume_id: `csi-${pod}`,
      target_path: join(dir, 'lustre-pods', pod),
      volume_capability: MOUNT,
      volume_context: context,
    });
    // The handler as the server calls it, with the message as decoded (no staging path, no secrets).
    for (const pod of ['gateway', 'worker'])
      await publish(request(pod) as unknown as Parameters<typeof publish>[0], undefined as never);
    expect(system.calls).toEqual([
      `mount -t lustre -o flock,noatime ${source} ${instances}/ml/lus/uid-lus`,
      `mount --bind ${instances}/ml/lus/uid-lus ${dir}/lustre-pods/gateway`,
      `mount --bind ${instances}/ml/lus/uid-lus ${dir}/lustre-pods/worker`,
    ]);
  });
});
