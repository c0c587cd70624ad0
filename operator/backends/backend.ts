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

/**
 * How a pod of this instance reaches its filesystem: always an inline volume of the Kmesh CSI
 * driver (lib/instance-volume.ts), so the node plugin's one mount code serves Kmesh's pods and
 * applications alike; a backend only adds where the pod must run.
 */
export interface FilesystemAccess {
  volumes: WireObject[];
  volumeMounts: WireObject[];
  /** Pin the pod to this node (local backend with nodeName). */
  nodeName?: string;
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
  /** The node every pod that uses the filesystem must run on, if one (a local directory on one node). */
  nodeFor(context: BackendContext): string | undefined;
}
