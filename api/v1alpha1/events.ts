/** Event reasons the operator records, defined once (CamelCase, as Kubernetes expects). */
export const EventReasons = {
  /** A child object (StatefulSet, Deployment, Service) was created. */
  Created: 'Created',
  /** A child object was changed to match the spec. */
  Updated: 'Updated',
  /** A child object that the spec no longer asks for was deleted. */
  Deleted: 'Deleted',
  /** The object became Ready. */
  Ready: 'Ready',
  /** Something the spec names does not exist (e.g. a Secret). */
  MissingDependency: 'MissingDependency',
  /** Part of the spec cannot be applied (e.g. removing OSSs). */
  SpecRefused: 'SpecRefused',
  /** A path in the spec is not allowed (outside the allowed host roots, or someone else's): nothing is created. */
  PathRefused: 'PathRefused',
  /** Autoscaling added an object storage server. */
  ScaledUp: 'ScaledUp',
  /** Deletion waits for dependents. */
  DeletionBlocked: 'DeletionBlocked',
  /** A reconcile failed; it is retried with backoff. */
  ReconcileError: 'ReconcileError',
  /** A DataFlow's peers reached the version last scanned. */
  Synced: 'Synced',
  /** A sync pass to a peer failed. */
  SyncFailed: 'SyncFailed',
  /** deleteAfterUse: the last volume went away and the data was deleted. */
  DataDeleted: 'DataDeleted',
  /** A Snapshot was taken and can be used. */
  SnapshotTaken: 'SnapshotTaken',
  /** A VirtualCopy's files are in place. */
  CopyMade: 'CopyMade',
  /** A snapshot or copy task failed; the kubelet retries it. */
  TaskFailed: 'TaskFailed',
  /** The spec sets fields this release does not act on (the Supported condition names them); once per change of that set. */
  NotSupported: 'NotSupported',
  /** deletionPolicy Retain: the snapshot's files stay where they are. */
  DataRetained: 'DataRetained',
} as const;
