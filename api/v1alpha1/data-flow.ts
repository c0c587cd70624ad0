/** DataFlow: a synchronized, mountable namespace (docs/architecture.md#dataflow). */
import { array, boolean, describe, enumeration, integer, named, object, required, string } from '../schema.js';
import {
  absolutePath,
  accessPointPath,
  accessPointStatus,
  azureBlobLocation,
  COMPRESSION,
  conditions,
  DEFAULT_COMPRESSION,
  cronSchedule,
  duration,
  hostPort,
  listKeyName,
  localRef,
  nfsLocation,
  objectName,
  observedGeneration,
  quantity,
  s3Location,
  secretKeyRef,
  secretRef,
  snapshotHooks,
  storeTarget,
} from './common.js';
import type { KindDefinition } from './kind.js';
import { STATE_PATH } from './paths.js';

/** Bulk streams per peer when policy.parallelism is unset (measured: BENCHMARKS.md, sync). */
export const DEFAULT_PARALLELISM = 16;

/** Most bulk streams per peer (policy.parallelism). */
export const MAX_PARALLELISM = 64;

/** Encryption algorithms for data in flight. */
export const ENCRYPTION_ALGORITHMS = ['none', 'aes-128-gcm', 'aes-192-gcm', 'aes-256-gcm'] as const;
export const DEFAULT_ENCRYPTION_ALGORITHM = 'none' satisfies (typeof ENCRYPTION_ALGORITHMS)[number];

/** Consistency modes of a DataFlow (spec.mode). */
export const DATA_FLOW_MODES = ['async', 'sync', 'multiMaster'] as const;
export const DEFAULT_DATA_FLOW_MODE = 'async' satisfies (typeof DATA_FLOW_MODES)[number];

/** Directions of a peer (spec.peers[].direction). */
export const PEER_DIRECTIONS = ['push', 'pull', 'bidirectional'] as const;
/**
 * Directions the data plane acts on. `bidirectional` is refused: it needs multi-master conflict
 * handling, without which a receiver would replace local edits with the sender's files
 * (support.ts `unsupportedDataFlowFields`).
 */
export const SYNCED_PEER_DIRECTIONS = ['push', 'pull'] as const satisfies readonly (typeof PEER_DIRECTIONS)[number][];
export const DEFAULT_PEER_DIRECTION = 'push' satisfies (typeof SYNCED_PEER_DIRECTIONS)[number];

/** How long deleted files stay in the peers' quarantine (policy.deletedRetention). */
export const DEFAULT_DELETED_RETENTION = '168h';

/** How a source is brought in (spec.sources[].access): copy, all data up front. */
export const DEFAULT_SOURCE_ACCESS = 'copy';

/** When a source is read (spec.sources[].ingest.schedule): once, when the DataFlow is created. */
export const DEFAULT_INGEST_SCHEDULE = 'once';

const peer = named(
  'DataFlowPeer',
  object(
    'Another site that holds the same DataFlow.',
    {
      name: listKeyName(
        'Short name of the peer site, unique in this DataFlow (e.g. azure-west). It is also the peer’s identity: its gateway or worker certificate must carry this name as subject CN or DNS SAN.',
      ),
      endpoint: required(hostPort('host:port of the peer site’s gateway.')),
      remoteDataFlow: string(
        'DataFlow at the peer, as namespace/name or name; defaults to this DataFlow’s namespace and name.',
        {
          maxLength: 317,
          pattern:
            '^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
        },
      ),
      direction: enumeration(
        'push: this site’s sync worker sends local changes to the peer’s gateway. pull: this site’s gateway accepts the peer’s changes (the peer pushes). bidirectional: both, which needs multi-master conflict handling and is refused until it exists.',
        PEER_DIRECTIONS,
        { default: DEFAULT_PEER_DIRECTION },
      ),
      tlsSecretRef: required(
        secretRef(
          'Secret of type kubernetes.io/tls with tls.crt, tls.key and ca.crt: this site’s client identity and the CA that signs the peer.',
        ),
      ),
      paths: array(
        'Subtrees (relative to the DataFlow root, written as absolute paths) visible at this peer; unset means everything.',
        // Bounded so the API server's CEL cost estimate for the path rule stays within budget.
        absolutePath('A subtree, e.g. /models.', { maxLength: 1024 }),
        { maxItems: 32, 'x-kubernetes-list-type': 'set' },
      ),
    },
    {
      rules: [
        {
          rule: "!has(self.direction) || self.direction != 'bidirectional'",
          message:
            'direction bidirectional is not supported yet: it needs multi-master conflict handling, without which local edits would be overwritten; use push at one site and pull at the other',
          fieldPath: '.direction',
        },
      ],
    },
  ),
);

const sourceKinds = ['s3', 'azureBlob', 'nfs', 'pvc'] as const;

