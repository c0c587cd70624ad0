/**
 * `npm run demo`: the end-to-end flow as a guided tour, on the local single-node cluster (needs
 * root): the cluster comes up (or is reused), Kmesh is installed with `helm install`, then a
 * KmeshInstance, a DataFlow, a PVC and two pods sharing it, a VolumeSnapshot and a PVC restored
 * from it; each step prints
 * what a platform engineer would look at. Everything stays for exploring; the last step says how to
 * remove it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { kubeconfigCredentials } from '../lib/kube/kubeconfig.js';
import { KubeApiError, KubeClient } from '../lib/kube/rest.js';
import { RESOURCES } from '../lib/kube/resources.js';
import { applyObjects } from '../lib/kube/apply.js';
import type { KubeObject } from '../api/meta.js';
import { startCluster } from './cluster/cluster.js';
import { show as showIn, step, until } from './tour.js';
import { describeCluster } from './cluster/describe.js';
import { clusterValues, installChart, kubectl, RELEASE, RELEASE_NAMESPACE } from './cluster/kmesh-release.js';
import { installSnapshotController } from './cluster/snapshot-controller.js';
import {
  APP_NAMESPACE,
  dataFlow,
  INSTANCE,
  kmeshInstance,
  nodePod,
  persistentVolumeClaim,
  RESTORED_PVC,
  restoredClaim,
  STORAGE_CLASS_PARAMETERS,
  VOLUME_SNAPSHOT,
  volumeSnapshot,
} from './cluster/walkthrough.js';

const FIELD_MANAGER = 'kmesh-demo';

const show = (...args: string[]): Promise<void> => showIn(state, ...args);

step(
  '1. A real single-node cluster',
  'etcd, kube-apiserver, controller-manager, scheduler, kubelet, kube-proxy, containerd + runc + a CNI bridge; images built with buildah, no registry.',
);
const state = await startCluster({ detached: true, log: (line) => console.log(`   ${line}`) });
console.log(describeCluster(state));
const client = new KubeClient(kubeconfigCredentials(state.kubeconfigPath));
const apply = (objects: object[]): Promise<unknown> => applyObjects(client, objects as KubeObject[], FIELD_MANAGER);

step(
  '2. helm install',
  `The chart in charts/kmesh, with values pointing at the local images (a real cluster uses the defaults). The snapshot CRDs and controller come first, as a distribution provides them.`,
);
await installSnapshotController(client);
await installChart(state, clusterValues(state, STORAGE_CLASS_PARAMETERS));
await show(
  'get',
  'pods,csidriver,storageclass,volumesnapshotclass',
  '-n',
  RELEASE_NAMESPACE,
  '-l',
  `app.kubernetes.io/instance=${RELEASE}`,
);

step(
  '3. A data node and a DataFlow',
  'A local-backend KmeshInstance (a directory on the node) and a DataFlow with deleteAfterUse.',
);
await apply([
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: APP_NAMESPACE } },
  kmeshInstance(state),
  dataFlow(),
]);
await until(
  'the instance to be Ready',
  async () =>
    (await client.get<{ status?: { phase?: string } } & KubeObject>(RESOURCES.kmeshInstance, APP_NAMESPACE, INSTANCE))
      ?.status?.phase === 'Ready',
);
await show('get', 'kmeshinstances,dataflows', '-n', APP_NAMESPACE);

step('4. Bad input is refused by name', 'The API server checks every field of a Kmesh object against its schema.');
try {
  await client.create(
    RESOURCES.dataFlow,
    {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'DataFlow',
      metadata: { name: 'broken', namespace: APP_NAMESPACE },
      spec: { instanceRef: { name: INSTANCE }, mode: 'sometimes' },
    },
    { dryRun: true },
  );
  console.log('unexpected: the invalid DataFlow was accepted');
  process.exitCode = 1;
} catch (error) {
  console.log(`rejected: ${error instanceof KubeApiError ? error.status?.message : String(error)}`);
}

step(
  '5. A PVC shared by two pods',
  'The provisioner creates a volume in the DataFlow; the node plugin bind-mounts it into each pod.',
);
await apply([
  persistentVolumeClaim(),
  nodePod(
    'writer',
    "require('fs').writeFileSync('/data/hello.txt', 'hello from the writer pod'); console.log('wrote /data/hello.txt')",
  ),
  nodePod(
    'reader',
    "setTimeout(() => console.log('reader sees: ' + require('fs').readFileSync('/data/hello.txt', 'utf8')), 3000)",
  ),
]);
const podRunning = (name: string) => async (): Promise<boolean> =>
  (await client.get<{ status?: { phase?: string } } & KubeObject>(RESOURCES.pod, APP_NAMESPACE, name))?.status
    ?.phase === 'Running';
await until('the writer to run', podRunning('writer'));
await until('the reader to run', podRunning('reader'));
await sleep(4000);
await show('get', 'pvc,pods', '-n', APP_NAMESPACE);
await show('logs', '-n', APP_NAMESPACE, 'reader');
await until(
  'activeMounts to count both pods',
  async () =>
    (await kubectl(
      state,
      'get',
      'dataflow',
      'shared-data',
      '-n',
      APP_NAMESPACE,
      '-o',
      'jsonpath={.status.activeMounts}',
    )) === '2',
);
await show('get', 'dataflow', 'shared-data', '-n', APP_NAMESPACE);

step(
  '6. A VolumeSnapshot',
  'The CSI snapshotter asks the driver, which records a Kmesh Snapshot of the DataFlow. The operator takes it in a one-shot pod: the files are kept beside the DataFlow (unchanged ones shared with the previous snapshot) with their merkle root.',
);
await apply([volumeSnapshot()]);
await until(
  'the VolumeSnapshot to be ready to use',
  async () =>
    (await kubectl(
      state,
      'get',
      'volumesnapshot',
      VOLUME_SNAPSHOT,
      '-n',
      APP_NAMESPACE,
      '-o',
      'jsonpath={.status.readyToUse}',
    )) === 'true',
);
await show('get', 'volumesnapshot,snapshots.kmesh.io', '-n', APP_NAMESPACE, '-o', 'wide');

step(
  '7. A PVC restored from the VolumeSnapshot',
  "The driver makes the new volume a VirtualCopy of the Kmesh Snapshot; the operator copies the files and checks the copy has the snapshot's root before the node plugin mounts it. The copy is writable and independent.",
);
await apply([
  restoredClaim(),
  nodePod(
    'restorer',
    "console.log('restored volume has: ' + require('fs').readFileSync('/data/hello.txt', 'utf8'))",
    RESTORED_PVC,
  ),
]);
await until('the restorer to run', podRunning('restorer'));
await sleep(2000);
await show('get', 'pvc,virtualcopies', '-n', APP_NAMESPACE);
await show('logs', '-n', APP_NAMESPACE, 'restorer');
client.close();

step(
  'Done',
  [
    'Everything keeps running. Explore it with:',
    `  export KUBECONFIG=${state.kubeconfigPath}`,
    '  hack/bin/kubectl get kmesh -A',
    'Remove Kmesh: delete the Kmesh objects first (the operator finishes them), then uninstall:',
    `  hack/bin/kubectl delete namespace ${APP_NAMESPACE}`,
    `  hack/bin/helm uninstall ${RELEASE} -n ${RELEASE_NAMESPACE}`,
    'Stop the cluster: npm run cluster:down',
  ].join('\n'),
);
