/**
 * The CSI Controller service: provisions volumes by StorageClass policy (see parameters.ts).
 *
 * A volume is an access point of a DataFlow (its own, created from the class's template, or an
 * existing one it binds to), or, when it starts from a snapshot or another volume, of a VirtualCopy
 * it owns. Its record (volume-records.ts) is written before anything else and removed last, so a
 * crash in between leaves a record that the CO's retry completes or deletes. Sizes become Lustre
 * project quotas where the backend has them (quota.ts). Snapshots are in snapshots.ts.
 */
import {
  isDnsLabel,
  type DataFlow,
  type KmeshInstance,
  type Snapshot,
  type VirtualCopy,
} from '../api/v1alpha1/index.js';
import {
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  notFound,
  outOfRange,
  resourceExhausted,
} from '../lib/errors.js';
import type { RequestReceived, ResponseSent, TypedHandlers } from '../lib/grpc-service-types.js';
import type { Logger } from '../lib/logging.js';
import { RESOURCES } from '../lib/kube/resources.js';
import { isConflictError, KubeApiError, type KubeClient, type ResourceType } from '../lib/kube/rest.js';
import { checkCapability } from './capabilities.js';
import type { ControllerDefinition } from './generated/csi/v1/Controller.js';
import type { CapacityRange__Output } from './generated/csi/v1/CapacityRange.js';
import type { TopologyRequirement__Output } from './generated/csi/v1/TopologyRequirement.js';
import type { Volume } from './generated/csi/v1/Volume.js';
import type { VolumeContentSource__Output } from './generated/csi/v1/VolumeContentSource.js';
import { pageOf } from './paging.js';
import { namespaceOf, parseParameters, type VolumeParameters } from './parameters.js';
import { projectIdOf, type Quotas } from './quota.js';
import { accessPointOf, ownerOf } from './resolver.js';
import { requiredString } from './request.js';
import { parseSnapshotId, SnapshotService } from './snapshots.js';
import { instanceIn, pickInstance, segmentsOf, type Segments } from './topology.js';
import { volumeConditionOf } from './volume-condition.js';
import { formatVolumeId, InvalidVolumeId, parseVolumeId, type VolumeRef } from './volume-id.js';
import { VolumeLocks } from './volume-locks.js';
import {
  keyOf,
  MANAGED_BY,
  sameRequest,
  VolumeRecords,
  type VolumeRecord,
  type VolumeRequest,
} from './volume-records.js';

const MAX_VOLUME_NAME_BYTES = 128;
const VOLUME_NAME_ANNOTATION = 'csi.kmesh.io/volume-name';

/** Controller capabilities; each is exercised by csi-sanity (test/integration/csi-sanity.test.ts). */
const CONTROLLER_CAPABILITIES = [
  'CREATE_DELETE_VOLUME',
  'CREATE_DELETE_SNAPSHOT',
  'CLONE_VOLUME',
  'EXPAND_VOLUME',
  'LIST_VOLUMES',
  'LIST_SNAPSHOTS',
  'GET_CAPACITY',
  'VOLUME_CONDITION',
  'GET_VOLUME',
] as const;

/**
 * Controller methods and their messages as generated from proto/csi.proto. Handlers and the
 * callbacks that build a response name its type, so a misspelt field is an error (every response
 * field is optional, which inference alone would let pass).
 */
type ControllerMethod = keyof TypedHandlers<ControllerDefinition>;
type Received<M extends ControllerMethod> = RequestReceived<ControllerDefinition, M>;
type Reply<M extends ControllerMethod> = ResponseSent<ControllerDefinition, M>;

/** Where a new volume's data goes. */
type Placement = Pick<VolumeRecord, 'volumeId' | 'dataFlow' | 'virtualCopy' | 'ownsData' | 'directory'> & {
  /** The VirtualCopy's source, when the volume starts from a snapshot or volume. */
  copyOf?: NonNullable<VirtualCopy['spec']['source']>;
};

export interface ControllerOptions {
  client: KubeClient;
  quotas: Quotas;
  log: Logger;
}

/** The name of an object a volume creates: the volume name when it is a DNS label, else derived from its key. */
const objectNameOf = (volumeName: string): string => (isDnsLabel(volumeName) ? volumeName : `kmv-${keyOf(volumeName)}`);

