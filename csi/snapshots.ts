/**
 * CSI snapshots are Kmesh Snapshots: CreateSnapshot creates a Snapshot CR of the source volume's
 * DataFlow and reports its readiness from the CR's status, which the operator writes once the
 * snapshot's manifest is retained. The CO polls CreateSnapshot until ready_to_use; until the
 * operator has taken the snapshot it stays false, never a pretended true.
 *
 * Snapshot IDs are `v1/<namespace>/<Snapshot name>`. The CR carries the CSI name and the source
 * volume ID as annotations, so ListSnapshots and a repeated CreateSnapshot need nothing else.
 */
import { isDnsLabel, type Snapshot } from '../api/v1alpha1/index.js';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '../lib/errors.js';
import type { RequestReceived, ResponseSent, TypedHandlers } from '../lib/grpc-service-types.js';
import type { Logger } from '../lib/logging.js';
import { RESOURCES } from '../lib/kube/resources.js';
import type { KubeClient } from '../lib/kube/rest.js';
import type { ControllerDefinition } from './generated/csi/v1/Controller.js';
import type { Snapshot as CsiSnapshot } from './generated/csi/v1/Snapshot.js';
import { pageOf } from './paging.js';
import { requiredString } from './request.js';
import { InvalidVolumeId, parseVolumeId } from './volume-id.js';
import { VolumeLocks } from './volume-locks.js';
import { keyOf, MANAGED_BY, type VolumeRecords } from './volume-records.js';

const SNAPSHOT_NAME_ANNOTATION = 'csi.kmesh.io/snapshot-name';
const SOURCE_VOLUME_ANNOTATION = 'csi.kmesh.io/source-volume-id';
/** Keys the external-snapshotter adds with --extra-create-metadata. */
const SNAPSHOTTER_PREFIX = 'csi.storage.k8s.io/';

/** The Controller methods this service answers. */
export type SnapshotMethod = 'CreateSnapshot' | 'DeleteSnapshot' | 'ListSnapshots';
type Received<M extends SnapshotMethod> = RequestReceived<ControllerDefinition, M>;
type Reply<M extends SnapshotMethod> = ResponseSent<ControllerDefinition, M>;
/** A CSI Snapshot message as this driver fills it in. */
type ReportedSnapshot = CsiSnapshot & Required<Pick<CsiSnapshot, 'snapshot_id' | 'source_volume_id' | 'ready_to_use'>>;

export const formatSnapshotId = (namespace: string, name: string): string => `v1/${namespace}/${name}`;

/** The namespace and Snapshot name of a snapshot ID; undefined for an ID that cannot be ours. */
export function parseSnapshotId(snapshotId: string): { namespace: string; name: string } | undefined {
  const [version, namespace, name, ...rest] = snapshotId.split('/');
  return version === 'v1' && !rest.length && namespace && name && isDnsLabel(namespace) && isDnsLabel(name)
    ? { namespace, name }
    : undefined;
}

/** The CSI Snapshot message for a Snapshot CR. */
function snapshotOf(object: Snapshot): ReportedSnapshot {
  const created = Date.parse(object.status?.creationTime ?? object.metadata.creationTimestamp ?? '') || 0;
  return {
    snapshot_id: formatSnapshotId(object.metadata.namespace!, object.metadata.name!),
    source_volume_id: object.metadata.annotations?.[SOURCE_VOLUME_ANNOTATION] ?? '',
    size_bytes: object.status?.logicalBytes ?? 0,
    creation_time: { seconds: Math.floor(created / 1000), nanos: (created % 1000) * 1e6 },
    ready_to_use: object.status?.readyToUse === true,
  };
}

export class SnapshotService {
  private readonly locks = new VolumeLocks();

  constructor(
    private readonly client: KubeClient,
    private readonly records: VolumeRecords,
    private readonly log: Logger,
  ) {}

  handlers(): Pick<TypedHandlers<ControllerDefinition>, SnapshotMethod> {
    return {
      CreateSnapshot: (request) => this.create(request),
      DeleteSnapshot: (request) => this.delete(request),
      ListSnapshots: (request) => this.list(request),
    };
  }