const source = named(
  'DataFlowSource',
  object(
    'An external store whose data is brought into the DataFlow.',
    {
      name: listKeyName('Short name of the source, unique in this DataFlow (e.g. raw-images).'),
      s3: describe(s3Location, 'Ingest from this S3 bucket.'),
      azureBlob: describe(azureBlobLocation, 'Ingest from this Azure Blob container.'),
      nfs: describe(nfsLocation, 'Ingest from this NFS export.'),
      pvc: object('Ingest from a PersistentVolumeClaim in this namespace.', {
        claimName: required(objectName('Name of the PersistentVolumeClaim.')),
      }),
      ingest: object(
        'When the source is read.',
        {
          schedule: cronSchedule(
            "'once' to ingest when the DataFlow is created, or a cron expression to ingest again on that schedule.",
            { allowOnce: true, default: DEFAULT_INGEST_SCHEDULE },
          ),
        },
        { default: {} },
      ),
      writeBack: boolean('Also write changes made in the DataFlow back to the source, on request.', { default: false }),
      access: enumeration(
        'copy brings all data in up front; cache fetches a file’s data on first read.',
        ['copy', 'cache'],
        { default: DEFAULT_SOURCE_ACCESS },
      ),
    },
    {
      rules: [
        {
          rule: `[${sourceKinds.map((k) => `has(self.${k})`).join(', ')}].filter(x, x).size() == 1`,
          message: `a source sets exactly one of ${sourceKinds.join(', ')}`,
        },
      ],
    },
  ),
);

const policy = object(
  'How data moves between sites and stores.',
  {
    compression: enumeration('Compression of chunks on the wire.', COMPRESSION, { default: DEFAULT_COMPRESSION }),
    encryption: object(
      'Encryption of chunks on the wire (on top of mutual TLS), so relays and stores never see plaintext.',
      {
        algorithm: enumeration('AEAD cipher for each chunk.', ENCRYPTION_ALGORITHMS, {
          default: DEFAULT_ENCRYPTION_ALGORITHM,
        }),
        keySecretRef: secretKeyRef('Secret holding the key (16, 24 or 32 bytes for AES-128/192/256).', 'key'),
      },
      {
        rules: [
          {
            rule: "self.algorithm == 'none' || has(self.keySecretRef)",
            message: 'encryption algorithm other than none needs keySecretRef naming the Secret with the key',
            fieldPath: '.keySecretRef',
            reason: 'FieldValueRequired',
          },
        ],
      },
    ),
    dedup: boolean('Send a chunk only if the receiver does not already hold it, across files and DataFlows.', {
      default: true,
    }),
    deleteAfterUse: boolean('Delete the DataFlow’s data at this site once no volume mounts it any more.', {
      default: false,
    }),
    bandwidthLimit: quantity(
      'Upper bound on bytes per second sent by this DataFlow, e.g. 100Mi; unset means unlimited.',
    ),
    parallelism: integer(
      'Bulk TLS streams to each peer, one chunk in flight on each (so also the most a cut link can cost in re-sent chunks). More streams keep a long link full: 16 reached 89–100% of loopback throughput at 20 ms RTT, 4 reached 63–71%.',
      { minimum: 1, maximum: MAX_PARALLELISM, default: DEFAULT_PARALLELISM },
    ),
    deletedRetention: duration('How long deleted files are kept in a quarantine at the peers before they vanish.', {
      default: DEFAULT_DELETED_RETENTION,
    }),
  },
  { default: {} },
);

const retentionCount = (tier: string, keep: number): ReturnType<typeof integer> =>
  integer(`${tier} snapshots to keep; 0 takes none of this tier.`, { minimum: 0, maximum: 1000, default: keep });

const snapshots = object('Scheduled Snapshots of this DataFlow.', {
  retention: object(
    'A snapshot is taken at the start of every hour, day, week and month whose count is above 0, and the oldest beyond the count are deleted.',
    {
      hourly: retentionCount('Hourly', 24),
      daily: retentionCount('Daily', 7),
      weekly: retentionCount('Weekly', 5),
      monthly: retentionCount('Monthly', 12),
    },
    { default: {} },
  ),
  hooks: snapshotHooks,
  exportTo: storeTarget('Also copy every scheduled snapshot to this external store.', { nfs: true }),
});

const spec = object(
  'Desired state of the DataFlow.',
  {
    instanceRef: required(localRef('KmeshInstance', 'The KmeshInstance (data node) at this site that holds the data.')),
    path: accessPointPath(
      `Access point inside the instance’s filesystem; defaults to /dataflows/<name>. Not / nor under ${STATE_PATH}. Cannot change after creation.`,
    ),
    mode: enumeration(
      'async: changes are batched and shipped every few seconds. sync: a write counts as done when the peers have it. multiMaster: every site writes; concurrent edits are resolved deterministically and the losing version kept as a conflict copy.',
      DATA_FLOW_MODES,
      { default: DEFAULT_DATA_FLOW_MODE },
    ),
    peers: array('Other sites that hold this DataFlow.', peer, {
      maxItems: 32,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    }),
    sources: array('External stores whose data is brought into this DataFlow.', source, {
      maxItems: 32,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    }),
    policy,
    cache: object('Local cache for sources and peers read with access cache.', {
      size: quantity('Space the cache may use, e.g. 100Gi.'),
      prefetch: boolean('Fetch whole directories in the background once a file in them is read.', { default: false }),
      eviction: enumeration('Which cached data is dropped first when the cache is full.', ['lru', 'lfu'], {
        default: 'lru',
      }),
    }),
    snapshots,
    suspend: boolean('Stop syncing and ingesting (the data stays mountable); false resumes.', { default: false }),
  },
  {
    rules: [
      {
        rule: "self.mode == 'async' || (has(self.peers) && size(self.peers) > 0)",
        message: 'mode sync and multiMaster need at least one peer',
        fieldPath: '.peers',
        reason: 'FieldValueRequired',
      },
      {
        rule: 'has(self.path) == has(oldSelf.path) && (!has(self.path) || self.path == oldSelf.path)',
        message: 'path cannot be set, changed or removed after creation',
        fieldPath: '.path',
      },
      {
        rule: 'self.instanceRef.name == oldSelf.instanceRef.name',
        message: 'instanceRef cannot be changed after creation; create a new DataFlow',
        fieldPath: '.instanceRef.name',
      },
    ],
  },
);