/** A volume ID from a request; one that cannot be ours names a volume that does not exist. */
function volumeRefOf(volumeId: string, what = 'volume'): VolumeRef {
  try {
    return parseVolumeId(volumeId);
  } catch (error) {
    if (error instanceof InvalidVolumeId) throw notFound(`${what} does not exist: ${error.message}`);
    throw error;
  }
}

function capacityRangeOf(request: { capacity_range: CapacityRange__Output | null }): {
  requiredBytes: number;
  limitBytes: number;
} {
  const range = request.capacity_range;
  const requiredBytes = range?.required_bytes ?? 0;
  const limitBytes = range?.limit_bytes ?? 0;
  if (requiredBytes < 0 || limitBytes < 0) throw outOfRange('capacity_range must not be negative');
  if (limitBytes && requiredBytes > limitBytes)
    throw outOfRange(`capacity_range: required_bytes ${requiredBytes} exceeds limit_bytes ${limitBytes}`);
  return { requiredBytes, limitBytes };
}

/** The one content source of a request, as stored in its record: `snapshot:<id>` or `volume:<id>`. */
function contentSourceOf(request: { volume_content_source: VolumeContentSource__Output | null }): string | undefined {
  const source = request.volume_content_source;
  if (source?.snapshot) return `snapshot:${source.snapshot.snapshot_id}`;
  if (source?.volume) return `volume:${source.volume.volume_id}`;
  return undefined;
}

export class ControllerServer {
  private readonly locks = new VolumeLocks();
  private readonly client: KubeClient;
  private readonly records: VolumeRecords;
  private readonly snapshots: SnapshotService;

  constructor(private readonly options: ControllerOptions) {
    this.client = options.client;
    this.records = new VolumeRecords(options.client);
    this.snapshots = new SnapshotService(options.client, this.records, options.log);
  }

  handlers(): TypedHandlers<ControllerDefinition> {
    return {
      ControllerGetCapabilities: () =>
        Promise.resolve({ capabilities: CONTROLLER_CAPABILITIES.map((type) => ({ rpc: { type } })) }),
      CreateVolume: (request) => this.create(request),
      DeleteVolume: (request) => this.delete(request),
      ValidateVolumeCapabilities: (request) => this.validate(request),
      ListVolumes: (request) => this.list(request),
      ControllerGetVolume: (request) => this.getVolume(request),
      ControllerExpandVolume: (request) => this.expand(request),
      GetCapacity: (request) => this.capacity(request),
      ...this.snapshots.handlers(),
    };
  }

  private async create(request: Received<'CreateVolume'>): Promise<Reply<'CreateVolume'>> {
    const name = requiredString(request, 'name');
    if (Buffer.byteLength(name) > MAX_VOLUME_NAME_BYTES)
      throw invalidArgument(`name is longer than ${MAX_VOLUME_NAME_BYTES} bytes`);
    const capabilities = request.volume_capabilities;
    if (!capabilities.length) throw invalidArgument('volume_capabilities is required');
    capabilities.forEach((capability, i) => checkCapability(capability, `volume_capabilities[${i}]`));
    const { requiredBytes, limitBytes } = capacityRangeOf(request);
    const rawParameters = request.parameters;
    const parameters = parseParameters(rawParameters);
    const namespace = namespaceOf(parameters);
    const source = contentSourceOf(request);
    if (source && parameters.dataFlow)
      throw invalidArgument(
        'a volume from a snapshot or another volume gets a copy of its own; use a StorageClass without dataFlow',
      );
    const wanted: VolumeRequest = {
      requiredBytes,
      limitBytes,
      parameters: rawParameters,
      ...(source ? { source } : {}),
    };
    const topology = request.accessibility_requirements;

    return this.locks.exclusive(name, async (): Promise<Reply<'CreateVolume'>> => {
      const existing = await this.records.byName(namespace, name);
      if (existing) {
        if (!sameRequest(existing.request, wanted))
          throw alreadyExists(`volume ${name} exists with another capacity range, parameters or content source`);
        return this.finish(existing);
      }
      const instance = await this.instanceFor(namespace, parameters, topology);
      const { copyOf, ...placement } = await this.place(name, namespace, instance.metadata.name!, parameters, source);
      const record: VolumeRecord = {
        volumeName: name,
        namespace,
        instance: instance.metadata.name!,
        ...placement,
        request: wanted,
        sizeBytes: requiredBytes || limitBytes,
        sizeEnforced: false,
        projectId: projectIdOf(keyOf(name)),
        topology: Object.keys(segmentsOf(instance)).length ? [segmentsOf(instance)] : [],
      };
      await this.records.create(record);
      try {
        if (placement.ownsData && placement.dataFlow) await this.createDataFlow(record, parameters);
        if (placement.ownsData && copyOf) await this.createVirtualCopy(record, copyOf);
      } catch (error) {
        await this.records.delete(record); // undo the record: nothing else was made
        throw error;
      }
      return this.finish(record, instance);
    });
  }

