/**
 * The sync worker of a DataFlow: a ConfigMap with its configuration (api/sync-config/worker.ts)
 * and a Deployment running `kmesh sync` with the instance's filesystem, the DataFlow's key and
 * each peer's TLS Secret mounted. A spec change changes the config hash on the pod template, which
 * restarts the worker; `suspend` (or a mode it cannot run) scales it to zero. Recreate, never two
 * workers at once: they would share one index.
 */
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import type {
  WorkerConfigDocument,
  WorkerPeerDocument,
  WorkerSourceDocument,
} from '../../../api/sync-config/worker.js';
import { DEFAULT_DATA_FLOW_MODE, DEFAULT_SOURCE_ACCESS } from '../../../api/v1alpha1/data-flow.js';
import { actedOnPeers, type DataFlow, type KmeshInstance } from '../../../api/v1alpha1/index.js';
import type { WireObject } from '../../../lib/kube/rest.js';
import type { FilesystemAccess } from '../../backends/backend.js';
import { filesystemPod } from '../../backends/pod.js';
import { childName, ownedBy } from '../../runtime/children.js';
import type { OperatorSettings } from '../../settings.js';
import { encryptionConfig, keyProjection, KEYS_MOUNT_PATH, stateDir, treeDir } from '../../layout.js';

export const CONFIG_MOUNT_PATH = '/etc/kmesh/sync';
export const PEERS_MOUNT_PATH = '/etc/kmesh/peers';
export const SOURCES_MOUNT_PATH = '/etc/kmesh/sources';
/** Where NFS and PVC sources are mounted in the worker (read-only unless written back). */
export const SOURCE_DATA_MOUNT_PATH = '/var/lib/kmesh/sources';

type Source = NonNullable<DataFlow['spec']['sources']>[number];

/** Sources this release ingests: every kind with `access: copy`; `cache` is reported as not supported. */
export const ingestedSources = (dataFlow: DataFlow) =>
  (dataFlow.spec.sources ?? []).filter((s) => (s.access ?? DEFAULT_SOURCE_ACCESS) === 'copy');

/** The pod volume of an NFS or PVC source (the worker reads it as a directory). */
function sourceVolume(source: Source): Record<string, unknown> | undefined {
  // Written as the API server stores it (no `readOnly: false`), so the applied spec compares equal.
  const readOnly = source.writeBack ? {} : { readOnly: true };
  if (source.nfs) return { nfs: { server: source.nfs.server, path: source.nfs.path, ...readOnly } };
  if (source.pvc) return { persistentVolumeClaim: { claimName: source.pvc.claimName, ...readOnly } };
  return undefined;
}

/** The credentials Secret a source names, if any. */
const credentialsOf = (source: Source) => (source.s3 ?? source.azureBlob)?.credentialsSecretRef;

export const CONFIG_HASH_ANNOTATION = 'kmesh.io/config-hash';

export const workerName = (dataFlow: DataFlow): string => childName(dataFlow.metadata.name!, 'sync');

/** Whether the worker should run: not suspended, and a mode this release syncs. */
export function workerReplicas(dataFlow: DataFlow): number {
  return dataFlow.spec.suspend || (dataFlow.spec.mode ?? DEFAULT_DATA_FLOW_MODE) !== 'async' ? 0 : 1;
}

/** `<namespace>/<name>` of a peer's DataFlow (remoteDataFlow may omit the namespace). */
export function remoteDataFlowOf(dataFlow: DataFlow, remote: string | undefined): string {
  if (!remote) return `${dataFlow.metadata.namespace}/${dataFlow.metadata.name}`;
  return remote.includes('/') ? remote : `${dataFlow.metadata.namespace}/${remote}`;
}

export interface WorkerInputs {
  dataFlow: DataFlow;
  instance: KmeshInstance;
  settings: OperatorSettings;
  /** deleteAfterUse: when the data was asked to go (RFC 3339), if it was. */
  purgeRequestedAt?: string;
}

/**
 * The worker's configuration document. Spec values pass through as the API server stored them
 * (defaults applied); what the spec leaves unset the worker defaults from the same constants.
 */
export function workerConfig({ dataFlow, instance, settings, purgeRequestedAt }: WorkerInputs): WorkerConfigDocument {
  const policy = dataFlow.spec.policy ?? {};
  return {
    dataFlow: `${dataFlow.metadata.namespace}/${dataFlow.metadata.name}`,
    site: instance.metadata.name!,
    mode: dataFlow.spec.mode,
    treeDir: treeDir(dataFlow),
    stateDir: stateDir(dataFlow, 'worker'),
    interval: settings.syncInterval,
    statusPort: settings.workerStatusPort,
    policy: {
      compression: policy.compression,
      encryption: encryptionConfig(dataFlow),
      parallelism: policy.parallelism,
      bandwidthLimit: policy.bandwidthLimit,
    },
    peers: actedOnPeers(dataFlow.spec).map((p): WorkerPeerDocument => ({
      name: p.name,
      endpoint: p.endpoint,
      remoteDataFlow: remoteDataFlowOf(dataFlow, p.remoteDataFlow),
      direction: p.direction,
      tlsDir: `${PEERS_MOUNT_PATH}/${p.name}`,
      ...(p.paths?.length ? { paths: p.paths } : {}),
    })),
    sources: ingestedSources(dataFlow).map((src): WorkerSourceDocument => {
      const credentialsDir = credentialsOf(src) ? `${SOURCES_MOUNT_PATH}/${src.name}` : undefined;
      const common = { name: src.name, schedule: src.ingest?.schedule, writeBack: src.writeBack };
      if (src.s3) {
        const { bucket, endpoint, prefix, region, forcePathStyle } = src.s3;
        return { ...common, s3: { bucket, endpoint, prefix, region, forcePathStyle, credentialsDir } };
      }
      if (src.azureBlob) {
        const { container, endpoint, account, prefix } = src.azureBlob;
        return { ...common, azureBlob: { container, endpoint, account, prefix, credentialsDir } };
      }
      return { ...common, posix: { dir: `${SOURCE_DATA_MOUNT_PATH}/${src.name}` } };
    }),
    purgeRequestedAt,
  };
}