const transfer = object('Totals of data moved by this DataFlow since it was created.', {
  logicalBytes: integer('Bytes of file content synchronized.', { minimum: 0 }),
  wireBytes: integer('Bytes actually sent or received after dedup and compression.', { minimum: 0 }),
  dedupSavedBytes: integer('Bytes not sent because the receiver already had the chunks.', { minimum: 0 }),
  compressionSavedBytes: integer('Bytes saved by compression.', { minimum: 0 }),
  files: integer('Files synchronized.', { minimum: 0 }),
  bytesPerSecond: integer('Current transfer rate.', { minimum: 0 }),
});

const status = object('Observed state of the DataFlow, written by the operator.', {
  observedGeneration,
  phase: enumeration('Summary of the state.', [
    'Pending',
    'Syncing',
    'Ready',
    'Degraded',
    'Suspended',
    'Deleting',
    'Failed',
  ]),
  conditions: describe(
    conditions,
    'Ready, Synced, PeersConnected and SourcesIngested, in the standard Kubernetes shape.',
  ),
  accessPoint: accessPointStatus,
  peers: array(
    'Sync state per peer.',
    object('Sync state of one peer.', {
      name: required(string('Name of the peer in spec.peers.')),
      connected: boolean('A session with the peer’s gateway is open.'),
      lastSyncTime: string('When the peer last held every change made before that moment.', { format: 'date-time' }),
      lagSeconds: integer('Age of the oldest change the peer does not have yet.', { minimum: 0 }),
      pendingBytes: integer('Bytes still to send to or fetch from the peer.', { minimum: 0 }),
    }),
    { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] },
  ),
  sources: array(
    'Ingest state per source.',
    object('Ingest state of one source.', {
      name: required(string('Name of the source in spec.sources.')),
      lastIngest: string('When the last ingest finished.', { format: 'date-time' }),
      nextIngest: string('When the next scheduled ingest starts.', { format: 'date-time' }),
      result: object('Outcome of the last ingest.', {
        outcome: enumeration('Whether the last ingest succeeded.', ['Succeeded', 'Failed']),
        message: string('Details, e.g. the error of a failed ingest.'),
        files: integer('Files ingested.', { minimum: 0 }),
        bytes: integer('Bytes ingested.', { minimum: 0 }),
      }),
      writeBack: object(
        'Write-back to the source (spec.sources[].writeBack): counts since the worker first ran, and the last attempt.',
        {
          lastWriteBack: string('When a change was last written back.', { format: 'date-time' }),
          outcome: enumeration('Whether the last attempt wrote back every change.', ['Succeeded', 'Failed']),
          message: string('Details: files not written back and why, or conflicts kept.'),
          files: integer('Files written to the source.', { minimum: 0 }),
          bytes: integer('Bytes written to the source.', { minimum: 0 }),
          removed: integer('Objects removed from the source because they were deleted in the DataFlow.', {
            minimum: 0,
          }),
          conflicts: integer(
            'Local changes kept as <name>.kmesh-conflict-<time> because the source changed the same object.',
            { minimum: 0 },
          ),
        },
      ),
    }),
    { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] },
  ),
  transfer,
  activeMounts: integer('Volumes that currently mount this DataFlow.', { minimum: 0 }),
});

export const dataFlow: KindDefinition = {
  kind: 'DataFlow',
  plural: 'dataflows',
  singular: 'dataflow',
  shortNames: ['df'],
  description:
    'A synchronized, mountable namespace: one dataset kept in sync between sites and external stores, mounted through a PersistentVolumeClaim.',
  spec,
  status,
  printerColumns: [
    {
      name: 'Instance',
      type: 'string',
      jsonPath: '.spec.instanceRef.name',
      description: 'KmeshInstance holding the data.',
    },
    { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'Consistency mode.' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Summary of the state.' },
    {
      name: 'Ready',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="Ready")].status',
      description: 'Ready condition.',
    },
    {
      name: 'Synced',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="Synced")].status',
      description: 'Synced condition.',
    },
    { name: 'Mounts', type: 'integer', jsonPath: '.status.activeMounts', description: 'Volumes that mount it now.' },
  ],
};
