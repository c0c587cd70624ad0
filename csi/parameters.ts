/**
 * StorageClass parameters of csi.kmesh.io, parsed and checked. A class either binds every volume
 * to an existing DataFlow (`dataFlow`), or is a DataFlow template: CreateVolume creates one
 * DataFlow per volume with the template's policy. Unknown keys are an error that names them; the
 * `csi.storage.k8s.io/*` keys the external-provisioner adds are accepted.
 */
import { COMPRESSION } from '../api/v1alpha1/common.js';
import { DATA_FLOW_MODES, ENCRYPTION_ALGORITHMS } from '../api/v1alpha1/data-flow.js';
import { isDnsLabel, type DataFlowSpec } from '../api/v1alpha1/index.js';
import { parse as parseYaml } from 'yaml';
import { invalidArgument } from '../lib/errors.js';

/** Keys the external-provisioner sets with --extra-create-metadata. */
export const PVC_NAMESPACE_KEY = 'csi.storage.k8s.io/pvc/namespace';
const PROVISIONER_PREFIX = 'csi.storage.k8s.io/';

export interface VolumeParameters {
  /** Where the DataFlow lives: the PVC's namespace, or the `namespace` parameter (GetCapacity may not know it). */
  namespace?: string;
  /** The KmeshInstance; when unset, CreateVolume picks the one whose location matches the requested topology. */
  instance?: string;
  /** Bind to this existing DataFlow (template keys are then refused). */
  dataFlow?: string;
  /** shared: every volume is the DataFlow's root; perVolume: each volume is its own sub-directory. */
  accessPoint: 'shared' | 'perVolume';
  /** Policy for a DataFlow created per volume. */
  policy: NonNullable<DataFlowSpec['policy']>;
  mode?: DataFlowSpec['mode'];
  /** Peers of a DataFlow created per volume (the API server checks each against the DataFlow schema). */
  peers?: NonNullable<DataFlowSpec['peers']>;
}

/** Template keys and how each sets the created DataFlow. */
const TEMPLATE_KEYS = [
  'peers',
  'mode',
  'compression',
  'encryption',
  'encryptionKeySecret',
  'dedup',
  'deleteAfterUse',
] as const;
const KNOWN_KEYS = new Set<string>(['instance', 'namespace', 'dataFlow', 'accessPoint', ...TEMPLATE_KEYS]);

function oneOf<T extends string>(key: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value))
    throw invalidArgument(`parameter ${key}: "${value}" is not one of ${allowed.join(', ')}`);
  return value as T;
}

function bool(key: string, value: string): boolean {
  return oneOf(key, value, ['true', 'false']) === 'true';
}

function name(key: string, value: string): string {
  if (!isDnsLabel(value))
    throw invalidArgument(`parameter ${key}: "${value}" is not a valid object name (a DNS label)`);
  return value;
}

