/**
 * Condition types and reasons of the Kmesh kinds, defined once; which kind carries which type is in
 * docs/architecture.md#api (Reconciled: was the whole spec applied?).
 */

export const Conditions = {
  /** The object does what its spec asks, end to end. */
  Ready: 'Ready',
  /** KmeshInstance: the filesystem's servers (or directory) are up. */
  FilesystemReady: 'FilesystemReady',
  /** KmeshInstance: the sync gateway is serving (or is turned off). */
  GatewayReady: 'GatewayReady',
  /** Running, but with less than the spec asks (e.g. some servers down). */
  Degraded: 'Degraded',
  /** The whole spec was applied; False says which part was refused or cannot be applied yet. */
  Reconciled: 'Reconciled',
  /** KmeshInstance: status.capacity is current; Unknown until a component that mounts the filesystem reports it. */
  CapacityReported: 'CapacityReported',
  /** Deletion waits for dependents (DataFlows, Snapshots, VirtualCopies) to go first. */
  DeletionBlocked: 'DeletionBlocked',
  /** DataFlow: every peer it pushes to holds the version last scanned. */
  Synced: 'Synced',
  /** DataFlow: the last pass reached every peer it pushes to. */
  PeersConnected: 'PeersConnected',
  /** DataFlow: every source was ingested as scheduled. */
  SourcesIngested: 'SourcesIngested',
  /** DataFlow with policy.deleteAfterUse: the data was deleted after the last volume went away. */
  DataDeleted: 'DataDeleted',
  /** Snapshot: its files were copied to spec.exportTo. */
  Exported: 'Exported',
  /**
   * Every kind: this release acts on every field the spec sets. False (reason NotSupported) names
   * each field it does not act on (api/v1alpha1/support.ts); those fields are ignored, the rest works.
   */
  Supported: 'Supported',
} as const;

export const Reasons = {
  Ready: 'Ready',
  NotReady: 'NotReady',
  ServersReady: 'ServersReady',
  ServersNotReady: 'ServersNotReady',
  LocalDirectory: 'LocalDirectory',
  GatewayAvailable: 'GatewayAvailable',
  GatewayUnavailable: 'GatewayUnavailable',
  GatewayDisabled: 'GatewayDisabled',
  SecretNotFound: 'SecretNotFound',
  ScaleDownRefused: 'ScaleDownRefused',
  ImageNotConfigured: 'ImageNotConfigured',
  Applied: 'Applied',
  ApplyFailed: 'ApplyFailed',
  AwaitingReport: 'AwaitingReport',
  Healthy: 'Healthy',
  ServersDegraded: 'ServersDegraded',
  DependentsExist: 'DependentsExist',
  InstanceNotFound: 'InstanceNotFound',
  ModeNotSupported: 'ModeNotSupported',
  Suspended: 'Suspended',
  WorkerStarting: 'WorkerStarting',
  WorkerReporting: 'WorkerReporting',
  NoPeers: 'NoPeers',
  PeersReachable: 'PeersReachable',
  PeerUnreachable: 'PeerUnreachable',
  PeersInSync: 'PeersInSync',
  PeersBehind: 'PeersBehind',
  NoSources: 'NoSources',
  SourcesNotSupported: 'SourcesNotSupported',
  IngestFailed: 'IngestFailed',
  WriteBackFailed: 'WriteBackFailed',
  Ingested: 'Ingested',
  DeletionRequested: 'DeletionRequested',
  DataDeleted: 'DataDeleted',
  DataFlowNotFound: 'DataFlowNotFound',
  SnapshotNotFound: 'SnapshotNotFound',
  SnapshotNotReady: 'SnapshotNotReady',
  /** Snapshot: its task pod is copying the DataFlow's files. */
  Taking: 'Taking',
  SnapshotTaken: 'SnapshotTaken',
  /** VirtualCopy: its task pod is copying the source's files. */
  Copying: 'Copying',
  CopyMade: 'CopyMade',
  /** The task pod failed; the message has its error. */
  TaskFailed: 'TaskFailed',
  /** VirtualCopy: the copy would live on another instance than its source, which this release cannot do. */
  CrossSiteNotSupported: 'CrossSiteNotSupported',
  /**
   * A path that is someone else's: a VirtualCopy's or DataFlow's spec.path that is the root, Kmesh's
   * state, or used by a DataFlow or another copy; a local instance's directory another instance holds.
   */
  PathConflict: 'PathConflict',
  /** A source's ingest schedule is cron the API server accepts but that can never run (e.g. 0 0 31 2 *). */
  InvalidSchedule: 'InvalidSchedule',
  /** A local instance's spec.backend.local.path is not below a root the cluster admin allows (or its instance's is not). */
  PathNotAllowed: 'PathNotAllowed',
  /** A field the spec sets that this release does not act on; the message names it. */
  NotSupported: 'NotSupported',
  /** Supported: the release acts on every field the spec sets. */
  AllSupported: 'AllSupported',
} as const;

export type ConditionType = (typeof Conditions)[keyof typeof Conditions];
export type ConditionReason = (typeof Reasons)[keyof typeof Reasons];
