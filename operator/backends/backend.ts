/**
 * The filesystem behind a KmeshInstance, as the operator sees it: which children it needs, what
 * state they are in, and how a pod (the gateway, later the sync workers) reaches the filesystem.
 * One implementation per `spec.backend.type`, registered in `index.ts`; controllers only call this
 * interface, so adding a backend never touches them.
 */
import type { KmeshInstance, KmeshInstanceStatusServers } from '../../api/v1alpha1/index.js';
import type { ResourceType, WireObject } from '../../lib/kube/rest.js';
import type { OperatorSettings } from '../settings.js';

/** What a backend gets to decide with. */
export interface BackendContext {
  instance: KmeshInstance;
  settings: OperatorSettings;
  /** Children of this instance of `type` as they are in the cluster now. */
  observed(type: ResourceType): WireObject[];
  /** Every KmeshInstance the operator sees (a local directory must not be another instance's). */
  instances(): readonly KmeshInstance[];
}

/** Part of the spec the backend cannot apply, with a CamelCase reason and a message for a person. */
export interface Refusal {
  reason: string;
  message: string;
}

export interface FilesystemState {
  ready: boolean;
  reason: string;
  message: string;
  /** Set when the filesystem runs with fewer servers than asked. */
  degraded?: string;
  servers?: KmeshInstanceStatusServers;
  /** What clients mount; undefined until known. */
  mountSource?: string;
  /** OSS servers in the cluster now (Lustre), for scale-down checks and autoscaling. */
  ossServers?: number;
}

/** How a pod of this instance reaches its filesystem. */
export interface FilesystemAccess {
  volumes: WireObject[];
  volumeMounts: WireObject[];
  /** Pin the pod to this node (local backend with nodeName). */
  nodeName?: string;
  /** Mounting the filesystem from inside the pod needs privileges (Lustre client). */
  privileged: boolean;
  /** Containers to run first, e.g. to hand a hostPath directory to the non-root user. */
  initContainers: WireObject[];
  /** Environment the pod's container needs to find the filesystem. */
  env?: WireObject[];
}

export interface FilesystemBackend {
  /** The `spec.backend.type` this backend serves. */
  readonly type: string;
  /** Kinds of children it creates; the controller caches them. */
  readonly childTypes: readonly ResourceType[];
  /**
   * Why no pod may reach this filesystem as the spec stands (a host directory outside the allowed
   * roots, or another instance's): then nothing that mounts it is created or changed, by any
   * controller. Checked before `refuse`.
   */
  unsafe(context: BackendContext): Refusal | undefined;
  /** What of the spec cannot be applied now (checked before any child is changed). */
  refuse(context: BackendContext): Refusal | undefined;
  /** The children the filesystem needs, complete (server-side apply manages exactly these fields). */
  desired(context: BackendContext): WireObject[];
  observe(context: BackendContext): FilesystemState;
  /** Where pods mount the filesystem at `mountPath`; throws when `unsafe` refuses the spec. */
  access(context: BackendContext, mountPath: string): FilesystemAccess;
}
