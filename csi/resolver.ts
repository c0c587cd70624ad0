/**
 * Where a volume's data is: which backend, what the node mounts (the instance's mount source) and
 * where the DataFlow's access point sits inside that filesystem. Read from the KmeshInstance and
 * DataFlow objects, so the node plugin needs no state of its own for it.
 */
import type { DataFlow, KmeshInstance, VirtualCopy } from '../api/v1alpha1/index.js';
import { Conditions } from '../api/v1alpha1/conditions.js';
import { localPathRefusal } from '../api/v1alpha1/paths.js';
import { failedPrecondition, notFound, unavailable } from '../lib/errors.js';
import { RESOURCES } from '../lib/kube/resources.js';
import type { KubeClient } from '../lib/kube/rest.js';
import { volumeConditionOf, type VolumeCondition } from './volume-condition.js';
import type { VolumeRef } from './volume-id.js';

export interface VolumeLocation {
  backend: 'local' | 'lustre';
  /** What NodeStage mounts: the local directory, or `<mgs-nids>:/<fsname>`. */
  mountSource: string;
  /** The DataFlow's access point inside the filesystem, e.g. /dataflows/ml-data. */
  accessPoint: string;
}

/** Where an instance's filesystem is: what the node mounts to reach its root. */
export type InstanceLocation = Pick<VolumeLocation, 'backend' | 'mountSource'> & {
  /** The KmeshInstance's UID: an instance deleted and made again under its name is another filesystem. */
  uid: string;
};

export interface VolumeResolver {
  /**
   * The filesystem of KmeshInstance `namespace/name` (inline volumes of Kmesh's own pods):
   * NOT_FOUND when it does not exist, UNAVAILABLE while a Lustre instance has no mount source yet,
   * FAILED_PRECONDITION for a local directory the operator refuses too.
   */
  instance(namespace: string, name: string): Promise<InstanceLocation>;
  /**
   * Throws NOT_FOUND when the instance or DataFlow does not exist, UNAVAILABLE when not known yet
   * (or, for a copy, while its VirtualCopy is not Ready: its data is not all there),
   * FAILED_PRECONDITION when a local instance's directory is not below an allowed root or is an
   * older instance's (the operator refuses the same, api/v1alpha1/paths.ts).
   */
  resolve(ref: VolumeRef): Promise<VolumeLocation>;
  /** The condition of the object that holds the volume (DataFlow or VirtualCopy). */
  condition(ref: VolumeRef): Promise<VolumeCondition>;
}

/** The access point of a DataFlow: its spec.path, or /dataflows/<name> (docs/architecture.md#dataflow). */
export function accessPointOf(dataFlow: DataFlow): string {
  return dataFlow.status?.accessPoint?.path ?? dataFlow.spec.path ?? `/dataflows/${dataFlow.metadata.name}`;
}

/** The access point of a VirtualCopy: its spec.path, or /virtualcopies/<name> (docs/architecture.md#virtualcopy). */
export function copyAccessPointOf(copy: VirtualCopy): string {
  return copy.status?.accessPoint?.path ?? copy.spec.path ?? `/virtualcopies/${copy.metadata.name}`;
}

/** The object whose access point holds a volume: its DataFlow or, for a restored or cloned volume, its VirtualCopy. */
export async function ownerOf(
  client: KubeClient,
  ref: VolumeRef,
): Promise<{ kind: 'DataFlow'; object?: DataFlow } | { kind: 'VirtualCopy'; object?: VirtualCopy }> {
  if (ref.virtualCopy !== undefined)
    return {
      kind: 'VirtualCopy',
      object: await client.get<VirtualCopy>(RESOURCES.virtualCopy, ref.namespace, ref.virtualCopy),
    };
  return { kind: 'DataFlow', object: await client.get<DataFlow>(RESOURCES.dataFlow, ref.namespace, ref.dataFlow) };
}

export class ApiVolumeResolver implements VolumeResolver {
  /** `localRoots`: host directories below which local instances may keep their data (--local-roots). */
  constructor(
    private readonly client: KubeClient,
    private readonly localRoots: readonly string[],
  ) {}

  /** Refuses a local instance's directory the operator refuses too; checked here, as the operator's verdict may not be written yet. */
  private async checkLocalPath(instance: KmeshInstance): Promise<void> {
    const all = await this.client.list<KmeshInstance>(RESOURCES.kmeshInstance);
    const refused = localPathRefusal(instance, all.items, this.localRoots);
    if (refused)
      throw failedPrecondition(
        `KmeshInstance ${instance.metadata.namespace}/${instance.metadata.name}: ${refused.message}`,
      );
  }

  async instance(namespace: string, name: string): Promise<InstanceLocation> {
    return this.locate(await this.client.get<KmeshInstance>(RESOURCES.kmeshInstance, namespace, name), namespace, name);
  }

  private async locate(
    instance: KmeshInstance | undefined,
    namespace: string,
    name: string,
  ): Promise<InstanceLocation> {
    if (!instance) throw notFound(`KmeshInstance ${namespace}/${name} does not exist`);
    const backend = instance.spec.backend.type ?? 'local';
    const mountSource = backend === 'local' ? instance.spec.backend.local?.path : instance.status?.mountSource;
    if (!mountSource) throw unavailable(`KmeshInstance ${namespace}/${name} reports no mount source yet`);
    if (backend === 'local') await this.checkLocalPath(instance);
    return { backend, mountSource, uid: instance.metadata.uid ?? '' };
  }

  async resolve(ref: VolumeRef): Promise<VolumeLocation> {
    const [instance, owner] = await Promise.all([
      this.client.get<KmeshInstance>(RESOURCES.kmeshInstance, ref.namespace, ref.instance),
      ownerOf(this.client, ref),
    ]);
    if (!instance) throw notFound(`KmeshInstance ${ref.namespace}/${ref.instance} does not exist`);
    if (!owner.object)
      throw notFound(`${owner.kind} ${ref.namespace}/${ref.virtualCopy ?? ref.dataFlow} does not exist`);
    if (owner.kind === 'VirtualCopy') {
      const ready = owner.object.status?.conditions?.find((c) => c.type === Conditions.Ready);
      if (ready?.status !== 'True')
        throw unavailable(
          `VirtualCopy ${ref.namespace}/${ref.virtualCopy} is not ready yet (${ready?.message ?? 'the Kmesh operator has not made the copy yet'}); the kubelet retries`,
        );
    }
    const { backend, mountSource } = await this.locate(instance, ref.namespace, ref.instance);
    return {
      backend,
      mountSource,
      accessPoint: owner.kind === 'DataFlow' ? accessPointOf(owner.object) : copyAccessPointOf(owner.object),
    };
  }

  async condition(ref: VolumeRef): Promise<VolumeCondition> {
    const owner = await ownerOf(this.client, ref);
    return volumeConditionOf(owner.kind, `${ref.namespace}/${ref.virtualCopy ?? ref.dataFlow}`, owner.object);
  }
}
