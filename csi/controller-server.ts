/**
 * The CSI Controller service: provisions volumes by StorageClass policy (see parameters.ts).
 *
 * Every volume has a record: a ConfigMap `kmesh-volume-<key>` in the volume's namespace, where the
 * key is a hash of the volume's name, holding the request it was created for. CreateVolume is
 * idempotent by name through it (a same-name request that differs gets ALREADY_EXISTS), and
 * DeleteVolume finds from it what to remove: every volume ID carries the volume's name or key, so
 * the record is found with a GET (a list would wait for the API server's cache to catch up).
 * The record is written before anything else and removed last, so a crash in between leaves a
 * record that the CO's retry completes or deletes.
 */
import { createHash } from 'node:crypto';
import type { DataFlow } from '../api/v1alpha1/index.js';
import { alreadyExists, invalidArgument, notFound, outOfRange } from '../lib/errors.js';
import { RESOURCES } from '../lib/kube/resources.js';
import { isConflictError, type KubeClient, type WireObject } from '../lib/kube/rest.js';
import { checkCapability, type VolumeCapability } from './capabilities.js';
import { parseParameters, type VolumeParameters } from './parameters.js';
import type { Handler } from './server.js';
import { VolumeLocks } from './volume-locks.js';
import { formatVolumeId, InvalidVolumeId, parseVolumeId, type VolumeRef } from './volume-id.js';

const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'kmesh-csi' };
const MAX_VOLUME_NAME_BYTES = 128;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A volume's key: 20 hex digits of the SHA-256 of its name. */
const keyOf = (name: string): string => createHash('sha256').update(name).digest('hex').slice(0, 20);
const recordName = (key: string): string => `kmesh-volume-${key}`;

/** Record keys a volume ID may lead to: from its tag, or the name (or key) in its last segment. */
function recordKeysOf(ref: VolumeRef): string[] {
  if (ref.tag) return [ref.tag];
  const last = ref.subPath ? ref.subPath.split('/').pop()! : ref.dataFlow;
  const embedded = /^(?:kmv|v)-([a-f0-9]{20})$/.exec(last)?.[1];
  return embedded ? [keyOf(last), embedded] : [keyOf(last)];
}

type Request = Record<string, unknown>;
type VolumeRecord = WireObject & { data?: Record<string, string> };

/** What a volume was created for; compared on a repeated CreateVolume. */
interface VolumeRequest {
  requiredBytes: number;
  limitBytes: number;
  parameters: Record<string, string>;
}

/** A request as stored and compared: parameters sorted, since a CO may send map entries in any order. */
const serialize = (request: VolumeRequest): string =>
  JSON.stringify({ ...request, parameters: Object.fromEntries(Object.entries(request.parameters).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) });

/** The DataFlow (or the directory in one) a volume stands for. */
interface Placement {
  volumeId: string;
  dataFlow: string;
  /** The volume created this DataFlow, and DeleteVolume removes it. */
  ownsDataFlow: boolean;
}

export class ControllerServer {
  private readonly locks = new VolumeLocks();

  constructor(private readonly client: KubeClient) {}

  handlers(): Record<string, Handler> {
    return {
      ControllerGetCapabilities: () => Promise.resolve({ capabilities: [{ rpc: { type: 'CREATE_DELETE_VOLUME' } }] }),
      CreateVolume: (request) => this.create(request),
      DeleteVolume: (request) => this.delete(request),
      ValidateVolumeCapabilities: (request) => this.validate(request),
    };
  }



