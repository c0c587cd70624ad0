/**
 * The durable record of each volume: a ConfigMap `kmesh-volume-<key>` in the volume's namespace,
 * where the key is a hash of the volume's name. It holds the request the volume was created for
 * (so a same-name CreateVolume that differs gets ALREADY_EXISTS), where the data is, and the size.
 * Every volume ID leads to its record's name (through its tag or its last segment), so records are
 * found with a GET: a list would wait for the API server's watch cache to catch up with etcd.
 */
import { createHash } from 'node:crypto';
import { RESOURCES } from '../lib/kube/resources.js';
import type { KubeClient, WireObject } from '../lib/kube/rest.js';
import type { Segments } from './topology.js';
import type { VolumeRef } from './volume-id.js';

export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'kmesh-csi' };
/** Label of volume records (other objects the driver manages do not carry it). */
const RECORD_LABEL = 'csi.kmesh.io/volume-record';

/** A volume's key: 20 hex digits of the SHA-256 of its name. */
export const keyOf = (name: string): string => createHash('sha256').update(name).digest('hex').slice(0, 20);
const recordName = (key: string): string => `kmesh-volume-${key}`;

/** What a volume was created for; compared on a repeated CreateVolume. */
export interface VolumeRequest {
  requiredBytes: number;
  limitBytes: number;
  parameters: Record<string, string>;
  /** `snapshot:<id>` or `volume:<id>` when the volume starts from a content source. */
  source?: string;
}

export interface VolumeRecord {
  volumeName: string;
  volumeId: string;
  namespace: string;
  instance: string;
  /** Exactly one: the DataFlow, or the VirtualCopy, whose access point holds the volume. */
  dataFlow?: string;
  virtualCopy?: string;
  /** CreateVolume created that DataFlow or VirtualCopy, and DeleteVolume removes it. */
  ownsData: boolean;
  /** Directory of the volume inside the instance's filesystem. */
  directory: string;
  request: VolumeRequest;
  /** The size asked for last (CreateVolume, then each expansion); 0 when none was. */
  sizeBytes: number;
  /** The backend enforces sizeBytes (a Lustre project quota); false on the local backend. */
  sizeEnforced: boolean;
  projectId: number;
  /** Where the volume is accessible (CSI topologies); empty means everywhere. */
  topology: Segments[];
}

/** A request as stored and compared: parameters sorted, since a CO may send map entries in any order. */
export function sameRequest(a: VolumeRequest, b: VolumeRequest): boolean {
  const canonical = (r: VolumeRequest): string =>
    JSON.stringify([
      r.requiredBytes,
      r.limitBytes,
      Object.entries(r.parameters).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
      r.source ?? '',
    ]);
  return canonical(a) === canonical(b);
}

/**
 * Record keys a volume ID may lead to: from its tag, or the name (or key) in its last segment, or
 * in its VirtualCopy's name (a restored volume's sub-path is its source volume's, so its last
 * segment names the source, while the copy is named after the volume itself).
 */
function recordKeysOf(ref: VolumeRef): string[] {
  if (ref.tag) return [ref.tag];
  const names = [
    ref.subPath ? ref.subPath.split('/').pop()! : (ref.virtualCopy ?? ref.dataFlow),
    ...(ref.subPath && ref.virtualCopy ? [ref.virtualCopy] : []),
  ];
  const keys = names.flatMap((name) => {
    const embedded = /^(?:kmv|v)-([a-f0-9]{20})$/.exec(name)?.[1];
    return embedded ? [keyOf(name), embedded] : [keyOf(name)];
  });
  return [...new Set(keys)];
}

type RecordObject = WireObject & { data?: Record<string, string> };

const fromObject = (object: RecordObject | undefined): VolumeRecord | undefined =>
  object?.data?.['record'] ? (JSON.parse(object.data['record']) as VolumeRecord) : undefined;

export class VolumeRecords {
  constructor(private readonly client: KubeClient) {}

  async byName(namespace: string, volumeName: string): Promise<VolumeRecord | undefined> {
    return fromObject(
      await this.client.get<RecordObject>(RESOURCES.configMap, namespace, recordName(keyOf(volumeName))),
    );
  }

  /** The record of the volume with `volumeId`, if it exists. */
  async byId(ref: VolumeRef, volumeId: string): Promise<VolumeRecord | undefined> {
    for (const key of recordKeysOf(ref)) {
      const record = fromObject(
        await this.client.get<RecordObject>(RESOURCES.configMap, ref.namespace, recordName(key)),
      );
      if (record?.volumeId === volumeId) return record;
    }
    return undefined;
  }

  /** Every volume record in the cluster, by volume ID. */
  async all(): Promise<VolumeRecord[]> {
    const list = await this.client.list<RecordObject>(RESOURCES.configMap, { labelSelector: `${RECORD_LABEL}=true` });
    return list.items.flatMap((object) => fromObject(object) ?? []).sort((a, b) => (a.volumeId < b.volumeId ? -1 : 1));
  }

  async create(record: VolumeRecord): Promise<void> {
    await this.client.create(RESOURCES.configMap, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: recordName(keyOf(record.volumeName)),
        namespace: record.namespace,
        labels: { ...MANAGED_BY, [RECORD_LABEL]: 'true' },
      },
      data: { volumeId: record.volumeId, record: JSON.stringify(record) },
    });
  }

  async update(record: VolumeRecord): Promise<void> {
    await this.client.mergePatch(RESOURCES.configMap, record.namespace, recordName(keyOf(record.volumeName)), {
      data: { record: JSON.stringify(record) },
    });
  }

  async delete(record: VolumeRecord): Promise<void> {
    await this.client.delete(RESOURCES.configMap, record.namespace, recordName(keyOf(record.volumeName)));
  }
}
