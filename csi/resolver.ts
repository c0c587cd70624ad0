/**
 * Where a volume's data is: which backend, what the node mounts (the instance's mount source) and
 * where the DataFlow's access point sits inside that filesystem. Read from the KmeshInstance and
 * DataFlow objects, so the node plugin needs no state of its own for it.
 */
import type { DataFlow, KmeshInstance } from '../api/v1alpha1/index.js';
import { notFound, unavailable } from '../lib/errors.js';
import { RESOURCES } from '../lib/kube/resources.js';
import type { KubeClient } from '../lib/kube/rest.js';
import type { VolumeRef } from './volume-id.js';

export interface VolumeLocation {
  backend: 'local' | 'lustre';
  /** What NodeStage mounts: the local directory, or `<mgs-nids>:/<fsname>`. */
  mountSource: string;
  /** The DataFlow's access point inside the filesystem, e.g. /dataflows/ml-data. */
  accessPoint: string;
}

export interface VolumeResolver {
  /** Throws NOT_FOUND when the instance or DataFlow does not exist, UNAVAILABLE when not known yet. */
  resolve(ref: VolumeRef): Promise<VolumeLocation>;
}

/** The access point of a DataFlow: its spec.path, or /dataflows/<name> (DESIGN §3). */
export function accessPointOf(dataFlow: DataFlow): string {
  return dataFlow.status?.accessPoint?.path ?? dataFlow.spec.path ?? `/dataflows/${dataFlow.metadata.name}`;
}

export class ApiVolumeResolver implements VolumeResolver {
  constructor(private readonly client: KubeClient) {}

  async resolve(ref: VolumeRef): Promise<VolumeLocation> {
    const [instance, dataFlow] = await Promise.all([
      this.client.get<KmeshInstance>(RESOURCES.kmeshInstance, ref.namespace, ref.instance),
      this.client.get<DataFlow>(RESOURCES.dataFlow, ref.namespace, ref.dataFlow),
    ]);
    if (!instance) throw notFound(`KmeshInstance ${ref.namespace}/${ref.instance} does not exist`);
    if (!dataFlow) throw notFound(`DataFlow ${ref.namespace}/${ref.dataFlow} does not exist`);
    const backend = instance.spec.backend.type ?? 'local';
    const mountSource = backend === 'local' ? instance.spec.backend.local?.path : instance.status?.mountSource;
    if (!mountSource) throw unavailable(`KmeshInstance ${ref.namespace}/${ref.instance} reports no mount source yet`);
    return { backend, mountSource, accessPoint: accessPointOf(dataFlow) };
  }
}