/** The document as the worker reads it (unset fields left out). */
export const workerConfigYaml = (inputs: WorkerInputs): string => stringify(workerConfig(inputs));

export function workerConfigMap(inputs: WorkerInputs): WireObject {
  const owner = ownedBy(inputs.dataFlow, 'sync-worker');
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: workerName(inputs.dataFlow),
      namespace: inputs.dataFlow.metadata.namespace,
      labels: owner.labels,
      ownerReferences: owner.ownerReferences,
    },
    data: { 'config.yaml': workerConfigYaml(inputs) },
  };
}

export function workerSelector(dataFlow: DataFlow): Record<string, string> {
  return {
    'app.kubernetes.io/instance': dataFlow.metadata.name!,
    'app.kubernetes.io/component': 'sync-worker',
    'kmesh.io/owner-uid': dataFlow.metadata.uid!,
  };
}

export function workerDeployment(inputs: WorkerInputs, access: FilesystemAccess): WireObject {
  const { dataFlow, settings } = inputs;
  const owner = ownedBy(dataFlow, 'sync-worker');
  const selector = workerSelector(dataFlow);
  const configHash = createHash('sha256').update(workerConfigYaml(inputs)).digest('hex').slice(0, 16);
  const key = keyProjection(dataFlow);
  const peers = dataFlow.spec.peers ?? [];
  const credentials = ingestedSources(dataFlow).filter((src) => credentialsOf(src));
  const mounted = ingestedSources(dataFlow).filter((src) => sourceVolume(src));
  const shared = filesystemPod(access, settings);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: workerName(dataFlow),
      namespace: dataFlow.metadata.namespace,
      labels: owner.labels,
      ownerReferences: owner.ownerReferences,
    },
    spec: {
      replicas: workerReplicas(dataFlow),
      strategy: { type: 'Recreate' },
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: { ...owner.labels, ...selector }, annotations: { [CONFIG_HASH_ANNOTATION]: configHash } },
        spec: {
          ...shared.pod,
          containers: [
            {
              name: 'sync',
              image: settings.image,
              args: ['sync', '--config', `${CONFIG_MOUNT_PATH}/config.yaml`],
              ports: [{ name: 'status', containerPort: settings.workerStatusPort, protocol: 'TCP' }],
              readinessProbe: { httpGet: { path: '/readyz', port: 'status' }, periodSeconds: 10 },
              livenessProbe: { httpGet: { path: '/healthz', port: 'status' }, periodSeconds: 20, failureThreshold: 3 },
              ...shared.container,
              resources: inputs.instance.spec.workers?.resources ?? {
                requests: { cpu: '200m', memory: '256Mi' },
                limits: { memory: '2Gi' },
              },
              volumeMounts: [
                ...access.volumeMounts,
                { name: 'config', mountPath: CONFIG_MOUNT_PATH, readOnly: true },
                ...(key ? [{ name: 'key', mountPath: KEYS_MOUNT_PATH, readOnly: true }] : []),
                ...peers.map((p, i) => ({
                  name: `peer-${i}`,
                  mountPath: `${PEERS_MOUNT_PATH}/${p.name}`,
                  readOnly: true,
                })),
                ...credentials.map((src, i) => ({
                  name: `source-${i}`,
                  mountPath: `${SOURCES_MOUNT_PATH}/${src.name}`,
                  readOnly: true,
                })),
                ...mounted.map((src, i) => ({
                  name: `source-data-${i}`,
                  mountPath: `${SOURCE_DATA_MOUNT_PATH}/${src.name}`,
                  ...(src.writeBack ? {} : { readOnly: true }),
                })),
              ],
            },
          ],
          volumes: [
            ...access.volumes,
            { name: 'config', configMap: { name: workerName(dataFlow) } },
            ...(key ? [{ name: 'key', projected: { sources: [key], defaultMode: 0o440 } }] : []),
            ...peers.map((p, i) => ({
              name: `peer-${i}`,
              secret: { secretName: p.tlsSecretRef.name, defaultMode: 0o440 },
            })),
            ...credentials.map((src, i) => ({
              name: `source-${i}`,
              secret: { secretName: credentialsOf(src)!.name, defaultMode: 0o440 },
            })),
            ...mounted.map((src, i) => ({ name: `source-data-${i}`, ...sourceVolume(src) })),
          ],
        },
      },
    },
  };
}
