/**
 * The Snapshot and VirtualCopy controllers against the real API server: a Snapshot's task pod
 * takes the snapshot with the real `kmesh snapshot` command (the test plays the kubelet, see
 * test/support/task-kubelet.ts), its result becomes the status; a VirtualCopy waits for its
 * Snapshot, is copied and becomes Ready; failures are reported and retried; deletion removes the
 * files (or keeps them with deletionPolicy Retain).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Condition, Snapshot, VirtualCopy } from '../../api/v1alpha1/index.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import type { KubeClient, WireObject } from '../../lib/kube/rest.js';
import { contentManifest } from '../../sync/snapshots/store.js';
import { createNamespace, deleteNamespace, installCrds, testClient } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { installOperatorRbac, startTestOperator, testOperatorConfig, type TestOperator } from '../support/operator.js';
import { startTaskKubelet, type TaskKubelet } from '../support/task-kubelet.js';
import { treeListing } from '../support/tree-hash.js';

let client: KubeClient;
let namespace: string;
let operator: TestOperator;
let kubelet: TaskKubelet;
let top: string;

const east = () => join(top, 'east');
const condition = (object: { status?: { conditions?: Condition[] } }, type = 'Ready') =>
  object.status?.conditions?.find((c) => c.type === type);
const getSnapshot = async (name: string) => (await client.get<Snapshot>(RESOURCES.snapshot, namespace, name))!;
const getCopy = async (name: string) => (await client.get<VirtualCopy>(RESOURCES.virtualCopy, namespace, name))!;
const snapshotOf = (name: string, dataFlow: string, extra: Record<string, unknown> = {}) =>
  client.create(RESOURCES.snapshot, {
    apiVersion: 'kmesh.io/v1alpha1',
    kind: 'Snapshot',
    metadata: { name, namespace },
    spec: { dataFlowRef: { name: dataFlow }, ...extra },
  });
const copyOf = (name: string, source: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  client.create(RESOURCES.virtualCopy, {
    apiVersion: 'kmesh.io/v1alpha1',
    kind: 'VirtualCopy',
    metadata: { name, namespace },
    spec: { source, ...extra },
  });
const dataFlow = (name: string) =>
  client.create(RESOURCES.dataFlow, {
    apiVersion: 'kmesh.io/v1alpha1',
    kind: 'DataFlow',
    metadata: { name, namespace },
    spec: { instanceRef: { name: 'east' }, suspend: true },
  });
const reasons = async (name: string) =>
  (
    await client.list<WireObject & { regarding: { name: string }; reason: string }>(RESOURCES.event, { namespace })
  ).items
    .filter((e) => e.regarding.name === name)
    .map((e) => e.reason);

async function readySnapshot(name: string): Promise<Snapshot> {
  return eventually(async () => {
    const snapshot = await getSnapshot(name);
    expect([snapshot.status?.readyToUse, condition(snapshot)?.message]).toEqual([true, expect.any(String)]);
    return snapshot;
  }, 60_000);
}

async function readyCopy(name: string): Promise<VirtualCopy> {
  return eventually(async () => {
    const copy = await getCopy(name);
    expect([copy.status?.phase, condition(copy)?.status, condition(copy)?.message]).toEqual([
      'Ready',
      'True',
      expect.any(String),
    ]);
    return copy;
  }, 60_000);
}

beforeAll(async () => {
  client = testClient();
  await installCrds(client);
  await installOperatorRbac(client);
  namespace = await createNamespace(client, 'snap');
  top = mkdtempSync(join(tmpdir(), 'kmesh-snap-'));
  mkdirSync(join(east(), 'dataflows', 'shared', 'volumes', 'pv-1'), { recursive: true });
  writeFileSync(join(east(), 'dataflows', 'shared', 'volumes', 'pv-1', 'hello.txt'), 'hello from the writer\n');
  const data = randomBytes(300_000);
  writeFileSync(join(east(), 'dataflows', 'shared', 'data.bin'), data);
  writeFileSync(join(east(), 'dataflows', 'shared', 'data-copy.bin'), data);
  operator = await startTestOperator(testOperatorConfig(namespace));
  kubelet = startTaskKubelet(client, namespace, east());
  for (const name of ['east', 'west']) {
    await client.create(RESOURCES.kmeshInstance, {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'KmeshInstance',
      metadata: { name, namespace },
      spec: { backend: { type: 'local', local: { path: `/srv/kmesh/${name}` } } },
    });
  }
  await dataFlow('shared');
});

afterAll(async () => {
  await kubelet?.stop();
  await operator?.stop();
  await deleteNamespace(client, namespace);
  rmSync(top, { recursive: true, force: true });
});

describe('Snapshots and VirtualCopies', () => {
  it('takes a snapshot in a task pod and reports its root, counts and readiness', async () => {
    await snapshotOf('snap-1', 'shared');
    const pod = await eventually(async () => {
      const found = await client.get<
        WireObject & { spec: Record<string, unknown> & { containers: Record<string, unknown>[] } }
      >(RESOURCES.pod, namespace, 'snap-1-snapshot');
      expect(found).toBeDefined();
      return found!;
    });
    const uid = (await getSnapshot('snap-1')).metadata.uid!;
    expect(pod.spec.containers[0]!['args']).toEqual([
      'snapshot',
      'take',
      '--tree',
      '/kmesh/data/dataflows/shared',
      '--into',
      `/kmesh/data/.kmesh/snapshots/${namespace}/shared/${uid}`,
      '--name',
      `${namespace}/snap-1`,
      '--result',
      '/dev/termination-log',
    ]);
    expect(pod.spec).toMatchObject({
      restartPolicy: 'OnFailure',
      automountServiceAccountToken: false,
      volumes: [
        {
          name: 'data',
          csi: { driver: 'csi.kmesh.io', volumeAttributes: { 'kmesh.io/instance': expect.any(String) } },
        },
      ],
    });
    expect(pod.spec.containers[0]!['volumeMounts']).toContainEqual({ name: 'data', mountPath: '/kmesh/data' });
    expect(pod.spec.containers[0]!['securityContext']).toMatchObject({
      runAsUser: 0,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });

    const snapshot = await readySnapshot('snap-1');
    const live = await contentManifest(join(east(), 'dataflows', 'shared'));
    // data-copy.bin repeats data.bin's chunks: they count once in uniqueBytes.
    expect(snapshot.status).toMatchObject({
      rootHash: live.root,
      fileCount: 3,
      logicalBytes: 600_022,
      uniqueBytes: 300_022,
    });
    expect(snapshot.metadata.finalizers).toContain('kmesh.io/snapshot');
    expect(condition(snapshot)).toMatchObject({ status: 'True', reason: 'SnapshotTaken' });
    expect(
      readFileSync(
        join(east(), '.kmesh', 'snapshots', namespace, 'shared', uid, 'tree', 'volumes', 'pv-1', 'hello.txt'),
        'utf8',
      ),
    ).toBe('hello from the writer\n');
    await eventually(async () => expect(await client.get(RESOURCES.pod, namespace, 'snap-1-snapshot')).toBeUndefined());
    await eventually(async () =>
      expect(await reasons('snap-1')).toEqual(expect.arrayContaining(['Created', 'SnapshotTaken'])),
    );
  });

  it('makes a VirtualCopy of the snapshot that is Ready with the snapshot’s root, and keeps the snapshot as it was', async () => {
    await copyOf('restored', { snapshotRef: { name: 'snap-1' } });
    const copy = await readyCopy('restored');
    const snapshot = await getSnapshot('snap-1');
    expect(copy.status).toMatchObject({
      base: { snapshot: 'snap-1', rootHash: snapshot.status!.rootHash },
      accessPoint: { path: '/virtualcopies/restored', mountSource: '/srv/kmesh/east/virtualcopies/restored' },
    });
    expect(copy.metadata.annotations?.['kmesh.io/instance']).toBe('east');
    const restored = join(east(), 'virtualcopies', 'restored');
    expect(treeListing(restored)).toEqual(
      treeListing(join(east(), '.kmesh', 'snapshots', namespace, 'shared', snapshot.metadata.uid!, 'tree')),
    );
    writeFileSync(join(restored, 'volumes', 'pv-1', 'hello.txt'), 'written in the copy\n');
    writeFileSync(join(east(), 'dataflows', 'shared', 'volumes', 'pv-1', 'hello.txt'), 'written in the DataFlow\n');
    expect(
      readFileSync(
        join(
          east(),
          '.kmesh',
          'snapshots',
          namespace,
          'shared',
          snapshot.metadata.uid!,
          'tree',
          'volumes',
          'pv-1',
          'hello.txt',
        ),
        'utf8',
      ),
    ).toBe('hello from the writer\n');
    await eventually(async () => expect(await reasons('restored')).toEqual(expect.arrayContaining(['CopyMade'])));
  });

  it('copies a live DataFlow as it is now', async () => {
    await copyOf('clone', { dataFlowRef: { name: 'shared' } });
    const copy = await readyCopy('clone');
    expect(copy.status?.base).toEqual({ rootHash: (await contentManifest(join(east(), 'dataflows', 'shared'))).root });
    expect(readFileSync(join(east(), 'virtualcopies', 'clone', 'volumes', 'pv-1', 'hello.txt'), 'utf8')).toBe(
      'written in the DataFlow\n',
    );
  });

  it('waits for a missing DataFlow and an unready Snapshot, then catches up', async () => {
    await snapshotOf('snap-late', 'late');
    await copyOf('from-late', { snapshotRef: { name: 'snap-late' } });
    await eventually(async () =>
      expect(condition(await getSnapshot('snap-late'))).toMatchObject({ status: 'False', reason: 'DataFlowNotFound' }),
    );
    const waiting = await eventually(async () => {
      const copy = await getCopy('from-late');
      expect([copy.status?.phase, condition(copy)?.reason]).toEqual(['Pending', 'SnapshotNotReady']);
      return copy;
    });
    expect(condition(waiting)?.message).toBe('waiting for Snapshot snap-late to be ready to use');
    mkdirSync(join(east(), 'dataflows', 'late'));
    writeFileSync(join(east(), 'dataflows', 'late', 'a.txt'), 'a\n');
    await dataFlow('late');
    const snapshot = await readySnapshot('snap-late');
    expect((await readyCopy('from-late')).status?.base?.rootHash).toBe(snapshot.status!.rootHash);
  });

  it('reports a failing task with its error and succeeds once the cause is gone', async () => {
    await dataFlow('unwritten'); // its access point does not exist yet
    await snapshotOf('snap-failing', 'unwritten');
    const failing = await eventually(async () => {
      const snapshot = await getSnapshot('snap-failing');
      expect(condition(snapshot)?.reason).toBe('TaskFailed');
      return snapshot;
    }, 60_000);
    expect(failing.status?.readyToUse).toBe(false);
    expect(condition(failing)?.message).toMatch(
      /^pod snap-failing-snapshot failed \(exit 1\): .*\/dataflows\/unwritten.*; the kubelet retries$/,
    );
    await eventually(async () => expect(await reasons('snap-failing')).toContain('TaskFailed'));
    mkdirSync(join(east(), 'dataflows', 'unwritten'));
    await readySnapshot('snap-failing');
    expect(kubelet.runs.get('snap-failing-snapshot')).toBeGreaterThan(1);
  });

  it('refuses a copy at another instance than its source, changing nothing', async () => {
    await copyOf('elsewhere', { snapshotRef: { name: 'snap-1' } }, { instanceRef: { name: 'west' } });
    const copy = await eventually(async () => {
      const found = await getCopy('elsewhere');
      expect([found.status?.phase, condition(found)?.reason]).toEqual(['Failed', 'CrossSiteNotSupported']);
      return found;
    });
    expect(condition(copy)?.message).toContain("spec.instanceRef west is not the source's instance east");
    expect(existsSync(join(east(), 'virtualcopies', 'elsewhere'))).toBe(false);
    expect(await client.get(RESOURCES.pod, namespace, 'elsewhere-copy')).toBeUndefined();
  });

  it('refuses a copy whose path is a DataFlow’s, and deleting it leaves that DataFlow’s files alone', async () => {
    for (const [name, path, says] of [
      ['over-dataflow', '/dataflows/shared/volumes', 'overlaps the access point /dataflows/shared of DataFlow shared'],
      ['over-copy', '/virtualcopies', 'overlaps the access point /virtualcopies/restored of VirtualCopy restored'],
    ] as const) {
      await copyOf(name, { snapshotRef: { name: 'snap-1' } }, { path });
      const copy = await eventually(async () => {
        const found = await getCopy(name);
        expect([found.status?.phase, condition(found)?.reason]).toEqual(['Failed', 'PathConflict']);
        return found;
      });
      expect(condition(copy)?.message).toContain(says);
      expect(await client.get(RESOURCES.pod, namespace, `${name}-copy`)).toBeUndefined();
      await client.delete(RESOURCES.virtualCopy, namespace, name);
      await eventually(async () => expect(await client.get(RESOURCES.virtualCopy, namespace, name)).toBeUndefined());
    }
    expect(readFileSync(join(east(), 'dataflows', 'shared', 'volumes', 'pv-1', 'hello.txt'), 'utf8')).toBe(
      'written in the DataFlow\n',
    );
    expect(existsSync(join(east(), 'virtualcopies', 'restored'))).toBe(true);
  });

  it('says which parts of a spec this release does not act on, and never pretends', async () => {
    await snapshotOf('snap-hooks', 'shared', {
      hooks: { pre: { selector: { matchLabels: { app: 'trainer' } }, command: ['sync'] } },
    });
    const hooked = await eventually(async () => {
      const snapshot = await getSnapshot('snap-hooks');
      expect(condition(snapshot)?.reason).toBe('NotSupported');
      return snapshot;
    });
    expect([hooked.status?.readyToUse, condition(hooked)?.message]).toEqual([
      false,
      expect.stringMatching(/^spec\.hooks: /),
    ]);
    expect(await client.get(RESOURCES.pod, namespace, 'snap-hooks-snapshot')).toBeUndefined();

    await snapshotOf('snap-export', 'shared', {
      exportTo: { nfs: { server: 'nfs.example', path: '/exports/snapshots' } },
    });
    const exported = await readySnapshot('snap-export');
    expect(condition(exported, 'Exported')).toMatchObject({ status: 'False', reason: 'NotSupported' });
    // Supported names every ignored field, and one Warning event says so.
    expect(condition(hooked, 'Supported')).toMatchObject({
      status: 'False',
      reason: 'NotSupported',
      message: expect.stringMatching(/^not acted on by this release: spec\.hooks: /),
    });
    expect(condition(exported, 'Supported')).toMatchObject({
      status: 'False',
      reason: 'NotSupported',
      message: expect.stringMatching(/^not acted on by this release: spec\.exportTo: /),
    });
    await eventually(async () =>
      expect((await reasons('snap-export')).filter((r) => r === 'NotSupported')).toHaveLength(1),
    );
    expect(condition(await getCopy('clone'), 'Supported')).toMatchObject({ status: 'True', reason: 'AllSupported' });

    expect(condition(await getCopy('clone'), 'Reconciled')).toMatchObject({ status: 'True', reason: 'Applied' });
    await client.mergePatch(RESOURCES.virtualCopy, namespace, 'clone', { spec: { refreshRequest: 1 } });
    await eventually(async () =>
      expect(condition(await getCopy('clone'), 'Reconciled')).toMatchObject({
        status: 'False',
        reason: 'NotSupported',
        message: expect.stringMatching(/^spec\.refreshRequest: /),
      }),
    );
    const clone = await getCopy('clone');
    expect(clone.status?.observedGeneration).toBe(clone.metadata.generation);
    expect(condition(await getCopy('clone'))?.status).toBe('True');
    expect(condition(clone, 'Supported')).toMatchObject({
      status: 'False',
      reason: 'NotSupported',
      message: expect.stringContaining('spec.refreshRequest: '),
    });
    await eventually(async () => expect((await reasons('clone')).filter((r) => r === 'NotSupported')).toHaveLength(1));

    // A lazy copy with a thickening limit and a merge policy is made whole; Supported says what was ignored.
    await copyOf(
      'lazy',
      { dataFlowRef: { name: 'shared' } },
      { access: 'cache', thickenBandwidthLimit: '50Mi', reverseSync: { conflictPolicy: 'keepBoth' } },
    );
    const lazy = await readyCopy('lazy');
    expect(condition(lazy, 'Supported')?.message).toMatch(
      /^not acted on by this release: spec\.access: .*; spec\.thickenBandwidthLimit: .*; spec\.reverseSync\.conflictPolicy: /,
    );
    await eventually(async () => expect((await reasons('lazy')).filter((r) => r === 'NotSupported')).toHaveLength(1));
  });

  it('removes a deleted copy’s and snapshot’s files, and keeps a Retain snapshot’s', async () => {
    const retained = (
      await client.create<Snapshot>(RESOURCES.snapshot, {
        apiVersion: 'kmesh.io/v1alpha1',
        kind: 'Snapshot',
        metadata: { name: 'snap-kept', namespace },
        spec: { dataFlowRef: { name: 'shared' }, deletionPolicy: 'Retain' },
      })
    ).metadata.uid!;
    await readySnapshot('snap-kept');
    const removedUid = (await getSnapshot('snap-1')).metadata.uid!;
    for (const name of ['restored', 'elsewhere']) await client.delete(RESOURCES.virtualCopy, namespace, name);
    await client.delete(RESOURCES.snapshot, namespace, 'snap-1');
    await client.delete(RESOURCES.snapshot, namespace, 'snap-kept');
    await eventually(async () => {
      expect(await client.get(RESOURCES.virtualCopy, namespace, 'restored')).toBeUndefined();
      expect(await client.get(RESOURCES.virtualCopy, namespace, 'elsewhere')).toBeUndefined();
      expect(await client.get(RESOURCES.snapshot, namespace, 'snap-1')).toBeUndefined();
      expect(await client.get(RESOURCES.snapshot, namespace, 'snap-kept')).toBeUndefined();
    }, 60_000);
    expect(existsSync(join(east(), 'virtualcopies', 'restored'))).toBe(false);
    const snapshots = readdirSync(join(east(), '.kmesh', 'snapshots', namespace, 'shared'));
    expect(snapshots).not.toContain(removedUid);
    expect(snapshots).toContain(retained);
    expect(existsSync(join(east(), 'virtualcopies', 'clone'))).toBe(true); // not deleted, not touched
  });
});