  /** Enforces the size where the backend can (again on a retry after a failure), and answers. */
  private async finish(record: VolumeRecord, known?: KmeshInstance): Promise<Reply<'CreateVolume'>> {
    if (record.sizeBytes > 0 && !record.sizeEnforced && record.directory) {
      const instance =
        known ?? (await this.client.get<KmeshInstance>(RESOURCES.kmeshInstance, record.namespace, record.instance));
      if (!instance)
        throw failedPrecondition(
          `KmeshInstance ${record.namespace}/${record.instance} of volume ${record.volumeName} no longer exists`,
        );
      if (
        await this.options.quotas.apply({
          instance,
          directory: record.directory,
          projectId: record.projectId,
          bytes: record.sizeBytes,
        })
      ) {
        record.sizeEnforced = true;
        await this.records.update(record);
      }
    }
    return { volume: this.volumeOf(record) };
  }

  /** The CSI Volume of a record. capacity_bytes is 0 (unknown) unless the backend enforces the size. */
  private volumeOf(record: VolumeRecord): Volume {
    const source = record.request.source;
    const contentSource = source?.startsWith('snapshot:')
      ? { snapshot: { snapshot_id: source.slice('snapshot:'.length) } }
      : source?.startsWith('volume:')
        ? { volume: { volume_id: source.slice('volume:'.length) } }
        : undefined;
    return {
      volume_id: record.volumeId,
      capacity_bytes: record.sizeEnforced ? record.sizeBytes : 0,
      volume_context: {
        namespace: record.namespace,
        instance: record.instance,
        ...(record.dataFlow ? { dataFlow: record.dataFlow } : { virtualCopy: record.virtualCopy! }),
      },
      ...(contentSource ? { content_source: contentSource } : {}),
      accessible_topology: record.topology.map((segments) => ({ segments })),
    };
  }

  /**
   * The KmeshInstance of a new volume: the `instance` parameter, or the one whose location lies in
   * the requested topology (preferred first). Its location becomes the volume's accessible topology.
   */
  private async instanceFor(
    namespace: string,
    parameters: VolumeParameters,
    topology: TopologyRequirement__Output | null,
  ): Promise<KmeshInstance> {
    if (parameters.instance) {
      const instance = await this.client.get<KmeshInstance>(RESOURCES.kmeshInstance, namespace, parameters.instance);
      if (!instance)
        throw invalidArgument(`parameter instance: KmeshInstance ${namespace}/${parameters.instance} does not exist`);
      return instance;
    }
    const preferred: Segments[] = (topology?.preferred ?? []).map((t) => t.segments);
    const requisite: Segments[] = (topology?.requisite ?? []).map((t) => t.segments);
    if (!preferred.length && !requisite.length)
      throw invalidArgument(
        'parameter instance is required when the CO sends no topology to pick a KmeshInstance by (run the external-provisioner with --feature-gates=Topology=true)',
      );
    const instances = (await this.client.list<KmeshInstance>(RESOURCES.kmeshInstance, { namespace })).items;
    const picked = pickInstance(instances, preferred, requisite);
    if (!picked)
      throw resourceExhausted(
        `no KmeshInstance in namespace ${namespace} has a location in the requested topology ${JSON.stringify([...preferred, ...requisite])}`,
      );
    return picked;
  }

