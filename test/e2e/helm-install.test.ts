/**
 * End to end, as a user runs Kmesh: a real single-node cluster (hack/cluster: kubelet, containerd,
 * runc, CNI, kube-proxy), the images built here (hack/images), `helm install` of charts/kmesh, then
 * a local-backend KmeshInstance, a DataFlow, the chart's StorageClass, a PVC and pods that write
 * and read through the CSI driver; a VolumeSnapshot and a PVC restored from it; `helm upgrade` under
 * mounted pods; cleanup with deleteAfterUse; and `helm uninstall`. Needs root (the cluster) and buildah.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  isClusterUp,
  readClusterState,
  startCluster,
  stopCluster,
  type ClusterState,
} from '../../hack/cluster/cluster.js';
import {
  clusterValues,
  helm,
  installChart,
  localDataPath,
  RELEASE,
  RELEASE_NAMESPACE,
} from '../../hack/cluster/kmesh-release.js';
import { installSnapshotController } from '../../hack/cluster/snapshot-controller.js';
import {
  APP_NAMESPACE,
  DATA_FLOW,
  dataFlow,
  INSTANCE,
  kmeshInstance,
  nodePod,
  persistentVolumeClaim,
  PVC,
  RESTORED_PVC,
  restoredClaim,
  STORAGE_CLASS_PARAMETERS,
  VOLUME_SNAPSHOT,
  volumeSnapshot,
} from '../../hack/cluster/walkthrough.js';
import { ClusterApi, condition, type Obj, type Pod } from '../support/cluster-api.js';
import { eventually } from '../support/eventually.js';

const NAMESPACE = APP_NAMESPACE;
const MESSAGE = 'written through the Kmesh CSI driver';
const MINUTE = 60_000;

let state: ClusterState;
let api: ClusterApi;
/** Whether this test started the cluster (and so must stop it). */
let startedCluster = false;

const get = <T = Obj>(path: string): Promise<T> => api.get<T>(path);
const post = (path: string, body: object): Promise<unknown> => api.post(path, body);
const del = (path: string): Promise<unknown> => api.del(path);
const exists = (path: string): Promise<boolean> => api.exists(path);
const ns = (resource: string, name = ''): string => api.ns(resource, name);
const kmesh = (resource: string, name = ''): string => api.kmesh(resource, name);
const podLog = (name: string): Promise<string> => api.podLog(name);
const waitPodRunning = (name: string, timeoutMs?: number): Promise<Pod> => api.waitPodRunning(name, timeoutMs);

beforeAll(async () => {
  // The test installs, upgrades and uninstalls the release and owns its namespaces: it never runs
  // on a cluster someone else started (`npm run cluster:up`, the demo), which it would disturb.
  const running = readClusterState();
  if (isClusterUp(running))
    throw new Error(
      `a cluster is already running at ${running.root}; stop it with \`npm run cluster:down\` (the end-to-end test starts its own)`,
    );
  startedCluster = true;
  state = await startCluster({ log: (line) => process.stdout.write(`[cluster] ${line}\n`) });
  api = new ClusterApi(state, NAMESPACE);
  await installSnapshotController(api.client);
}, 30 * MINUTE);

afterAll(async () => {
  api?.close();
  if (startedCluster) await stopCluster();
}, 5 * MINUTE);

