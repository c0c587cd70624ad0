/**
 * The configuration document of `kmesh sync`, the worker of one DataFlow: what the operator
 * renders into the worker's ConfigMap (operator/controllers/data-flow/worker.ts returns a
 * `WorkerConfigDocument`) and what the worker reads (sync/config.ts `parseWorkerConfig`). Each
 * field, enum and default is declared here once; the enums and the API's defaults come from
 * api/v1alpha1, so the CRD, the operator and the worker cannot drift apart.
 */
import { z } from 'zod';
import { COMPRESSION, DEFAULT_COMPRESSION } from '../v1alpha1/common.js';
import {
  DATA_FLOW_MODES,
  DEFAULT_DATA_FLOW_MODE,
  DEFAULT_INGEST_SCHEDULE,
  DEFAULT_PARALLELISM,
  DEFAULT_PEER_DIRECTION,
  MAX_PARALLELISM,
  SYNCED_PEER_DIRECTIONS,
} from '../v1alpha1/data-flow.js';
import { bytes, durationMs, encryption, hostPort, integer, namespacedName, port, text, time } from './fields.js';

/** How often the worker scans when the document does not say (the operator's --sync-interval default). */
export const DEFAULT_SYNC_INTERVAL = '10s';
/**
 * How long a pass waits for a peer's gateway to answer, and for a bulk stream's acknowledgements,
 * before it fails and is retried: a cut link drops packets silently, and TCP alone would wait minutes.
 */
export const DEFAULT_CONNECT_TIMEOUT = '15s';
export const DEFAULT_STALL_TIMEOUT = '30s';
/** Port of the worker's /status, /metrics and health endpoints when the document does not say. */
export const DEFAULT_WORKER_STATUS_PORT = 8080;

/** A peer's direction as the data plane takes it; `bidirectional` is refused by name. */
export const peerDirection = () =>
  z
    .enum(SYNCED_PEER_DIRECTIONS, {
      error: (issue) =>
        issue.input === 'bidirectional'
          ? 'bidirectional is not supported (it needs multi-master conflict handling, which this release does not have); use push at one site and pull at the other'
          : undefined,
    })
    .default(DEFAULT_PEER_DIRECTION);

/** A subtree of the DataFlow, written as an absolute path without `.` or `..` (spec.peers[].paths). */
export const subtree = z
  .string()
  .refine((path) => path.startsWith('/') && !path.split('/').some((part) => part === '..' || part === '.'), {
    error: (issue) => `"${String(issue.input)}" is not an absolute path inside the DataFlow`,
  });

const peer = z.strictObject({
  /** The peer site; its gateway's certificate carries this name. */
  name: text(),
  endpoint: hostPort(),
  /** `<namespace>/<name>` of the DataFlow at the peer; unset: the same as this one. */
  remoteDataFlow: namespacedName().optional(),
  direction: peerDirection(),
  /** Directory of the peer's TLS Secret (tls.crt, tls.key, ca.crt). */
  tlsDir: text(),
  /** Subtrees the peer sees; unset: everything. */
  paths: z.array(subtree).optional(),
});

/** Directory of a mounted credentials Secret. */
const credentialsDir = text().optional();

const s3Location = z.strictObject({
  bucket: text(),
  endpoint: text().optional(),
  prefix: text().optional(),
  region: text().optional(),
  forcePathStyle: z.boolean().optional(),
  credentialsDir,
});

const azureBlobLocation = z.strictObject({
  container: text(),
  endpoint: text().optional(),
  account: text().optional(),
  prefix: text().optional(),
  credentialsDir,
});

/** A mounted NFS export or PersistentVolumeClaim. */
const posixLocation = z.strictObject({
  /** Where the export or claim is mounted in the worker. */
  dir: text(),
});

const STORES = ['s3', 'azureBlob', 'posix'] as const;

const source = z
  .strictObject({
    name: text(),
    /** 'once', or a cron expression (sync/stores/schedule.ts reads it). */
    schedule: text().default(DEFAULT_INGEST_SCHEDULE),
    /** Write changes made in `<tree>/<name>/` back to the store. */
    writeBack: z.boolean().default(false),
    s3: s3Location.optional(),
    azureBlob: azureBlobLocation.optional(),
    posix: posixLocation.optional(),
  })
  .superRefine((value, context) => {
    const set = STORES.filter((store) => value[store] !== undefined);
    if (set.length !== 1)
      context.addIssue({
        code: 'custom',
        message: set.length
          ? `sets ${set.join(' and ')}; set exactly one store`
          : `no store; set one of ${STORES.join(', ')}`,
      });
  });

const policy = z.strictObject({
  compression: z.enum(COMPRESSION).default(DEFAULT_COMPRESSION),
  encryption: encryption().prefault({}),
  /** Bulk TLS streams to each peer. */
  parallelism: integer(1, MAX_PARALLELISM).default(DEFAULT_PARALLELISM),
  /** Upper bound on bytes per second sent; unset or 0: unlimited. */
  bandwidthLimit: bytes().optional(),
});

/** Lustre: read the MDT changelogs instead of scanning every pass. */
const lustreFeed = z.strictObject({
  type: z.literal('lustre').default('lustre'),
  mount: text(),
  mdts: z
    .array(text(), { error: 'a non-empty list of MDT names, e.g. [kmfs-MDT0000]' })
    .min(1, { error: 'a non-empty list of MDT names, e.g. [kmfs-MDT0000]' }),
  user: text(),
  treePrefix: text(),
});

/** The Kmesh filesystem: read the change journals of the mounts serving the tree (fs/journal.ts). */
const journalFeed = z.strictObject({
  type: z.literal('journal'),
  /** The directory the mounts write their journals in. */
  dir: text(),
});

const changeFeed = z.union([journalFeed, lustreFeed]);

export const workerConfigSchema = z.strictObject({
  /** `<namespace>/<name>` of the DataFlow. */
  dataFlow: namespacedName(),
  /** This site: the KmeshInstance's name. */
  site: text(),
  mode: z.enum(DATA_FLOW_MODES).default(DEFAULT_DATA_FLOW_MODE),
  treeDir: text(),
  stateDir: text(),
  /** How often to scan for changes. */
  interval: durationMs().prefault(DEFAULT_SYNC_INTERVAL),
  /** A peer's gateway that does not answer within this fails the pass. */
  connectTimeout: durationMs().prefault(DEFAULT_CONNECT_TIMEOUT),
  /** A bulk stream with chunks unacknowledged for this long fails the pass. */
  stallTimeout: durationMs().prefault(DEFAULT_STALL_TIMEOUT),
  statusPort: port().default(DEFAULT_WORKER_STATUS_PORT),
  policy: policy.prefault({}),
  peers: z.array(peer).default([]),
  sources: z.array(source).default([]),
  /** deleteAfterUse: delete the data here and at the peers once for this request. */
  purgeRequestedAt: time().optional(),
  changeFeed: changeFeed.optional(),
});

/** The worker config as the operator renders it (the YAML document; defaulted fields may be left out). */
export type WorkerConfigDocument = z.input<typeof workerConfigSchema>;
/** The worker config as read: defaults filled in, `interval` in ms, `bandwidthLimit` in bytes/s. */
export type WorkerConfigFields = z.output<typeof workerConfigSchema>;
export type WorkerPeerDocument = z.input<typeof peer>;
export type WorkerSourceDocument = z.input<typeof source>;
export type S3Location = z.output<typeof s3Location>;
export type AzureBlobLocation = z.output<typeof azureBlobLocation>;
export type PosixLocation = z.output<typeof posixLocation>;