export function parseParameters(parameters: Record<string, string>): VolumeParameters {
  const unknown = Object.keys(parameters).filter((key) => !KNOWN_KEYS.has(key) && !key.startsWith(PROVISIONER_PREFIX));
  if (unknown.length)
    throw invalidArgument(
      `unknown StorageClass parameter${unknown.length > 1 ? 's' : ''} ${unknown.sort().join(', ')}; known: ${[...KNOWN_KEYS].join(', ')}`,
    );
  const namespaceValue = parameters[PVC_NAMESPACE_KEY] ?? parameters['namespace'];
  const result: VolumeParameters = {
    ...(namespaceValue !== undefined ? { namespace: name('namespace', namespaceValue) } : {}),
    ...(parameters['instance'] !== undefined ? { instance: name('instance', parameters['instance']) } : {}),
    accessPoint: oneOf('accessPoint', parameters['accessPoint'] ?? 'perVolume', ['shared', 'perVolume']),
    policy: {},
  };
  if (parameters['dataFlow'] !== undefined) {
    if (!result.instance)
      throw invalidArgument('parameter dataFlow needs instance (the KmeshInstance the DataFlow lives on)');
    result.dataFlow = name('dataFlow', parameters['dataFlow']);
    const template = TEMPLATE_KEYS.filter((key) => key in parameters);
    if (template.length)
      throw invalidArgument(
        `parameters ${template.join(', ')} set a new DataFlow's policy and cannot be combined with dataFlow (an existing DataFlow keeps its own)`,
      );
    return result;
  }
  if (parameters['mode'] !== undefined) result.mode = oneOf('mode', parameters['mode'], DATA_FLOW_MODES);
  if (parameters['compression'] !== undefined)
    result.policy.compression = oneOf('compression', parameters['compression'], COMPRESSION);
  if (parameters['dedup'] !== undefined) result.policy.dedup = bool('dedup', parameters['dedup']);
  if (parameters['deleteAfterUse'] !== undefined)
    result.policy.deleteAfterUse = bool('deleteAfterUse', parameters['deleteAfterUse']);
  if (parameters['encryption'] !== undefined) {
    const algorithm = oneOf('encryption', parameters['encryption'], ENCRYPTION_ALGORITHMS);
    const secret = parameters['encryptionKeySecret'];
    if (algorithm !== 'none' && !secret)
      throw invalidArgument(`parameter encryption ${algorithm} needs encryptionKeySecret (the Secret holding the key)`);
    result.policy.encryption = {
      algorithm,
      ...(secret ? { keySecretRef: { name: name('encryptionKeySecret', secret) } } : {}),
    };
  } else if (parameters['encryptionKeySecret'] !== undefined) {
    throw invalidArgument('parameter encryptionKeySecret needs encryption (an algorithm such as aes-256-gcm)');
  }
  if (parameters['peers'] !== undefined) result.peers = peersOf(parameters['peers']);
  if (result.mode && result.mode !== 'async' && !result.peers?.length)
    throw invalidArgument(
      `parameter mode ${result.mode} needs peers: a DataFlow with no other site has nothing to keep in step`,
    );
  return result;
}

/**
 * `peers`: a YAML (or JSON) list of DataFlow peers, as in DataFlow spec.peers, e.g.
 * `- {name: azure-west, endpoint: "gw.azure-west.example.com:7443", tlsSecretRef: {name: peer-tls}}`.
 * Checked here for shape; the API server checks each field against the DataFlow schema.
 */
function peersOf(value: string): NonNullable<DataFlowSpec['peers']> {
  let peers: unknown;
  try {
    peers = parseYaml(value);
  } catch (error) {
    throw invalidArgument(`parameter peers is not YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!Array.isArray(peers))
    throw invalidArgument('parameter peers must be a list of peers (name, endpoint, tlsSecretRef, ...)');
  peers.forEach((peer: unknown, i) => {
    if (typeof peer !== 'object' || peer === null || Array.isArray(peer))
      throw invalidArgument(`parameter peers[${i}] must be a mapping`);
    for (const field of ['name', 'endpoint']) {
      if (typeof (peer as Record<string, unknown>)[field] !== 'string')
        throw invalidArgument(`parameter peers[${i}].${field} is required`);
    }
    if (typeof (peer as { tlsSecretRef?: { name?: unknown } }).tlsSecretRef?.name !== 'string')
      throw invalidArgument(`parameter peers[${i}].tlsSecretRef.name is required`);
  });
  return peers as NonNullable<DataFlowSpec['peers']>;
}

/** The namespace CreateVolume and CreateSnapshot work in; without one they cannot place anything. */
export function namespaceOf(parameters: VolumeParameters): string {
  if (!parameters.namespace)
    throw invalidArgument(
      `parameter namespace is required when the provisioner does not pass ${PVC_NAMESPACE_KEY} (run it with --extra-create-metadata)`,
    );
  return parameters.namespace;
}
