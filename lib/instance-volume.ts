/**
 * The one way Kmesh's own pods (gateway, sync workers, snapshot and copy tasks) reach an instance's
 * filesystem: a CSI ephemeral (inline) volume of the Kmesh driver naming the instance. The node
 * plugin mounts the filesystem with the same code that serves application volumes (a bind of the
 * local directory, or a Lustre client mount) and binds its root into the pod. The operator renders
 * the volume and the node plugin reads it, both through this module
 * (docs/architecture.md#how-kmesh-pods-reach-a-filesystem).
 *
 * The instance is looked up in the pod's own namespace (the kubelet tells the plugin which), so a
 * pod can only ever mount the root of an instance of its namespace (docs/security.md).
 */
import { isDnsSubdomain } from '../api/v1alpha1/index.js';
import type { WireObject } from './kube/rest.js';

/** volumeAttributes key naming the KmeshInstance. */
const INSTANCE_ATTRIBUTE = 'kmesh.io/instance';
/** Set by the kubelet on NodePublishVolume of an inline volume. */
const EPHEMERAL_KEY = 'csi.storage.k8s.io/ephemeral';
/** Set by the kubelet when the CSIDriver has podInfoOnMount. */
const POD_NAMESPACE_KEY = 'csi.storage.k8s.io/pod.namespace';

/** The pod volume that mounts `instance`'s filesystem root. */
export function instanceRootVolume(name: string, driverName: string, instance: string): WireObject {
  return { name, csi: { driver: driverName, volumeAttributes: { [INSTANCE_ATTRIBUTE]: instance } } };
}

/** What an inline volume asks for: the root of `instance` in `namespace`. */
export interface InstanceRootRequest {
  namespace: string;
  instance: string;
}

/**
 * The instance-root request in a NodePublishVolume's volume context; undefined for a persistent
 * volume. Throws (with the key) when it is inline but malformed.
 */
export function instanceRootRequest(context: Record<string, string> | undefined): InstanceRootRequest | undefined {
  if (context?.[EPHEMERAL_KEY] !== 'true') return undefined;
  const instance = context[INSTANCE_ATTRIBUTE];
  const namespace = context[POD_NAMESPACE_KEY];
  if (!instance)
    throw new Error(
      `volume_context.${INSTANCE_ATTRIBUTE}: an inline Kmesh volume must name the KmeshInstance whose filesystem it mounts`,
    );
  if (!namespace)
    throw new Error(
      `volume_context.${POD_NAMESPACE_KEY}: the kubelet did not say which namespace the pod is in (the CSIDriver needs podInfoOnMount: true)`,
    );
  if (!isDnsSubdomain(instance))
    throw new Error(`volume_context.${INSTANCE_ATTRIBUTE}: "${instance}" is not a KmeshInstance name`);
  return { namespace, instance };
}
