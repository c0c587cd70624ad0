/**
 * The CSI Controller service against the real API server, as its ServiceAccount: StorageClass
 * parameters become the right DataFlows, CreateVolume is idempotent by name, topology picks the
 * instance, sizes become Lustre quotas (commands recorded), and ListVolumes, ControllerGetVolume,
 * ControllerExpandVolume and GetCapacity report what the API holds. Bad input changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DataFlow } from '../../api/v1alpha1/index.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import type { KubeClient } from '../../lib/kube/rest.js';
import { createNamespace, deleteNamespace, installCrds, testClient } from '../support/cluster.js';
import { startTestController, type TestController } from '../support/csi.js';

let kube: KubeClient;
let namespace: string;
let csi: TestController;
let sharedId: string;

const MOUNT = { mount: {}, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } };
const GiB = 2 ** 30;
const call = (method: string, request: object): Promise<Record<string, unknown>> => csi.call(method, request);
const codeOf = (method: string, request: object): Promise<string> => csi.codeOf(method, request);
const pvcParameters = (parameters: Record<string, string>): Record<string, string> => ({
  'csi.storage.k8s.io/pvc/namespace': namespace,
  instance: 'dev',
  ...parameters,
});
const create = (
  name: string,
  parameters: Record<string, string>,
  requiredBytes = GiB,
  extra: object = {},
): Promise<Record<string, unknown>> =>
  call('CreateVolume', {
    name,
    capacity_range: { required_bytes: requiredBytes },
    volume_capabilities: [MOUNT],
    parameters: pvcParameters(parameters),
    ...extra,
  });
type Volume = {
  volume_id: string;
  capacity_bytes: number;
  volume_context: Record<string, string>;
  accessible_topology: Array<{ segments: Record<string, string> }>;
};
const volumeOf = (response: Record<string, unknown>): Volume => response['volume'] as Volume;
const objectCounts = async (): Promise<number[]> =>
  Promise.all([
    kube.list(RESOURCES.dataFlow, { namespace }).then((l) => l.items.length),
    kube.list(RESOURCES.virtualCopy, { namespace }).then((l) => l.items.length),
    kube
      .list(RESOURCES.configMap, { namespace, labelSelector: 'app.kubernetes.io/managed-by=kmesh-csi' })
      .then((l) => l.items.length),
  ]);
const instance = (name: string, backend: object, location?: object): object => ({
  apiVersion: 'kmesh.io/v1alpha1',
  kind: 'KmeshInstance',
  metadata: { name, namespace },
  spec: { backend, ...(location ? { location } : {}) },
});
/** Writes an instance's status as the operator would from its gateway's report. */
const report = (name: string, status: object): Promise<unknown> =>
  kube.mergePatch(RESOURCES.kmeshInstance, namespace, name, { status }, 'status');

beforeAll(async () => {
  kube = testClient();
  await installCrds(kube);
  namespace = await createNamespace(kube, 'csi-ctl');
  await kube.create(RESOURCES.kmeshInstance, instance('dev', { type: 'local', local: { path: '/var/lib/kmesh/dev' } }));
  await kube.create(
    RESOURCES.kmeshInstance,
    instance('east', { type: 'local', local: { path: '/data/east' } }, { region: 'eu', zone: 'eu-a' }),
  );
  await kube.create(
    RESOURCES.kmeshInstance,
    instance('west', { type: 'lustre', lustre: { fsName: 'west' } }, { region: 'eu', zone: 'eu-b' }),
  );
  await report('east', { capacity: { totalBytes: 100 * GiB, usedBytes: 40 * GiB, percent: 40 } });
  await report('west', {
    mountSource: 'west-mds-0@tcp:/west',
    capacity: { totalBytes: 1000 * GiB, usedBytes: 100 * GiB, percent: 10 },
  });
  await kube.create(RESOURCES.dataFlow, {
    apiVersion: 'kmesh.io/v1alpha1',
    kind: 'DataFlow',
    metadata: { name: 'shared-data', namespace },
    spec: { instanceRef: { name: 'dev' } },
  });
  csi = await startTestController(kube);
});