describe('Kmesh installed with helm on a real single-node cluster', () => {
  it(
    'helm install brings every component up',
    async () => {
      await installChart(state, clusterValues(state, STORAGE_CLASS_PARAMETERS));
      // The sidecars exit (and restart) if the driver's socket is not there within their timeout, as
      // upstream ones do; on a cold, busy node that can happen after helm saw the pods ready once.
      const pods = await eventually(
        async () => {
          const list = await get<{ items: Pod[] }>(`/api/v1/namespaces/${RELEASE_NAMESPACE}/pods`);
          const notReady = list.items
            .filter((pod) => !pod.status?.containerStatuses?.every((c) => c.ready))
            .map((pod) => pod.metadata.name);
          expect(notReady).toEqual([]);
          return list;
        },
        2 * MINUTE,
        1000,
      );
      const components = pods.items.map((p) => p.metadata.labels?.['app.kubernetes.io/component']).sort();
      expect(components).toEqual(['csi-controller', 'csi-node', 'operator', 'operator']);
      // The node plugin registered itself with the kubelet; the kubelet's CSINode update may trail the ready pod.
      await eventually(
        async () => {
          const csiNode = await get<{ spec: { drivers: Array<{ name: string }> | null } }>(
            `/apis/storage.k8s.io/v1/csinodes/${state.nodeName}`,
          );
          expect((csiNode.spec.drivers ?? []).map((d) => d.name)).toContain('csi.kmesh.io');
        },
        MINUTE,
        1000,
      );
      // One operator leads (its identity is its pod's name and a process suffix).
      const lease = await eventually(
        async () => {
          const found = await get<{ spec: { holderIdentity?: string } }>(
            `/apis/coordination.k8s.io/v1/namespaces/${RELEASE_NAMESPACE}/leases/kmesh-operator`,
          );
          expect(found.spec.holderIdentity).toBeTruthy();
          return found;
        },
        MINUTE,
        1000,
      );
      const operators = pods.items
        .filter((p) => p.metadata.labels?.['app.kubernetes.io/component'] === 'operator')
        .map((p) => p.metadata.name);
      expect(operators.filter((name) => lease.spec.holderIdentity!.startsWith(`${name}-`))).toHaveLength(1);
    },
    10 * MINUTE,
  );

  it(
    'serves a PVC to two pods through a DataFlow on a local instance',
    async () => {
      await post('/api/v1/namespaces', { metadata: { name: NAMESPACE } });
      await post(kmesh('kmeshinstances'), kmeshInstance(state));
      await post(kmesh('dataflows'), dataFlow());
      await eventually(
        async () => expect(condition(await get(kmesh('kmeshinstances', INSTANCE)), 'Ready')?.status).toBe('True'),
        3 * MINUTE,
        1000,
      );
      await post(ns('persistentvolumeclaims'), persistentVolumeClaim());
      await post(
        ns('pods'),
        nodePod(
          'writer',
          `const fs = require('fs'); fs.writeFileSync('/data/hello.txt', ${JSON.stringify(MESSAGE)}); console.log('read back: ' + fs.readFileSync('/data/hello.txt', 'utf8'))`,
        ),
      );
      await waitPodRunning('writer');
      await eventually(async () => expect(await podLog('writer')).toContain(`read back: ${MESSAGE}`), MINUTE, 500);

      await post(
        ns('pods'),
        nodePod('reader', `console.log('reader sees: ' + require('fs').readFileSync('/data/hello.txt', 'utf8'))`),
      );
      await waitPodRunning('reader');
      await eventually(async () => expect(await podLog('reader')).toContain(`reader sees: ${MESSAGE}`), MINUTE, 500);

      const pvc = await get<{ spec: { volumeName: string } }>(ns('persistentvolumeclaims', PVC));
      expect(pvc.spec.volumeName).toBeTruthy();
      // The bytes are in the instance's directory on the node, under the DataFlow's access point.
      const onNode = join(
        localDataPath(state, INSTANCE),
        'dataflows',
        DATA_FLOW,
        'volumes',
        pvc.spec.volumeName,
        'hello.txt',
      );
      expect(existsSync(onNode)).toBe(true);
      await eventually(
        async () => expect((await get(kmesh('dataflows', DATA_FLOW))).status?.['activeMounts']).toBe(2),
        2 * MINUTE,
        1000,
      );
    },
    10 * MINUTE,
  );

  it(
    'a VolumeSnapshot of the PVC creates a Kmesh Snapshot of its DataFlow, taken by the operator',
    async () => {
      await post(`/apis/snapshot.storage.k8s.io/v1/namespaces/${NAMESPACE}/volumesnapshots`, volumeSnapshot());
      const created = await eventually(
        async () => {
          const list = await get<{ items: Obj[] }>(kmesh('snapshots'));
          expect(list.items).toHaveLength(1);
          return list.items[0]!;
        },
        2 * MINUTE,
        1000,
      );
      expect(created.spec).toMatchObject({ dataFlowRef: { name: DATA_FLOW } });
      const vs = await eventually(
        async () => {
          const found = await get<{ status?: { boundVolumeSnapshotContentName?: string; readyToUse?: boolean } }>(
            `/apis/snapshot.storage.k8s.io/v1/namespaces/${NAMESPACE}/volumesnapshots/${VOLUME_SNAPSHOT}`,
          );
          expect(found.status?.readyToUse).toBe(true);
          return found;
        },
        3 * MINUTE,
        1000,
      );
      const boundContent = await get<{ status?: { snapshotHandle?: string } }>(
        `/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/${vs.status!.boundVolumeSnapshotContentName!}`,
      );
      expect(boundContent.status?.snapshotHandle).toBe(`v1/${NAMESPACE}/${created.metadata.name}`);
      const snapshot = await get(kmesh('snapshots', created.metadata.name));
      expect(snapshot.status).toMatchObject({
        readyToUse: true,
        fileCount: 1,
        logicalBytes: MESSAGE.length,
        rootHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
      expect(condition(snapshot, 'Ready')?.reason).toBe('SnapshotTaken');
      // The files are kept on the node beside the DataFlow, by the Snapshot's UID.
      const pvc = await get<{ spec: { volumeName: string } }>(ns('persistentvolumeclaims', PVC));
      const kept = join(
        localDataPath(state, INSTANCE),
        '.kmesh',
        'snapshots',
        NAMESPACE,
        DATA_FLOW,
        snapshot.metadata.uid!,
        'tree',
        'volumes',
        pvc.spec.volumeName,
        'hello.txt',
      );
      expect(readFileSync(kept, 'utf8')).toBe(MESSAGE);
    },
    5 * MINUTE,
  );

  it(
    'a PVC from that VolumeSnapshot gets the snapshot’s content, as an independent copy',
    async () => {
      await post(ns('persistentvolumeclaims'), restoredClaim());
      await post(
        ns('pods'),
        nodePod(
          'restorer',
          `const fs = require('fs'); console.log('restored: ' + fs.readFileSync('/data/hello.txt', 'utf8')); fs.writeFileSync('/data/hello.txt', 'changed in the copy')`,
          RESTORED_PVC,
        ),
      );
      await waitPodRunning('restorer');
      await eventually(async () => expect(await podLog('restorer')).toContain(`restored: ${MESSAGE}`), MINUTE, 500);
      const copies = (await get<{ items: Obj[] }>(kmesh('virtualcopies'))).items;
      expect(copies).toHaveLength(1);
      const snapshot = (await get<{ items: Obj[] }>(kmesh('snapshots'))).items[0]!;
      expect(copies[0]!.status).toMatchObject({
        phase: 'Ready',
        base: { snapshot: snapshot.metadata.name, rootHash: snapshot.status!['rootHash'] },
      });
      // The copy's write did not reach the source volume.
      const read = await api.execNode(
        'writer',
        "process.stdout.write(require('fs').readFileSync('/data/hello.txt', 'utf8'))",
      );
      expect(read).toBe(MESSAGE);
    },
    10 * MINUTE,
  );

  it(
    'helm upgrade rolls the operator without disturbing mounted pods',
    async () => {
      const before = await get<Obj>(`/apis/apps/v1/namespaces/${RELEASE_NAMESPACE}/deployments/kmesh-operator`);
      const writer = await get<Pod>(ns('pods', 'writer'));
      const oldOperators = (
        await get<{ items: Pod[] }>(
          `/api/v1/namespaces/${RELEASE_NAMESPACE}/pods?labelSelector=app.kubernetes.io/component=operator`,
        )
      ).items.map((p) => p.metadata.name);

      await installChart(state, {
        ...clusterValues(state, STORAGE_CLASS_PARAMETERS),
        operator: { syncInterval: '5s' },
      });

      const after = await get<Obj & { spec: { template: { spec: { containers: Array<{ args: string[] }> } } } }>(
        `/apis/apps/v1/namespaces/${RELEASE_NAMESPACE}/deployments/kmesh-operator`,
      );
      expect(after.metadata.generation).toBeGreaterThan(before.metadata.generation!);
      expect(after.spec.template.spec.containers[0]!.args.join(' ')).toContain('5s');
      // helm --wait returns once the new pods are ready; the old ones may still be terminating.
      await eventually(
        async () => {
          const operators = (
            await get<{ items: Pod[] }>(
              `/api/v1/namespaces/${RELEASE_NAMESPACE}/pods?labelSelector=app.kubernetes.io/component=operator`,
            )
          ).items;
          expect(operators.map((p) => p.metadata.name).filter((n) => oldOperators.includes(n))).toEqual([]);
          expect(operators).toHaveLength(2);
        },
        2 * MINUTE,
        1000,
      );
      // The application pods were not touched, and their mount still serves the file.
      const writerAfter = await get<Pod>(ns('pods', 'writer'));
      expect(writerAfter.metadata.uid).toBe(writer.metadata.uid);
      expect(writerAfter.status?.containerStatuses?.[0]?.restartCount).toBe(0);
      const read = await api.execNode(
        'writer',
        "process.stdout.write(require('fs').readFileSync('/data/hello.txt', 'utf8'))",
      );
      expect(read).toBe(MESSAGE);
    },
    10 * MINUTE,
  );

  it(
    'deleting the pods and the PVC cleans up, and deleteAfterUse deletes the data',
    async () => {
      const pvc = await get<{ spec: { volumeName: string } }>(ns('persistentvolumeclaims', PVC));
      const copy = (await get<{ items: Obj[] }>(kmesh('virtualcopies'))).items[0]!;
      // The restored volume, and with it its VirtualCopy and the copy's files.
      await del(ns('pods', 'restorer'));
      await del(ns('persistentvolumeclaims', RESTORED_PVC));
      await eventually(
        async () => expect((await get<{ items: Obj[] }>(kmesh('virtualcopies'))).items).toEqual([]),
        3 * MINUTE,
        1000,
      );
      expect(existsSync(join(localDataPath(state, INSTANCE), 'virtualcopies', copy.metadata.name))).toBe(false);
      // A Snapshot holds the DataFlow's data (DeletionBlocked); it goes first, and its files with it.
      await del(`/apis/snapshot.storage.k8s.io/v1/namespaces/${NAMESPACE}/volumesnapshots/${VOLUME_SNAPSHOT}`);
      await eventually(
        async () => expect((await get<{ items: Obj[] }>(kmesh('snapshots'))).items).toEqual([]),
        2 * MINUTE,
        1000,
      );
      expect(readdirSync(join(localDataPath(state, INSTANCE), '.kmesh', 'snapshots', NAMESPACE, DATA_FLOW))).toEqual(
        [],
      );
      await del(ns('pods', 'writer'));
      await del(ns('pods', 'reader'));
      await del(ns('persistentvolumeclaims', PVC));
      await eventually(
        async () => expect(await exists(`/api/v1/persistentvolumes/${pvc.spec.volumeName}`)).toBe(false),
        3 * MINUTE,
        1000,
      );
      // Nothing is mounted for the pods any more.
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter((line) => line.includes(pvc.spec.volumeName));
      expect(mounts).toEqual([]);
      const dataFlow = await eventually(
        async () => {
          const flow = await get(kmesh('dataflows', DATA_FLOW));
          expect(flow.status?.['activeMounts']).toBe(0);
          expect(condition(flow, 'DataDeleted')?.status).toBe('True');
          return flow;
        },
        3 * MINUTE,
        1000,
      );
      expect(condition(dataFlow, 'DataDeleted')?.message ?? '').not.toBe('');
      const accessPoint = join(localDataPath(state, INSTANCE), 'dataflows', DATA_FLOW);
      expect(existsSync(accessPoint) ? readdirSync(accessPoint) : []).toEqual([]);
    },
    10 * MINUTE,
  );

  it(
    'helm uninstall leaves no Kmesh object behind',
    async () => {
      // Kmesh objects first, while the operator runs to finish them (their finalizers are its).
      await del(kmesh('dataflows', DATA_FLOW));
      await del(kmesh('kmeshinstances', INSTANCE));
      await eventually(
        async () => {
          expect(await exists(kmesh('dataflows', DATA_FLOW))).toBe(false);
          expect(await exists(kmesh('kmeshinstances', INSTANCE))).toBe(false);
        },
        3 * MINUTE,
        1000,
      );

      await helm(state, ['uninstall', RELEASE, '--namespace', RELEASE_NAMESPACE, '--wait', '--timeout', '3m']);
      const selector = `labelSelector=app.kubernetes.io/instance=${RELEASE}`;
      for (const path of [
        `/apis/apps/v1/namespaces/${RELEASE_NAMESPACE}/deployments`,
        `/apis/apps/v1/namespaces/${RELEASE_NAMESPACE}/daemonsets`,
        `/api/v1/namespaces/${RELEASE_NAMESPACE}/serviceaccounts`,
        `/api/v1/namespaces/${RELEASE_NAMESPACE}/configmaps`,
        '/apis/rbac.authorization.k8s.io/v1/clusterroles',
        '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
        '/apis/storage.k8s.io/v1/csidrivers',
        '/apis/storage.k8s.io/v1/storageclasses',
        '/apis/snapshot.storage.k8s.io/v1/volumesnapshotclasses',
      ]) {
        expect({
          path,
          items: (await get<{ items: Obj[] }>(`${path}?${selector}`)).items.map((o) => o.metadata.name),
        }).toEqual({ path, items: [] });
      }
      await eventually(
        async () =>
          expect((await get<{ items: Pod[] }>(`/api/v1/namespaces/${RELEASE_NAMESPACE}/pods`)).items).toEqual([]),
        2 * MINUTE,
        1000,
      );
      // Only the workloads' own state is left in the namespace (the leader Lease, publication reports):
      // deleting the namespace removes it, as the README says.
      await del(`/api/v1/namespaces/${RELEASE_NAMESPACE}`);
      await eventually(
        async () => expect(await exists(`/api/v1/namespaces/${RELEASE_NAMESPACE}`)).toBe(false),
        2 * MINUTE,
        1000,
      );
    },
    10 * MINUTE,
  );
});