  private async create(request: Received<'CreateSnapshot'>): Promise<Reply<'CreateSnapshot'>> {
    const name = requiredString(request, 'name');
    const sourceVolumeId = requiredString(request, 'source_volume_id');
    const unknown = Object.keys(request.parameters).filter((key) => !key.startsWith(SNAPSHOTTER_PREFIX));
    if (unknown.length)
      throw invalidArgument(
        `unknown VolumeSnapshotClass parameters ${unknown.sort().join(', ')}; Kmesh snapshots take none`,
      );
    let ref;
    try {
      ref = parseVolumeId(sourceVolumeId);
    } catch (error) {
      if (error instanceof InvalidVolumeId) throw notFound(`source volume does not exist: ${error.message}`);
      throw error;
    }
    return this.locks.exclusive(name, async (): Promise<Reply<'CreateSnapshot'>> => {
      const volume = await this.records.byId(ref, sourceVolumeId);
      if (!volume) throw notFound(`source volume ${sourceVolumeId} does not exist`);
      if (!volume.dataFlow)
        throw failedPrecondition(
          `volume ${sourceVolumeId} lives in VirtualCopy ${volume.virtualCopy}; snapshots are taken of DataFlows, so snapshot the source instead`,
        );
      const objectName = isDnsLabel(name) ? name : `kms-${keyOf(name)}`;
      const existing = await this.client.get<Snapshot>(RESOURCES.snapshot, volume.namespace, objectName);
      if (existing) {
        if (
          existing.metadata.annotations?.[SNAPSHOT_NAME_ANNOTATION] !== name ||
          existing.metadata.annotations[SOURCE_VOLUME_ANNOTATION] !== sourceVolumeId
        ) {
          throw alreadyExists(
            `snapshot ${name} exists (Snapshot ${volume.namespace}/${objectName}) with another source volume`,
          );
        }
        return { snapshot: this.reported(existing) };
      }
      const created = await this.client.create<Snapshot>(RESOURCES.snapshot, {
        apiVersion: 'kmesh.io/v1alpha1',
        kind: 'Snapshot',
        metadata: {
          name: objectName,
          namespace: volume.namespace,
          labels: MANAGED_BY,
          annotations: { [SNAPSHOT_NAME_ANNOTATION]: name, [SOURCE_VOLUME_ANNOTATION]: sourceVolumeId },
        },
        spec: { dataFlowRef: { name: volume.dataFlow } },
      });
      return { snapshot: this.reported(created) };
    });
  }

  /** The CSI snapshot; logs why one is not ready, since the CSI message has no field for it. */
  private reported(object: Snapshot): ReportedSnapshot {
    const snapshot = snapshotOf(object);
    if (!snapshot.ready_to_use) {
      const ready = object.status?.conditions?.find((c) => c.type === 'Ready');
      this.log.info(
        { snapshot: `${object.metadata.namespace}/${object.metadata.name}` },
        `snapshot not ready yet: ${ready?.message ?? 'the Kmesh operator has not taken it yet'}`,
      );
    }
    return snapshot;
  }

  private async delete(request: Received<'DeleteSnapshot'>): Promise<Reply<'DeleteSnapshot'>> {
    const snapshotId = requiredString(request, 'snapshot_id');
    const at = parseSnapshotId(snapshotId);
    if (!at) return {}; // never ours, so nothing to delete
    return this.locks.exclusive(snapshotId, async (): Promise<Reply<'DeleteSnapshot'>> => {
      await this.client.delete(RESOURCES.snapshot, at.namespace, at.name);
      return {};
    });
  }

  private async list(request: Received<'ListSnapshots'>): Promise<Reply<'ListSnapshots'>> {
    const snapshotId = request.snapshot_id;
    const sourceVolumeId = request.source_volume_id;
    const objects = (
      await this.client.list<Snapshot>(RESOURCES.snapshot, { labelSelector: 'app.kubernetes.io/managed-by=kmesh-csi' })
    ).items;
    const snapshots = objects
      .map(snapshotOf)
      .filter(
        (s) =>
          (!snapshotId || s.snapshot_id === snapshotId) && (!sourceVolumeId || s.source_volume_id === sourceVolumeId),
      )
      .sort((a, b) => (a.snapshot_id < b.snapshot_id ? -1 : 1));
    const page = pageOf(snapshots, request.max_entries, request.starting_token);
    return { entries: page.entries.map((snapshot) => ({ snapshot })), next_token: page.next_token };
  }
}