afterAll(async () => {
  await csi.stop();
  await deleteNamespace(kube, namespace);
  kube.close();
});

describe('CSI Controller', () => {
  it('advertises the capabilities it implements', async () => {
    const capabilities = (await call('ControllerGetCapabilities', {}))['capabilities'] as Array<{
      rpc: { type: string };
    }>;
    expect(capabilities.map((c) => c.rpc.type)).toEqual([
      'CREATE_DELETE_VOLUME',
      'CREATE_DELETE_SNAPSHOT',
      'CLONE_VOLUME',
      'EXPAND_VOLUME',
      'LIST_VOLUMES',
      'LIST_SNAPSHOTS',
      'GET_CAPACITY',
      'VOLUME_CONDITION',
      'GET_VOLUME',
    ]);
  });

  it('creates a DataFlow per volume from template parameters, idempotently by name', async () => {
    const first = volumeOf(await create('pvc-1111', { compression: 'zstd', dedup: 'false' }));
    // The local backend cannot enforce a size: capacity 0 says "unknown" instead of pretending.
    expect(first).toMatchObject({
      volume_id: `v1/${namespace}/dev/pvc-1111`,
      capacity_bytes: 0,
      volume_context: { namespace, instance: 'dev', dataFlow: 'pvc-1111' },
      accessible_topology: [],
    });
    const dataFlow = await kube.get<DataFlow>(RESOURCES.dataFlow, namespace, 'pvc-1111');
    expect(dataFlow?.spec).toMatchObject({
      instanceRef: { name: 'dev' },
      mode: 'async',
      policy: { compression: 'zstd', dedup: false },
    });
    expect(dataFlow?.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'kmesh-csi' });
    expect(volumeOf(await create('pvc-1111', { compression: 'zstd', dedup: 'false' }))).toEqual(first);
    // A CO may send the parameter map in any order (Go's protobuf does): still the same request.
    const reordered = {
      dedup: 'false',
      compression: 'zstd',
      instance: 'dev',
      'csi.storage.k8s.io/pvc/namespace': namespace,
    };
    expect(
      volumeOf(
        await call('CreateVolume', {
          name: 'pvc-1111',
          capacity_range: { required_bytes: GiB },
          volume_capabilities: [MOUNT],
          parameters: reordered,
        }),
      ),
    ).toEqual(first);
    expect(
      await codeOf('CreateVolume', {
        name: 'pvc-1111',
        capacity_range: { required_bytes: 2 * GiB },
        volume_capabilities: [MOUNT],
        parameters: pvcParameters({ compression: 'zstd', dedup: 'false' }),
      }),
    ).toMatch(/^ALREADY_EXISTS: volume pvc-1111 exists with another capacity range/);
  });

  it('gives a template DataFlow the peers of the class, and lets the API server judge each one', async () => {
    const peers = '- name: azure-west\n  endpoint: gw.azure-west.example.com:7443\n  tlsSecretRef: {name: peer-tls}\n';
    await create('pvc-peers', { peers, mode: 'sync' });
    expect((await kube.get<DataFlow>(RESOURCES.dataFlow, namespace, 'pvc-peers'))?.spec).toMatchObject({
      mode: 'sync',
      peers: [{ name: 'azure-west', endpoint: 'gw.azure-west.example.com:7443', direction: 'push' }],
    });
    const before = await objectCounts();
    const bad = '- name: azure-west\n  endpoint: "not a host port"\n  tlsSecretRef: {name: peer-tls}\n';
    expect(
      await codeOf('CreateVolume', {
        name: 'pvc-bad-peers',
        volume_capabilities: [MOUNT],
        parameters: pvcParameters({ peers: bad }),
      }),
    ).toMatch(/^INVALID_ARGUMENT: the DataFlow this volume needs is invalid: .*spec.peers\[0\].endpoint/);
    expect(await objectCounts()).toEqual(before);
    await call('DeleteVolume', { volume_id: `v1/${namespace}/dev/pvc-peers` });
  });

  it('binds volumes to an existing DataFlow: its root when shared, a directory each when perVolume', async () => {
    // Shared volumes all see the DataFlow's root; a tag keeps each one's ID its own, as CSI requires.
    sharedId = volumeOf(await create('pvc-2222', { dataFlow: 'shared-data', accessPoint: 'shared' })).volume_id;
    expect(sharedId).toMatch(new RegExp(`^v1/${namespace}/dev/shared-data/@[a-f0-9]{20}$`));
    const other = volumeOf(await create('pvc-2223', { dataFlow: 'shared-data', accessPoint: 'shared' })).volume_id;
    expect(other).not.toBe(sharedId);
    await call('DeleteVolume', { volume_id: other });
    expect(volumeOf(await create('pvc-3333', { dataFlow: 'shared-data' })).volume_id).toBe(
      `v1/${namespace}/dev/shared-data/volumes/pvc-3333`,
    );
    expect(await kube.get(RESOURCES.dataFlow, namespace, 'pvc-3333')).toBeUndefined();
  });

  it.each([
    [{ name: '', volume_capabilities: [MOUNT] }, /^INVALID_ARGUMENT: name is required/],
    [{ name: 'pvc-x', volume_capabilities: [] }, /^INVALID_ARGUMENT: volume_capabilities is required/],
    [
      { name: 'pvc-x', volume_capabilities: [{ block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] },
      /^INVALID_ARGUMENT: volume_capabilities\[0\]: Kmesh volumes are filesystems/,
    ],
    [
      { name: 'pvc-x', volume_capabilities: [MOUNT], capacity_range: { required_bytes: 10, limit_bytes: 5 } },
      /^OUT_OF_RANGE/,
    ],
    [
      { name: 'pvc-x', volume_capabilities: [MOUNT], parameters: { colour: 'blue' } },
      /^INVALID_ARGUMENT: unknown StorageClass parameter colour/,
    ],
    [
      { name: 'pvc-x', volume_capabilities: [MOUNT], parameters: { instance: 'nowhere' } },
      /^INVALID_ARGUMENT: parameter instance: KmeshInstance .*\/nowhere does not exist/,
    ],
    [
      { name: 'pvc-x', volume_capabilities: [MOUNT], volume_content_source: { snapshot: { snapshot_id: 's' } } },
      /^NOT_FOUND: source snapshot s does not exist/,
    ],
    [
      { name: 'pvc-x', volume_capabilities: [MOUNT], volume_content_source: { volume: { volume_id: 'v1/x/y/z' } } },
      /^NOT_FOUND: source volume v1\/x\/y\/z does not exist/,
    ],
    [
      { name: 'pvc-x', volume_capabilities: [MOUNT], volume_content_source: { volume: { volume_id: '../etc' } } },
      /^NOT_FOUND: source volume/,
    ],
    [
      {
        name: 'pvc-x',
        volume_capabilities: [MOUNT],
        parameters: { dataFlow: 'shared-data' },
        volume_content_source: { volume: { volume_id: 'v1/x/y/z' } },
      },
      /^INVALID_ARGUMENT: a volume from a snapshot or another volume gets a copy of its own/,
    ],
    [{ name: 'x'.repeat(129), volume_capabilities: [MOUNT] }, /^INVALID_ARGUMENT: name is longer than 128 bytes/],
  ])('refuses %j and creates nothing', async (request, expected) => {
    const before = await objectCounts();
    expect(
      await codeOf('CreateVolume', {
        ...request,
        parameters: pvcParameters((request as { parameters?: Record<string, string> }).parameters ?? {}),
      }),
    ).toMatch(expected);
    expect(await objectCounts()).toEqual(before);
  });

  it('refuses a missing or mismatched DataFlow and creates nothing', async () => {
    const before = await objectCounts();
    expect(
      await codeOf('CreateVolume', {
        name: 'pvc-y',
        volume_capabilities: [MOUNT],
        parameters: pvcParameters({ dataFlow: 'absent' }),
      }),
    ).toBe(`INVALID_ARGUMENT: parameter dataFlow: DataFlow ${namespace}/absent does not exist`);
    expect(
      await codeOf('CreateVolume', {
        name: 'pvc-y',
        volume_capabilities: [MOUNT],
        parameters: pvcParameters({ instance: 'east', dataFlow: 'shared-data' }),
      }),
    ).toMatch(/^INVALID_ARGUMENT: parameter instance east does not match DataFlow shared-data/);
    expect(await objectCounts()).toEqual(before);
  });

  it('picks the instance by topology, preferred first, and makes the volume accessible where it is', async () => {
    const topology = {
      requisite: [
        { segments: { 'topology.kmesh.io/region': 'eu', 'topology.kmesh.io/zone': 'eu-a' } },
        { segments: { 'topology.kmesh.io/zone': 'eu-b' } },
      ],
      preferred: [{ segments: { 'topology.kmesh.io/zone': 'eu-b' } }],
    };
    const request = (name: string, accessibility: object): object => ({
      name,
      volume_capabilities: [MOUNT],
      parameters: { 'csi.storage.k8s.io/pvc/namespace': namespace },
      accessibility_requirements: accessibility,
    });
    const volume = volumeOf(await call('CreateVolume', request('pvc-topo', topology)));
    expect(volume.volume_id).toBe(`v1/${namespace}/west/pvc-topo`);
    expect(volume.accessible_topology).toEqual([
      { segments: { 'topology.kmesh.io/region': 'eu', 'topology.kmesh.io/zone': 'eu-b' } },
    ]);
    expect(
      volumeOf(
        await call(
          'CreateVolume',
          request('pvc-topo-a', { requisite: [{ segments: { 'topology.kmesh.io/zone': 'eu-a' } }] }),
        ),
      ).volume_id,
    ).toBe(`v1/${namespace}/east/pvc-topo-a`);
    const before = await objectCounts();
    expect(
      await codeOf(
        'CreateVolume',
        request('pvc-topo-none', { requisite: [{ segments: { 'topology.kmesh.io/zone': 'us-c' } }] }),
      ),
    ).toMatch(/^RESOURCE_EXHAUSTED: no KmeshInstance in namespace .* has a location in the requested topology/);
    expect(
      await codeOf('CreateVolume', {
        name: 'pvc-topo-none',
        volume_capabilities: [MOUNT],
        parameters: { 'csi.storage.k8s.io/pvc/namespace': namespace },
      }),
    ).toMatch(/^INVALID_ARGUMENT: parameter instance is required when the CO sends no topology/);
    expect(await objectCounts()).toEqual(before);
    for (const id of [volume.volume_id, `v1/${namespace}/east/pvc-topo-a`])
      await call('DeleteVolume', { volume_id: id });
  });

  it('enforces sizes on Lustre with a project quota, and grows the quota on expansion', async () => {
    csi.system.calls.length = 0;
    const volume = volumeOf(
      await create('pvc-lustre', {}, 10 * GiB, { parameters: pvcParameters({ instance: 'west' }) }),
    );
    expect(volume.capacity_bytes).toBe(10 * GiB);
    const [mount, project, setquota] = csi.system.calls;
    const mountPoint = mount!.split(' ').pop()!;
    expect(mount).toBe(`mount -t lustre -o flock,noatime west-mds-0@tcp:/west ${mountPoint}`);
    expect(project).toMatch(new RegExp(`^lfs project -p (\\d+) -s -r ${mountPoint}/dataflows/pvc-lustre$`));
    const projectId = /-p (\d+)/.exec(project!)![1];
    expect(setquota).toBe(`lfs setquota -p ${projectId} -B ${10 * 1024 * 1024}k ${mountPoint}`);

    expect(
      await call('ControllerExpandVolume', {
        volume_id: volume.volume_id,
        capacity_range: { required_bytes: 20 * GiB },
      }),
    ).toEqual({ capacity_bytes: 20 * GiB, node_expansion_required: false });
    expect(csi.system.calls.at(-1)).toBe(`lfs setquota -p ${projectId} -B ${20 * 1024 * 1024}k ${mountPoint}`);
    // Asking for less than the volume has changes nothing (CSI volumes never shrink).
    const ran = csi.system.calls.length;
    expect(
      await call('ControllerExpandVolume', {
        volume_id: volume.volume_id,
        capacity_range: { required_bytes: 5 * GiB },
      }),
    ).toEqual({ capacity_bytes: 20 * GiB, node_expansion_required: false });
    expect(csi.system.calls.length).toBe(ran);
    expect(volumeOf(await call('ControllerGetVolume', { volume_id: volume.volume_id })).capacity_bytes).toBe(20 * GiB);
    await call('DeleteVolume', { volume_id: volume.volume_id });
  });

  it('records the size of a local volume on expansion without pretending to enforce it', async () => {
    csi.system.calls.length = 0;
    const id = `v1/${namespace}/dev/pvc-1111`;
    expect(
      await call('ControllerExpandVolume', { volume_id: id, capacity_range: { required_bytes: 3 * GiB } }),
    ).toEqual({ capacity_bytes: 3 * GiB, node_expansion_required: false });
    expect(csi.system.calls).toEqual([]);
    expect(volumeOf(await call('ControllerGetVolume', { volume_id: id })).capacity_bytes).toBe(0);
    expect(await codeOf('ControllerExpandVolume', { volume_id: id })).toBe(
      'INVALID_ARGUMENT: capacity_range is required',
    );
    expect(await codeOf('ControllerExpandVolume', { capacity_range: { required_bytes: GiB } })).toBe(
      'INVALID_ARGUMENT: volume_id is required',
    );
    expect(
      await codeOf('ControllerExpandVolume', {
        volume_id: `v1/${namespace}/dev/nope`,
        capacity_range: { required_bytes: GiB },
      }),
    ).toMatch(/^NOT_FOUND/);
    expect(
      await codeOf('ControllerExpandVolume', {
        volume_id: id,
        capacity_range: { required_bytes: 2 * GiB, limit_bytes: GiB },
      }),
    ).toMatch(/^OUT_OF_RANGE/);
  });

  it('reports free capacity of the class instance, of a topology, or of all instances', async () => {
    const capacity = async (request: object): Promise<number> =>
      (await call('GetCapacity', request))['available_capacity'] as number;
    expect(await capacity({ parameters: { namespace, instance: 'east' } })).toBe(60 * GiB);
    expect(
      await capacity({
        parameters: { namespace },
        accessible_topology: { segments: { 'topology.kmesh.io/zone': 'eu-b' } },
      }),
    ).toBe(900 * GiB);
    // dev has not reported its capacity: it counts 0, not a guess.
    expect(await capacity({ parameters: { namespace } })).toBe(960 * GiB);
    expect(
      await capacity({
        parameters: { namespace },
        accessible_topology: { segments: { 'topology.kmesh.io/zone': 'mars' } },
      }),
    ).toBe(0);
    expect(await codeOf('GetCapacity', { parameters: { colour: 'blue' } })).toMatch(
      /^INVALID_ARGUMENT: unknown StorageClass parameter colour/,
    );
  });

  it('lists volumes page by page, each with the condition of its DataFlow', async () => {
    await kube.mergePatch(
      RESOURCES.dataFlow,
      namespace,
      'shared-data',
      {
        status: {
          phase: 'Degraded',
          conditions: [
            {
              type: 'Ready',
              status: 'False',
              reason: 'PeerUnreachable',
              message: 'peer azure-west unreachable',
              lastTransitionTime: new Date().toISOString(),
            },
          ],
        },
      },
      'status',
    );
    const ours = (entries: Array<{ volume: Volume; status: { volume_condition: object } }>): typeof entries =>
      entries.filter((e) => e.volume.volume_id.startsWith(`v1/${namespace}/`));
    const all = ours(
      (await call('ListVolumes', {}))['entries'] as Array<{ volume: Volume; status: { volume_condition: object } }>,
    );
    expect(all.map((e) => e.volume.volume_id)).toEqual(
      [`v1/${namespace}/dev/pvc-1111`, sharedId, `v1/${namespace}/dev/shared-data/volumes/pvc-3333`].sort(),
    );
    expect(all.find((e) => e.volume.volume_id === `v1/${namespace}/dev/pvc-1111`)?.status.volume_condition).toEqual({
      abnormal: false,
      message: `DataFlow ${namespace}/pvc-1111 is not yet reconciled`,
    });
    expect(all.find((e) => e.volume.volume_id === sharedId)?.status.volume_condition).toEqual({
      abnormal: true,
      message: `DataFlow ${namespace}/shared-data is Degraded: peer azure-west unreachable`,
    });

    const seen: string[] = [];
    let token = '';
    for (let page = 0; page < 100; page++) {
      const response = await call('ListVolumes', { max_entries: 1, starting_token: token });
      seen.push(...(response['entries'] as Array<{ volume: Volume }>).map((e) => e.volume.volume_id));
      token = response['next_token'] as string;
      if (!token) break;
    }
    expect(seen.filter((id) => id.startsWith(`v1/${namespace}/`))).toEqual(all.map((e) => e.volume.volume_id));
    expect(await codeOf('ListVolumes', { starting_token: 'bogus' })).toMatch(/^ABORTED/);
  });

  it('gets one volume with its condition, and NOT_FOUND for others', async () => {
    expect(await call('ControllerGetVolume', { volume_id: sharedId })).toMatchObject({
      volume: { volume_id: sharedId },
      status: { volume_condition: { abnormal: true } },
    });
    expect(await codeOf('ControllerGetVolume', { volume_id: `v1/${namespace}/dev/nope` })).toMatch(/^NOT_FOUND/);
    expect(await codeOf('ControllerGetVolume', { volume_id: 'garbage' })).toMatch(/^NOT_FOUND/);
    expect(await codeOf('ControllerGetVolume', {})).toBe('INVALID_ARGUMENT: volume_id is required');
  });

  it('confirms mount capabilities of an existing volume and answers NOT_FOUND for others', async () => {
    const volumeId = `v1/${namespace}/dev/pvc-1111`;
    expect(
      await call('ValidateVolumeCapabilities', { volume_id: volumeId, volume_capabilities: [MOUNT] }),
    ).toMatchObject({
      confirmed: {
        volume_capabilities: [expect.objectContaining({ access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } })],
      },
    });
    expect(
      await call('ValidateVolumeCapabilities', {
        volume_id: volumeId,
        volume_capabilities: [{ block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }],
      }),
    ).toMatchObject({ message: expect.stringContaining('block access is not supported') });
    expect(
      await codeOf('ValidateVolumeCapabilities', {
        volume_id: `v1/${namespace}/dev/nope`,
        volume_capabilities: [MOUNT],
      }),
    ).toMatch(/^NOT_FOUND/);
    expect(await codeOf('ValidateVolumeCapabilities', { volume_id: 'garbage', volume_capabilities: [MOUNT] })).toMatch(
      /^NOT_FOUND/,
    );
  });

  it('deletes what a volume created, keeps a shared DataFlow, and is idempotent', async () => {
    await call('DeleteVolume', { volume_id: `v1/${namespace}/dev/pvc-1111` });
    await call('DeleteVolume', { volume_id: `v1/${namespace}/dev/pvc-1111` });
    expect(await kube.get(RESOURCES.dataFlow, namespace, 'pvc-1111')).toBeUndefined();
    await call('DeleteVolume', { volume_id: `v1/${namespace}/dev/shared-data/volumes/pvc-3333` });
    await call('DeleteVolume', { volume_id: sharedId });
    expect(await kube.get(RESOURCES.dataFlow, namespace, 'shared-data')).toBeDefined();
    expect(await objectCounts()).toEqual([1, 0, 0]);
    expect(await codeOf('DeleteVolume', { volume_id: 'never-ours' })).toBe('OK');
    expect(await codeOf('DeleteVolume', {})).toBe('INVALID_ARGUMENT: volume_id is required');
  });
});