  private async create(request: Request): Promise<Request> {
    const name = request['name'];
    if (typeof name !== 'string' || !name) throw invalidArgument('name is required');
    if (Buffer.byteLength(name) > MAX_VOLUME_NAME_BYTES) throw invalidArgument(`name is longer than ${MAX_VOLUME_NAME_BYTES} bytes`);
    const capabilities = (request['volume_capabilities'] as VolumeCapability[] | undefined) ?? [];
    if (!capabilities.length) throw invalidArgument('volume_capabilities is required');
    capabilities.forEach((capability, i) => checkCapability(capability, `volume_capabilities[${i}]`));
    const source = request['volume_content_source'] as Record<string, unknown> | undefined;
    if (source && (source['snapshot'] || source['volume'])) throw invalidArgument('volume_content_source: creating from a snapshot or a volume is not supported yet');
    const range = (request['capacity_range'] as { required_bytes?: number; limit_bytes?: number } | undefined) ?? {};
    const requiredBytes = range.required_bytes ?? 0;
    const limitBytes = range.limit_bytes ?? 0;
    if (requiredBytes < 0 || limitBytes < 0) throw outOfRange('capacity_range must not be negative');
    if (limitBytes && requiredBytes > limitBytes) throw outOfRange(`capacity_range: required_bytes ${requiredBytes} exceeds limit_bytes ${limitBytes}`);
    const rawParameters = (request['parameters'] as Record<string, string> | undefined) ?? {};
    const parameters = parseParameters(rawParameters);
    const wanted: VolumeRequest = { requiredBytes, limitBytes, parameters: rawParameters };

    return this.locks.exclusive(name, async () => {
      const existing = await this.client.get<VolumeRecord>(RESOURCES.configMap, parameters.namespace, recordName(keyOf(name)));
      if (existing) {
        const had = JSON.parse(existing.data?.['request'] ?? '{}') as VolumeRequest;
        if (serialize(had) !== serialize(wanted)) throw alreadyExists(`volume ${name} exists with another capacity range or other parameters`);
        return this.response(existing.data!['volumeId']!, existing.data!['dataFlow']!, parameters);
      }
      const placement = await this.place(name, parameters);
      await this.client.create(RESOURCES.configMap, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: recordName(keyOf(name)), namespace: parameters.namespace, labels: MANAGED_BY },
        data: { volumeName: name, volumeId: placement.volumeId, dataFlow: placement.dataFlow, ownsDataFlow: String(placement.ownsDataFlow), request: serialize(wanted) },
      });
      if (placement.ownsDataFlow) {
        try {
          await this.createDataFlow(placement.dataFlow, name, parameters);
        } catch (error) {
          await this.client.delete(RESOURCES.configMap, parameters.namespace, recordName(keyOf(name))); // undo the record
          throw error;
        }
      }
      return this.response(placement.volumeId, placement.dataFlow, parameters);
    });
  }

  /** Where the volume goes: into an existing DataFlow, or a DataFlow of its own. */
  private async place(name: string, parameters: VolumeParameters): Promise<Placement> {
    if (parameters.dataFlow) {
      const dataFlow = await this.client.get<DataFlow>(RESOURCES.dataFlow, parameters.namespace, parameters.dataFlow);
      if (!dataFlow) throw invalidArgument(`parameter dataFlow: DataFlow ${parameters.namespace}/${parameters.dataFlow} does not exist`);
      if (dataFlow.spec.instanceRef.name !== parameters.instance) {
        throw invalidArgument(`parameter instance ${parameters.instance} does not match DataFlow ${parameters.dataFlow}, which lives on ${dataFlow.spec.instanceRef.name}`);
      }
      // Shared volumes are the DataFlow's root; the tag keeps their IDs apart.
      const at = parameters.accessPoint === 'shared' ? { subPath: '', tag: keyOf(name) } : { subPath: `volumes/${DNS_LABEL.test(name) ? name : `v-${keyOf(name)}`}` };
      return { volumeId: this.volumeId(parameters, parameters.dataFlow, at), dataFlow: parameters.dataFlow, ownsDataFlow: false };
    }
    const dataFlow = DNS_LABEL.test(name) ? name : `kmv-${keyOf(name)}`;
    return { volumeId: this.volumeId(parameters, dataFlow, { subPath: '' }), dataFlow, ownsDataFlow: true };
  }

  private volumeId(parameters: VolumeParameters, dataFlow: string, at: { subPath: string; tag?: string }): string {
    try {
      return formatVolumeId({ namespace: parameters.namespace, instance: parameters.instance, dataFlow, ...at });
    } catch (error) {
      if (error instanceof InvalidVolumeId) throw invalidArgument(`the volume ID for these names ${error.reason}; use shorter namespace, instance or DataFlow names`);
      throw error;
    }
  }

  private async createDataFlow(dataFlowName: string, volumeName: string, parameters: VolumeParameters): Promise<void> {
    try {
      await this.client.create(RESOURCES.dataFlow, {
        apiVersion: 'kmesh.io/v1alpha1',
        kind: 'DataFlow',
        metadata: { name: dataFlowName, namespace: parameters.namespace, labels: MANAGED_BY, annotations: { 'csi.kmesh.io/volume-name': volumeName } },
        spec: { instanceRef: { name: parameters.instance }, ...(parameters.mode ? { mode: parameters.mode } : {}), policy: parameters.policy },
      });
    } catch (error) {
      if (!isConflictError(error)) throw error;
      const existing = await this.client.get<DataFlow>(RESOURCES.dataFlow, parameters.namespace, dataFlowName);
      if (existing?.metadata.annotations?.['csi.kmesh.io/volume-name'] !== volumeName) {
        throw alreadyExists(`DataFlow ${parameters.namespace}/${dataFlowName} exists and does not belong to volume ${volumeName}`);
      }
    }
  }

  private response(volumeId: string, dataFlow: string, parameters: VolumeParameters): Request {
    // capacity_bytes 0 means unknown: the local backend cannot enforce a size, and Kmesh does not pretend.
    return { volume: { volume_id: volumeId, capacity_bytes: 0, volume_context: { namespace: parameters.namespace, instance: parameters.instance, dataFlow } } };
  }

  /** The record of the volume with `volumeId`, if it exists. */
  private async findRecord(ref: VolumeRef, volumeId: string): Promise<VolumeRecord | undefined> {
    for (const key of recordKeysOf(ref)) {
      const record = await this.client.get<VolumeRecord>(RESOURCES.configMap, ref.namespace, recordName(key));
      if (record?.data?.['volumeId'] === volumeId) return record;
    }
    return undefined;
  }

  private async delete(request: Request): Promise<Request> {
    const volumeId = request['volume_id'];
    if (typeof volumeId !== 'string' || !volumeId) throw invalidArgument('volume_id is required');
    let ref: VolumeRef;
    try {
      ref = parseVolumeId(volumeId);
    } catch (error) {
      if (error instanceof InvalidVolumeId) return {}; // never ours, so nothing to delete
      throw error;
    }
    const namespace = ref.namespace;
    return this.locks.exclusive(volumeId, async () => {
      const record = await this.findRecord(ref, volumeId);
      if (!record) return {};
      if (record.data?.['ownsDataFlow'] === 'true' && record.data['dataFlow']) await this.client.delete(RESOURCES.dataFlow, namespace, record.data['dataFlow']);
      await this.client.delete(RESOURCES.configMap, namespace, record.metadata!.name!);
      return {};
    });
  }

  private async validate(request: Request): Promise<Request> {
    const volumeId = request['volume_id'];
    if (typeof volumeId !== 'string' || !volumeId) throw invalidArgument('volume_id is required');
    const capabilities = (request['volume_capabilities'] as VolumeCapability[] | undefined) ?? [];
    if (!capabilities.length) throw invalidArgument('volume_capabilities is required');
    let ref: VolumeRef;
    try {
      ref = parseVolumeId(volumeId);
    } catch (error) {
      if (error instanceof InvalidVolumeId) throw notFound(`no such volume: ${error.message}`);
      throw error;
    }
    if (!(await this.findRecord(ref, volumeId))) throw notFound(`volume ${volumeId} does not exist`);
    const unsupported = capabilities.findIndex((capability) => capability.block);
    if (unsupported >= 0) return { message: `volume_capabilities[${unsupported}]: block access is not supported` };
    return { confirmed: { volume_context: request['volume_context'] ?? {}, volume_capabilities: capabilities, parameters: request['parameters'] ?? {} } };
  }
}
