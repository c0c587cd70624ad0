/**
 * Where a DataFlow's files, sync state and key sit inside the pods that serve it (its worker and
 * its instance's gateway), so both controllers render the same paths.
 */
import type { DataFlow } from '../../../api/v1alpha1/index.js';

/** The instance's filesystem root inside worker and gateway pods. */
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
  return `${DATA_MOUNT_PATH}/.kmesh/${role}/${dataFlow.metadata.namespace}/${dataFlow.metadata.name}`;
}

export function keyFileName(dataFlow: DataFlow): string {
  return `${dataFlow.metadata.namespace}_${dataFlow.metadata.name}`;
}

/** The Secret volume projection that puts the DataFlow's key at KEYS_MOUNT_PATH/<keyFileName>. */
export function keyProjection(dataFlow: DataFlow): Record<string, unknown> | undefined {
  const encryption = dataFlow.spec.policy?.encryption;
  if (!encryption || (encryption.algorithm ?? 'none') === 'none' || !encryption.keySecretRef) return undefined;
  return { secret: { name: encryption.keySecretRef.name, items: [{ key: encryption.keySecretRef.key ?? 'key', path: keyFileName(dataFlow) }] } };
}

/** The encryption section of a worker or gateway config for this DataFlow. */
export function encryptionConfig(dataFlow: DataFlow): Record<string, string> {
  const algorithm = dataFlow.spec.policy?.encryption?.algorithm ?? 'none';
  return algorithm === 'none' ? { algorithm } : { algorithm, keyFile: `${KEYS_MOUNT_PATH}/${keyFileName(dataFlow)}` };
}