  /** Where the volume goes: a copy of its content source, an existing DataFlow, or a DataFlow of its own. */
  private async place(
    name: string,
    namespace: string,
    instance: string,
    parameters: VolumeParameters,
    source: string | undefined,
  ): Promise<Placement> {
    if (source) return this.placeCopy(name, namespace, instance, source);
    if (parameters.dataFlow) {
      const dataFlow = await this.client.get<DataFlow>(RESOURCES.dataFlow, namespace, parameters.dataFlow);
      if (!dataFlow)
        throw invalidArgument(`parameter dataFlow: DataFlow ${namespace}/${parameters.dataFlow} does not exist`);
      if (dataFlow.spec.instanceRef.name !== instance) {
        throw invalidArgument(
          `parameter instance ${instance} does not match DataFlow ${parameters.dataFlow}, which lives on ${dataFlow.spec.instanceRef.name}`,
        );
      }
      if (parameters.accessPoint === 'shared') {
        // Shared volumes are the DataFlow's root, so no one volume's size can limit it; the tag keeps their IDs apart.
        const volumeId = this.volumeId({
          namespace,
          instance,
          dataFlow: parameters.dataFlow,
          subPath: '',
          tag: keyOf(name),
        });
        return { volumeId, dataFlow: parameters.dataFlow, ownsData: false, directory: '' };
      }
      const subPath = `volumes/${isDnsLabel(name) ? name : `v-${keyOf(name)}`}`;
      const volumeId = this.volumeId({ namespace, instance, dataFlow: parameters.dataFlow, subPath });
      return {
        volumeId,
        dataFlow: parameters.dataFlow,
        ownsData: false,
        directory: `${accessPointOf(dataFlow)}/${subPath}`,
      };
    }
    const dataFlow = objectNameOf(name);
    return {
      volumeId: this.volumeId({ namespace, instance, dataFlow, subPath: '' }),
      dataFlow,
      ownsData: true,
      directory: `/dataflows/${dataFlow}`,
    };
  }

  /** A volume from a snapshot or volume: a VirtualCopy of it, seen at the source volume's sub-path. */
  private async placeCopy(name: string, namespace: string, instance: string, source: string): Promise<Placement> {
    const virtualCopy = objectNameOf(name);
    const at = (subPath: string): Pick<Placement, 'volumeId' | 'virtualCopy' | 'ownsData' | 'directory'> => ({
      volumeId: this.volumeId({ namespace, instance, dataFlow: '', virtualCopy, subPath }),
      virtualCopy,
      ownsData: true,
      directory: `/virtualcopies/${virtualCopy}${subPath ? `/${subPath}` : ''}`,
    });
    if (source.startsWith('snapshot:')) {
      const snapshotId = source.slice('snapshot:'.length);
      const ref = parseSnapshotId(snapshotId);
      const snapshot = ref && (await this.client.get<Snapshot>(RESOURCES.snapshot, ref.namespace, ref.name));
      if (!ref || !snapshot) throw notFound(`source snapshot ${snapshotId} does not exist`);
      if (ref.namespace !== namespace)
        throw invalidArgument(
          `source snapshot ${snapshotId} is in namespace ${ref.namespace}; a volume can start only from a snapshot in its own namespace (${namespace})`,
        );
      const sourceVolume = snapshot.metadata.annotations?.['csi.kmesh.io/source-volume-id'];
      const subPath = sourceVolume ? safeSubPath(sourceVolume) : '';
      return { ...at(subPath), copyOf: { snapshotRef: { name: ref.name } } };
    }
    const sourceId = source.slice('volume:'.length);
    const ref = volumeRefOf(sourceId, `source volume ${sourceId}`);
    const sourceRecord = await this.records.byId(ref, sourceId);
    if (!sourceRecord) throw notFound(`source volume ${sourceId} does not exist`);
    if (sourceRecord.namespace !== namespace)
      throw invalidArgument(
        `source volume ${sourceId} is in namespace ${sourceRecord.namespace}; a volume can be cloned only within its namespace (${namespace})`,
      );
    if (!sourceRecord.dataFlow)
      throw failedPrecondition(
        `source volume ${sourceId} is itself a copy (VirtualCopy ${sourceRecord.virtualCopy}); clone its source, or snapshot and restore it`,
      );
    return { ...at(ref.subPath), copyOf: { dataFlowRef: { name: sourceRecord.dataFlow } } };
  }

  private volumeId(ref: VolumeRef): string {
    try {
      return formatVolumeId(ref);
    } catch (error) {
      if (error instanceof InvalidVolumeId)
        throw invalidArgument(
          `the volume ID for these names ${error.reason}; use shorter namespace, instance or DataFlow names`,
        );
      throw error;
    }
  }

