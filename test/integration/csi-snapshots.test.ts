/**
 * CSI snapshots and copies against the real API server: CreateSnapshot makes a Kmesh Snapshot of
 * the volume's DataFlow and reports ready_to_use from its status (never before the operator says
 * so); a volume from a snapshot or from another volume is a VirtualCopy, and the node mounts it
 * only once the copy is Ready. The test writes the statuses the operator would write.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Snapshot, VirtualCopy } from '../../api/v1alpha1/index.js';
import { ApiVolumeResolver } from '../../csi/resolver.js';
import { TEST_LOCAL_ROOTS } from '../support/operator.js';
import { parseVolumeId } from '../../csi/volume-id.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import type { KubeClient } from '../../lib/kube/rest.js';
import { createNamespace, deleteNamespace, installCrds, testClient } from '../support/cluster.js';
import { startTestController, type TestController } from '../support/csi.js';

let kube: KubeClient;
let namespace: string;
let csi: TestController;
let sourceId: string;
let snapshotId: string;

const MOUNT = { mount: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
const parameters = (): Record<string, string> => ({ 'csi.storage.k8s.io/pvc/namespace': namespace, instance: 'dev' });
type CsiSnapshot = {
  snapshot_id: string;
  source_volume_id: string;
  ready_to_use: boolean;
  size_bytes: number;
  creation_time: { seconds: number };
};
const snapshotOf = (response: Record<string, unknown>): CsiSnapshot => response['snapshot'] as CsiSnapshot;
const readyCondition = (status: 'True' | 'False', message: string): object => ({
  type: 'Ready',
  status,
  reason: status === 'True' ? 'Ready' : 'NotReady',
  message,
  lastTransitionTime: new Date().toISOString(),
});

beforeAll(async () => {
  kube = testClient();
  await installCrds(kube);
  namespace = await createNamespace(kube, 'csi-snap');
  await kube.create(RESOURCES.kmeshInstance, {
    apiVersion: 'kmesh.io/v1alpha1',
    kind: 'KmeshInstance',
    metadata: { name: 'dev', namespace },
    spec: { backend: { type: 'local', local: { path: `/var/lib/kmesh/${namespace}/dev` } } },
  });
  csi = await startTestController(kube);
  sourceId = (
    (await csi.call('CreateVolume', { name: 'pvc-source', volume_capabilities: [MOUNT], parameters: parameters() }))[
      'volume'
    ] as { volume_id: string }
  ).volume_id;
});

afterAll(async () => {
  await csi.stop();
  await deleteNamespace(kube, namespace);
  kube.close();
});

describe('CSI snapshots', () => {
  it('creates a Snapshot of the volume’s DataFlow, not ready until the operator says so', async () => {
    const first = snapshotOf(
      await csi.call('CreateSnapshot', {
        name: 'snapshot-1',
        source_volume_id: sourceId,
        parameters: { 'csi.storage.k8s.io/volumesnapshot/name': 'nightly' },
      }),
    );
    snapshotId = first.snapshot_id;
    expect(first).toMatchObject({
      snapshot_id: `v1/${namespace}/snapshot-1`,
      source_volume_id: sourceId,
      ready_to_use: false,
      size_bytes: 0,
    });
    expect(first.creation_time.seconds).toBeGreaterThan(0);
    const object = await kube.get<Snapshot>(RESOURCES.snapshot, namespace, 'snapshot-1');
    expect(object?.spec.dataFlowRef).toEqual({ name: 'pvc-source' });

    await kube.mergePatch(
      RESOURCES.snapshot,
      namespace,
      'snapshot-1',
      {
        status: {
          readyToUse: true,
          creationTime: '2026-11-21T10:00:00Z',
          logicalBytes: 4096,
          conditions: [readyCondition('True', 'manifest retained')],
        },
      },
      'status',
    );
    const again = snapshotOf(await csi.call('CreateSnapshot', { name: 'snapshot-1', source_volume_id: sourceId }));
    expect(again).toMatchObject({
      snapshot_id: snapshotId,
      ready_to_use: true,
      size_bytes: 4096,
      creation_time: { seconds: Date.parse('2026-11-21T10:00:00Z') / 1000 },
    });
  });

  it.each([
    [{ source_volume_id: 'v1/x/dev/y' }, /^INVALID_ARGUMENT: name is required/],
    [{ name: 'snapshot-2' }, /^INVALID_ARGUMENT: source_volume_id is required/],
    [{ name: 'snapshot-2', source_volume_id: '../etc' }, /^NOT_FOUND: source volume does not exist/],
    [
      { name: 'snapshot-2', source_volume_id: 'v1/nowhere/dev/pvc-0' },
      /^NOT_FOUND: source volume v1\/nowhere\/dev\/pvc-0 does not exist/,
    ],
    [
      { name: 'snapshot-2', source_volume_id: 'SOURCE', parameters: { retention: '7d' } },
      /^INVALID_ARGUMENT: unknown VolumeSnapshotClass parameters retention/,
    ],
  ])('refuses %j and creates nothing', async (request, expected) => {
    const resolved = {
      ...request,
      ...((request as { source_volume_id?: string }).source_volume_id === 'SOURCE'
        ? { source_volume_id: sourceId }
        : {}),
    };
    expect(await csi.codeOf('CreateSnapshot', resolved)).toMatch(expected);
    expect((await kube.list(RESOURCES.snapshot, { namespace })).items).toHaveLength(1);
  });

  it('answers ALREADY_EXISTS for a known name with another source volume', async () => {
    const other = (
      (await csi.call('CreateVolume', { name: 'pvc-other', volume_capabilities: [MOUNT], parameters: parameters() }))[
        'volume'
      ] as { volume_id: string }
    ).volume_id;
    expect(await csi.codeOf('CreateSnapshot', { name: 'snapshot-1', source_volume_id: other })).toMatch(
      /^ALREADY_EXISTS: snapshot snapshot-1 exists/,
    );
    await csi.call('DeleteVolume', { volume_id: other });
  });

  it('lists snapshots, filtered by ID or source volume', async () => {
    await csi.call('CreateSnapshot', { name: 'snapshot-2', source_volume_id: sourceId });
    const ids = async (request: object): Promise<string[]> =>
      ((await csi.call('ListSnapshots', request))['entries'] as Array<{ snapshot: CsiSnapshot }>)
        .map((e) => e.snapshot.snapshot_id)
        .filter((id) => id.startsWith(`v1/${namespace}/`));
    expect(await ids({})).toEqual([`v1/${namespace}/snapshot-1`, `v1/${namespace}/snapshot-2`]);
    expect(await ids({ snapshot_id: snapshotId })).toEqual([snapshotId]);
    expect(await ids({ source_volume_id: sourceId })).toEqual([
      `v1/${namespace}/snapshot-1`,
      `v1/${namespace}/snapshot-2`,
    ]);
    expect(await ids({ snapshot_id: 'not-ours' })).toEqual([]);
    expect(await ids({ source_volume_id: 'v1/x/y/z' })).toEqual([]);
  });

  it('restores a snapshot into a VirtualCopy that the node mounts only once it is Ready', async () => {
    const request = {
      name: 'pvc-restored',
      volume_capabilities: [MOUNT],
      parameters: parameters(),
      volume_content_source: { snapshot: { snapshot_id: snapshotId } },
    };
    const volume = (await csi.call('CreateVolume', request))['volume'] as {
      volume_id: string;
      content_source: object;
      volume_context: object;
    };
    expect(volume).toMatchObject({
      volume_id: `v1/${namespace}/dev/copy:pvc-restored`,
      content_source: { snapshot: { snapshot_id: snapshotId } },
      volume_context: { virtualCopy: 'pvc-restored' },
    });
    const copy = await kube.get<VirtualCopy>(RESOURCES.virtualCopy, namespace, 'pvc-restored');
    expect(copy?.spec).toMatchObject({
      source: { snapshotRef: { name: 'snapshot-1' } },
      instanceRef: { name: 'dev' },
      access: 'copy',
    });
    // The same name from another source is another volume.
    expect(
      await csi.codeOf('CreateVolume', { ...request, volume_content_source: { volume: { volume_id: sourceId } } }),
    ).toMatch(/^ALREADY_EXISTS/);

    const resolver = new ApiVolumeResolver(kube, TEST_LOCAL_ROOTS);
    const ref = parseVolumeId(volume.volume_id);
    await expect(resolver.resolve(ref)).rejects.toMatchObject({
      details: expect.stringContaining(`VirtualCopy ${namespace}/pvc-restored is not ready yet`),
    });
    await kube.mergePatch(
      RESOURCES.virtualCopy,
      namespace,
      'pvc-restored',
      { status: { phase: 'Ready', conditions: [readyCondition('True', 'copy made')] } },
      'status',
    );
    expect(await resolver.resolve(ref)).toEqual({
      backend: 'local',
      mountSource: `/var/lib/kmesh/${namespace}/dev`,
      accessPoint: '/virtualcopies/pvc-restored',
    });
    expect(await resolver.condition(ref)).toEqual({
      abnormal: false,
      message: `VirtualCopy ${namespace}/pvc-restored is Ready`,
    });
  });

  it('clones a volume into a VirtualCopy of its DataFlow, and refuses to snapshot or clone a copy', async () => {
    const clone = (
      (
        await csi.call('CreateVolume', {
          name: 'pvc-clone',
          volume_capabilities: [MOUNT],
          parameters: parameters(),
          volume_content_source: { volume: { volume_id: sourceId } },
        })
      )['volume'] as { volume_id: string }
    ).volume_id;
    expect(clone).toBe(`v1/${namespace}/dev/copy:pvc-clone`);
    expect((await kube.get<VirtualCopy>(RESOURCES.virtualCopy, namespace, 'pvc-clone'))?.spec.source).toEqual({
      dataFlowRef: { name: 'pvc-source' },
    });
    expect(await csi.codeOf('CreateSnapshot', { name: 'snapshot-of-copy', source_volume_id: clone })).toMatch(
      /^FAILED_PRECONDITION: volume .* lives in VirtualCopy pvc-clone/,
    );
    expect(
      await csi.codeOf('CreateVolume', {
        name: 'pvc-clone-2',
        volume_capabilities: [MOUNT],
        parameters: parameters(),
        volume_content_source: { volume: { volume_id: clone } },
      }),
    ).toMatch(/^FAILED_PRECONDITION: source volume .* is itself a copy/);
    await csi.call('DeleteVolume', { volume_id: clone });
    expect(await kube.get(RESOURCES.virtualCopy, namespace, 'pvc-clone')).toBeUndefined();
  });

  it('restores a snapshot of a volume in a shared DataFlow at its sub-path, and deletes the copy with the volume', async () => {
    await kube.create(RESOURCES.dataFlow, {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'DataFlow',
      metadata: { name: 'team', namespace },
      spec: { instanceRef: { name: 'dev' } },
    });
    const shared = { ...parameters(), dataFlow: 'team', accessPoint: 'perVolume' };
    const volume = (
      (await csi.call('CreateVolume', { name: 'pvc-in-team', volume_capabilities: [MOUNT], parameters: shared }))[
        'volume'
      ] as { volume_id: string }
    ).volume_id;
    const snapshot = snapshotOf(await csi.call('CreateSnapshot', { name: 'snapshot-team', source_volume_id: volume }));
    // A restore in the class bound to the DataFlow is refused; a class with only the instance makes a copy.
    expect(
      await csi.codeOf('CreateVolume', {
        name: 'pvc-team-restored',
        volume_capabilities: [MOUNT],
        parameters: shared,
        volume_content_source: { snapshot: { snapshot_id: snapshot.snapshot_id } },
      }),
    ).toMatch(/^INVALID_ARGUMENT: a volume from a snapshot/);
    const request = {
      name: 'pvc-team-restored',
      volume_capabilities: [MOUNT],
      parameters: parameters(),
      volume_content_source: { snapshot: { snapshot_id: snapshot.snapshot_id } },
    };
    const restored = ((await csi.call('CreateVolume', request))['volume'] as { volume_id: string }).volume_id;
    expect(restored).toBe(`v1/${namespace}/dev/copy:pvc-team-restored/volumes/pvc-in-team`);
    expect(
      ((await csi.call('ControllerGetVolume', { volume_id: restored }))['volume'] as { volume_id: string }).volume_id,
    ).toBe(restored);
    await csi.call('DeleteVolume', { volume_id: restored });
    expect(await kube.get(RESOURCES.virtualCopy, namespace, 'pvc-team-restored')).toBeUndefined();
    expect(await csi.codeOf('ControllerGetVolume', { volume_id: restored })).toMatch(/^NOT_FOUND/);
    await csi.call('DeleteSnapshot', { snapshot_id: snapshot.snapshot_id });
    await csi.call('DeleteVolume', { volume_id: volume });
  });

  it('deletes snapshots idempotently, and ignores IDs that are not ours', async () => {
    await csi.call('DeleteSnapshot', { snapshot_id: `v1/${namespace}/snapshot-2` });
    await csi.call('DeleteSnapshot', { snapshot_id: `v1/${namespace}/snapshot-2` });
    expect(await kube.get(RESOURCES.snapshot, namespace, 'snapshot-2')).toBeUndefined();
    expect(await csi.codeOf('DeleteSnapshot', { snapshot_id: 'garbage/../x' })).toBe('OK');
    expect(await csi.codeOf('DeleteSnapshot', {})).toBe('INVALID_ARGUMENT: snapshot_id is required');
  });
});
