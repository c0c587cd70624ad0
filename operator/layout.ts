/**
 * Where an instance's filesystem, a DataFlow's files, sync state and key, and snapshots and copies
 * sit inside the Kmesh pods (sync worker, gateway, snapshot and copy task pods), so every
 * controller renders the same paths.
 */
import type { EncryptionDocument } from '../api/sync-config/fields.js';
import { DEFAULT_ENCRYPTION_ALGORITHM } from '../api/v1alpha1/data-flow.js';
import {
  STATE_PATH,
  type DataFlow,
  type KmeshInstance,
  type Snapshot,
  type VirtualCopy,
} from '../api/v1alpha1/index.js';

/** The instance's filesystem root inside every Kmesh pod that mounts it. */
export const DATA_MOUNT_PATH = '/kmesh/data';
/** Encryption keys: one file per DataFlow, `<namespace>_<name>`. */
export const KEYS_MOUNT_PATH = '/etc/kmesh/keys';

/** The access point inside the filesystem (spec.path, default /dataflows/<name>). */
export function accessPointPath(dataFlow: DataFlow): string {
  return dataFlow.spec.path ?? `/dataflows/${dataFlow.metadata.name}`;
}

export function treeDir(dataFlow: DataFlow): string {
  return `${DATA_MOUNT_PATH}${accessPointPath(dataFlow)}`;
}

/** Sync state (index, packs, journal, quarantine) lives on the same filesystem, outside the tree. */
export function stateDir(dataFlow: DataFlow, role: 'worker' | 'gateway'): string {
  return `${DATA_MOUNT_PATH}${STATE_PATH}/${role}/${dataFlow.metadata.namespace}/${dataFlow.metadata.name}`;
}

export function keyFileName(dataFlow: DataFlow): string {
  return `${dataFlow.metadata.namespace}_${dataFlow.metadata.name}`;
}

/** The Secret volume projection that puts the DataFlow's key at KEYS_MOUNT_PATH/<keyFileName>. */
export function keyProjection(dataFlow: DataFlow): Record<string, unknown> | undefined {
  const encryption = dataFlow.spec.policy?.encryption;
  if (!encryption || (encryption.algorithm ?? DEFAULT_ENCRYPTION_ALGORITHM) === 'none' || !encryption.keySecretRef)
    return undefined;
  return {
    secret: {
      name: encryption.keySecretRef.name,
      items: [{ key: encryption.keySecretRef.key ?? 'key', path: keyFileName(dataFlow) }],
    },
  };
}

/** The encryption section of a worker or gateway config for this DataFlow (api/sync-config/). */
export function encryptionConfig(dataFlow: DataFlow): EncryptionDocument {
  const algorithm = dataFlow.spec.policy?.encryption?.algorithm ?? DEFAULT_ENCRYPTION_ALGORITHM;
  return algorithm === 'none' ? { algorithm } : { algorithm, keyFile: `${KEYS_MOUNT_PATH}/${keyFileName(dataFlow)}` };
}

/**
 * A Snapshot's files and manifest (sync/snapshots/store.ts), beside the DataFlow's other snapshots.
 * Named by UID, so a Snapshot re-created under an old name never meets a retained one.
 */
export function snapshotDir(snapshot: Snapshot): string {
  return `${DATA_MOUNT_PATH}${STATE_PATH}/snapshots/${snapshot.metadata.namespace}/${snapshot.spec.dataFlowRef.name}/${snapshot.metadata.uid}`;
}

/** A VirtualCopy's access point inside the filesystem (spec.path, default /virtualcopies/<name>). */
export function copyAccessPointPath(copy: VirtualCopy): string {
  return copy.spec.path ?? `/virtualcopies/${copy.metadata.name}`;
}

/** What a client mounts to reach `path` of the instance's filesystem; undefined until the instance knows. */
export function mountSourceOf(instance: KmeshInstance, path: string): string | undefined {
  const base =
    (instance.spec.backend.type ?? 'local') === 'local'
      ? instance.spec.backend.local?.path
      : instance.status?.mountSource;
  return base ? `${base.replace(/\/$/, '')}${path}` : undefined;
}