  /** Creates an object the volume owns; if it exists, it must be this volume's (a retry), else ALREADY_EXISTS. */
  private async createOwned<T extends DataFlow | VirtualCopy>(
    type: ResourceType,
    object: T,
    what: string,
  ): Promise<void> {
    try {
      await this.client.create(type, object);
    } catch (error) {
      if (error instanceof KubeApiError && error.code === 422)
        throw invalidArgument(`the ${what} this volume needs is invalid: ${error.status?.message ?? error.message}`);
      if (!isConflictError(error)) throw error;
      const existing = await this.client.get<T>(type, object.metadata.namespace, object.metadata.name!);
      if (
        existing?.metadata.annotations?.[VOLUME_NAME_ANNOTATION] !==
        object.metadata.annotations?.[VOLUME_NAME_ANNOTATION]
      ) {
        throw alreadyExists(
          `${what} ${object.metadata.namespace}/${object.metadata.name} exists and does not belong to volume ${object.metadata.annotations?.[VOLUME_NAME_ANNOTATION]}`,
        );
      }
    }
  }

  private createDataFlow(record: VolumeRecord, parameters: VolumeParameters): Promise<void> {
    const metadata = {
      name: record.dataFlow!,
      namespace: record.namespace,
      labels: MANAGED_BY,
      annotations: { [VOLUME_NAME_ANNOTATION]: record.volumeName },
    };
    const spec = {
      instanceRef: { name: record.instance },
      ...(parameters.mode ? { mode: parameters.mode } : {}),
      ...(parameters.peers ? { peers: parameters.peers } : {}),
      policy: parameters.policy,
    };
    return this.createOwned<DataFlow>(
      RESOURCES.dataFlow,
      { apiVersion: 'kmesh.io/v1alpha1', kind: 'DataFlow', metadata, spec },
      'DataFlow',
    );
  }

  private createVirtualCopy(record: VolumeRecord, source: NonNullable<VirtualCopy['spec']['source']>): Promise<void> {
    const metadata = {
      name: record.virtualCopy!,
      namespace: record.namespace,
      labels: MANAGED_BY,
      annotations: { [VOLUME_NAME_ANNOTATION]: record.volumeName },
    };
    const spec = { source, instanceRef: { name: record.instance } };
    return this.createOwned<VirtualCopy>(
      RESOURCES.virtualCopy,
      { apiVersion: 'kmesh.io/v1alpha1', kind: 'VirtualCopy', metadata, spec },
      'VirtualCopy',
    );
  }

  private async delete(request: Received<'DeleteVolume'>): Promise<Reply<'DeleteVolume'>> {
    const volumeId = requiredString(request, 'volume_id');
    let ref: VolumeRef;
    try {
      ref = parseVolumeId(volumeId);
    } catch (error) {
      if (error instanceof InvalidVolumeId) return {}; // never ours, so nothing to delete
      throw error;
    }
    return this.locks.exclusive(volumeId, async (): Promise<Reply<'DeleteVolume'>> => {
      const record = await this.records.byId(ref, volumeId);
      if (!record) return {};
      if (record.ownsData && record.dataFlow)
        await this.client.delete(RESOURCES.dataFlow, record.namespace, record.dataFlow);
      if (record.ownsData && record.virtualCopy)
        await this.client.delete(RESOURCES.virtualCopy, record.namespace, record.virtualCopy);
      await this.records.delete(record);
      return {};
    });
  }

  /** The record of an existing volume, or NOT_FOUND. */
  private async existing(volumeId: string): Promise<VolumeRecord> {
    const record = await this.records.byId(volumeRefOf(volumeId), volumeId);
    if (!record) throw notFound(`volume ${volumeId} does not exist`);
    return record;
  }

  private async validate(
    request: Received<'ValidateVolumeCapabilities'>,
  ): Promise<Reply<'ValidateVolumeCapabilities'>> {
    const volumeId = requiredString(request, 'volume_id');
    const capabilities = request.volume_capabilities;
    if (!capabilities.length) throw invalidArgument('volume_capabilities is required');
    await this.existing(volumeId);
    const unsupported = capabilities.findIndex((capability) => capability.block);
    if (unsupported >= 0) return { message: `volume_capabilities[${unsupported}]: block access is not supported` };
    return {
      confirmed: {
        volume_context: request.volume_context,
        volume_capabilities: capabilities,
        parameters: request.parameters,
      },
    };
  }

