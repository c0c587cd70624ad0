/**
 * The objects a user creates to use Kmesh on the single-node cluster, as the end-to-end test and
 * the demo both create them: a local-backend KmeshInstance on the node, a DataFlow that deletes its
 * data once no volume uses it, a PVC of the chart's StorageClass bound to that DataFlow, pods that
 * run a Node.js script on the volume (the Kmesh image has Node.js), a VolumeSnapshot, and a PVC
 * restored from it.
 */
import { imageRef } from '../images/images.js';
import type { ClusterState } from './cluster.js';
import { COPY_STORAGE_CLASS, localDataPath, SNAPSHOT_CLASS, STORAGE_CLASS } from './kmesh-release.js';

export const APP_NAMESPACE = 'e2e-apps';
export const INSTANCE = 'e2e';
export const DATA_FLOW = 'shared-data';
export const PVC = 'data';
export const VOLUME_SNAPSHOT = 'data-snap';
export const RESTORED_PVC = 'data-restored';

/** The chart's StorageClass parameters: every volume gets a directory of this DataFlow. */
export const STORAGE_CLASS_PARAMETERS = { instance: INSTANCE, dataFlow: DATA_FLOW };

export function kmeshInstance(state: ClusterState): object {
  return {
    apiVersion: 'kmesh.io/v1alpha1',
    kind: 'KmeshInstance',
    metadata: { name: INSTANCE, namespace: APP_NAMESPACE },
    spec: {
      location: { cloud: 'onprem', ...state.site.location },
      backend: { type: 'local', local: { path: localDataPath(state, INSTANCE) } },
    },
  };
}

export function dataFlow(): object {
  return {
    apiVersion: 'kmesh.io/v1alpha1',
    kind: 'DataFlow',
    metadata: { name: DATA_FLOW, namespace: APP_NAMESPACE },
    spec: { instanceRef: { name: INSTANCE }, policy: { deleteAfterUse: true } },
  };
}

/** A PVC of the chart's StorageClass (by default the walkthrough's). */
export function persistentVolumeClaim(name = PVC, namespace = APP_NAMESPACE): object {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace },
    spec: {
      storageClassName: STORAGE_CLASS,
      accessModes: ['ReadWriteMany'],
      resources: { requests: { storage: '1Gi' } },
    },
  };
}

/**
 * A PVC with the VolumeSnapshot's content: the CSI driver makes it a VirtualCopy of the Kmesh
 * Snapshot. Its class has no `dataFlow` (a restored volume is a copy of its own, not a directory of
 * the shared DataFlow).
 */
export function restoredClaim(): object {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: RESTORED_PVC, namespace: APP_NAMESPACE },
    spec: {
      storageClassName: COPY_STORAGE_CLASS,
      dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: VOLUME_SNAPSHOT },
      accessModes: ['ReadWriteMany'],
      resources: { requests: { storage: '1Gi' } },
    },
  };
}

/** A pod that runs `script` with Node.js on the PVC `claim` at /data, then idles. Root: the volume's directory is root's. */
export function nodePod(name: string, script: string, claim = PVC, namespace = APP_NAMESPACE): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'app',
          image: imageRef('kmesh'),
          imagePullPolicy: 'Never',
          command: ['node', '-e', `${script}; setInterval(() => {}, 1 << 30)`],
          securityContext: { runAsUser: 0 },
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
      ],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim } }],
    },
  };
}

export function volumeSnapshot(): object {
  return {
    apiVersion: 'snapshot.storage.k8s.io/v1',
    kind: 'VolumeSnapshot',
    metadata: { name: VOLUME_SNAPSHOT, namespace: APP_NAMESPACE },
    spec: { volumeSnapshotClassName: SNAPSHOT_CLASS, source: { persistentVolumeClaimName: PVC } },
  };
}