  private async list(request: Received<'ListVolumes'>): Promise<Reply<'ListVolumes'>> {
    const page = pageOf(await this.records.all(), request.max_entries, request.starting_token);
    if (!page.entries.length) return { entries: [], next_token: page.next_token };
    // One list per kind for the conditions, rather than a GET per volume.
    const [dataFlows, copies] = await Promise.all([
      this.client.list<DataFlow>(RESOURCES.dataFlow),
      this.client.list<VirtualCopy>(RESOURCES.virtualCopy),
    ]);
    const byName = new Map(
      [...dataFlows.items, ...copies.items].map((o) => [`${o.kind}/${o.metadata.namespace}/${o.metadata.name}`, o]),
    );
    const entries = page.entries.map((record) => {
      const [kind, name] = record.dataFlow
        ? (['DataFlow', record.dataFlow] as const)
        : (['VirtualCopy', record.virtualCopy!] as const);
      const condition = volumeConditionOf(
        kind,
        `${record.namespace}/${name}`,
        byName.get(`${kind}/${record.namespace}/${name}`),
      );
      return { volume: this.volumeOf(record), status: { published_node_ids: [], volume_condition: condition } };
    });
    return { entries, next_token: page.next_token };
  }

  private async getVolume(request: Received<'ControllerGetVolume'>): Promise<Reply<'ControllerGetVolume'>> {
    const volumeId = requiredString(request, 'volume_id');
    const record = await this.existing(volumeId);
    const owner = await ownerOf(this.client, parseVolumeId(volumeId));
    const condition = volumeConditionOf(
      owner.kind,
      `${record.namespace}/${record.dataFlow || record.virtualCopy}`,
      owner.object,
    );
    return { volume: this.volumeOf(record), status: { published_node_ids: [], volume_condition: condition } };
  }

  /** Grows the volume's size, and its quota where the backend has one; a smaller size changes nothing. */
  private async expand(request: Received<'ControllerExpandVolume'>): Promise<Reply<'ControllerExpandVolume'>> {
    const volumeId = requiredString(request, 'volume_id');
    if (!request.capacity_range) throw invalidArgument('capacity_range is required');
    const { requiredBytes, limitBytes } = capacityRangeOf(request);
    const bytes = requiredBytes || limitBytes;
    if (!bytes) throw invalidArgument('capacity_range needs required_bytes or limit_bytes');
    if (request.volume_capability) checkCapability(request.volume_capability, 'volume_capability');
    return this.locks.exclusive(volumeId, async (): Promise<Reply<'ControllerExpandVolume'>> => {
      const record = await this.existing(volumeId);
      if (bytes > record.sizeBytes) {
        record.sizeBytes = bytes;
        record.sizeEnforced = false;
        await this.records.update(record);
        await this.finish(record);
      }
      // The size the volume has now; on the local backend a recorded size, not a limit (see csi/README.md).
      return { capacity_bytes: record.sizeBytes, node_expansion_required: false };
    });
  }

  /**
   * Free space for new volumes of a class: that of its instance, or the sum over the instances
   * in the requested topology (in the class's namespace when known). Instances that have not
   * reported their capacity yet count 0: no promise Kmesh cannot keep.
   */
  private async capacity(request: Received<'GetCapacity'>): Promise<Reply<'GetCapacity'>> {
    const parameters = parseParameters(request.parameters);
    request.volume_capabilities.forEach((capability, i) => checkCapability(capability, `volume_capabilities[${i}]`));
    const topology: Segments = request.accessible_topology?.segments ?? {};
    const instances = (
      await this.client.list<KmeshInstance>(
        RESOURCES.kmeshInstance,
        parameters.namespace ? { namespace: parameters.namespace } : {},
      )
    ).items.filter(
      (instance) =>
        (!parameters.instance || instance.metadata.name === parameters.instance) &&
        (!Object.keys(topology).length || instanceIn(instance, topology)),
    );
    const free = (instance: KmeshInstance): number =>
      Math.max(0, (instance.status?.capacity?.totalBytes ?? 0) - (instance.status?.capacity?.usedBytes ?? 0));
    return { available_capacity: instances.reduce((sum, instance) => sum + free(instance), 0) };
  }
}

/** The sub-path of a volume ID (for a restore that shows only the snapshotted volume's part). */
function safeSubPath(volumeId: string): string {
  try {
    return parseVolumeId(volumeId).subPath;
  } catch {
    return '';
  }
}
