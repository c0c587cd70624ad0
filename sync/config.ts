/**
 * Configuration files of `kmesh sync` (one worker per DataFlow) and `kmesh gateway` (one per
 * instance), as the operator renders them into ConfigMaps. Every problem is reported with the
 * path of the field, and the process exits rather than run half-configured.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { DEFAULT_PARALLELISM } from '../api/v1alpha1/data-flow.js';
import { parseDuration } from '../lib/duration.js';
import { parseBandwidth } from './wire/bandwidth.js';
import { checkPolicy, COMPRESSIONS, ENCRYPTIONS, type Compression, type Encryption, type SealPolicy } from './engine/seal.js';
import { PEER_DIRECTIONS, type PeerDirection, type ServedDataFlow } from './gateway/sites.js';
import type { AzureBlobSource } from './stores/azure-blob.js';
import type { PosixSource } from './stores/posix.js';
import type { S3Source } from './stores/s3.js';
import { parseSchedule } from './stores/schedule.js';

export class SyncConfigError extends Error {}

type Raw = Record<string, unknown>;

function obj(value: unknown, field: string): Raw {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new SyncConfigError(`${field}: must be a mapping`);
  return value as Raw;
}
function str(raw: Raw, key: string, field: string, fallback?: string): string {
  const value = raw[key] ?? fallback;
  if (typeof value !== 'string' || value === '') throw new SyncConfigError(`${field}.${key}: required string`);
  return value;
}
function int(raw: Raw, key: string, field: string, fallback: number, min: number, max: number): number {
  const value = raw[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw new SyncConfigError(`${field}.${key}: must be an integer from ${min} to ${max}`);
  return value;
}
function oneOf<T extends string>(raw: Raw, key: string, field: string, allowed: readonly T[], fallback: T): T {
  const value = (raw[key] ?? fallback) as T;
  if (!allowed.includes(value)) throw new SyncConfigError(`${field}.${key}: "${String(value)}" is not one of ${allowed.join(', ')}`);
  return value;
}
/** A peer's direction; bidirectional is refused by name, since acting on it would lose local edits. */
function direction(raw: Raw, field: string): PeerDirection {
  if (raw['direction'] === 'bidirectional') {
    throw new SyncConfigError(`${field}.direction: bidirectional is not supported (it needs multi-master conflict handling, which this release does not have); use push at one site and pull at the other`);
  }
  return oneOf<PeerDirection>(raw, 'direction', field, PEER_DIRECTIONS, 'push');
}
function list(raw: Raw, key: string, field: string): Raw[] {
  const value = raw[key] ?? [];
  if (!Array.isArray(value)) throw new SyncConfigError(`${field}.${key}: must be a list`);
  return value.map((v, i) => obj(v, `${field}.${key}[${i}]`));
}
function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof SyncConfigError) throw error;
    throw new SyncConfigError((error as Error).message, { cause: error });
  }
}

/** Encryption section: algorithm plus the file (a mounted Secret key) holding the raw key. */
function encryption(raw: Raw, field: string, compression: Compression): SealPolicy {
  const enc = obj(raw['encryption'], `${field}.encryption`);
  const algorithm = oneOf<Encryption>(enc, 'algorithm', `${field}.encryption`, ENCRYPTIONS, 'none');
  let key: Buffer | undefined;
  if (algorithm !== 'none') {
    const keyFile = str(enc, 'keyFile', `${field}.encryption`);
    try {
      key = readFileSync(keyFile);
    } catch (error) {
      throw new SyncConfigError(`${field}.encryption.keyFile: cannot read ${keyFile}: ${(error as Error).message}`);
    }
  }
  const policy: SealPolicy = { compression, encryption: algorithm, key };
  wrap(() => checkPolicy(policy, field));
  return policy;
}

export interface WorkerPeer {
  name: string;
  endpoint: string;
  remoteDataFlow: string;
  direction: PeerDirection;
  tlsDir: string;
  /** Subtrees (absolute paths in the DataFlow) the peer sees; unset: everything. */
  paths?: string[];
}

/** An external store the worker ingests from (spec.sources[] of the DataFlow). */
export interface WorkerSource {
  name: string;
  /** 'once', or a cron expression (see stores/schedule.ts). */
  schedule: string;
  /** Write changes made in `<tree>/<name>/` back to the store. */
  writeBack: boolean;
  s3?: S3Source;
  azureBlob?: AzureBlobSource;
  /** A mounted NFS export or PersistentVolumeClaim. */
  posix?: PosixSource;
}

export interface WorkerConfig {
  /** "<namespace>/<name>". */
  dataFlow: string;
  site: string;
  mode: 'async' | 'sync' | 'multiMaster';
  treeDir: string;
  stateDir: string;
  intervalMs: number;
  policy: SealPolicy;
  parallelism: number;
  bandwidthBytesPerSecond: number;
  peers: WorkerPeer[];
  statusPort: number;
  /** deleteAfterUse: delete the data here and at the peers once for this request (RFC 3339). */
  purgeRequestedAt?: string;
  sources: WorkerSource[];
  /** Lustre: read the MDT changelogs instead of scanning every pass. */
  changeFeed?: { type: 'lustre'; mount: string; mdts: string[]; user: string; treePrefix: string };
}

export function parseWorkerConfig(text: string): WorkerConfig {
  const raw = obj(wrap(() => parse(text) as unknown), 'config');
  const policyRaw = obj(raw['policy'], 'policy');
  const compression = oneOf<Compression>(policyRaw, 'compression', 'policy', COMPRESSIONS, 'none');
  const dataFlow = str(raw, 'dataFlow', 'config');
  if (!/^[^/]+\/[^/]+$/.test(dataFlow)) throw new SyncConfigError('config.dataFlow: must be <namespace>/<name>');
  return {
    dataFlow,
    site: str(raw, 'site', 'config'),
    mode: oneOf(raw, 'mode', 'config', ['async', 'sync', 'multiMaster'] as const, 'async'),
    treeDir: str(raw, 'treeDir', 'config'),
    stateDir: str(raw, 'stateDir', 'config'),
    intervalMs: wrap(() => parseDuration(typeof raw['interval'] === 'string' ? raw['interval'] : '10s', 'config.interval')),
    policy: encryption(policyRaw, 'policy', compression),
    parallelism: int(policyRaw, 'parallelism', 'policy', DEFAULT_PARALLELISM, 1, 64),
    bandwidthBytesPerSecond: wrap(() => parseBandwidth(policyRaw['bandwidthLimit'] as string | number | undefined, 'policy.bandwidthLimit')),
    peers: list(raw, 'peers', 'config').map((p, i) => {
      const field = `config.peers[${i}]`;
      const endpoint = str(p, 'endpoint', field);
      if (!/^[^\s:]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$/.test(endpoint)) throw new SyncConfigError(`${field}.endpoint: "${endpoint}" is not host:port`);
      return {
        name: str(p, 'name', field),
        endpoint,
        remoteDataFlow: str(p, 'remoteDataFlow', field, dataFlow),
        direction: direction(p, field),
        tlsDir: str(p, 'tlsDir', field),
        ...(p['paths'] !== undefined ? { paths: subtreePaths(p['paths'], `${field}.paths`) } : {}),
      };
    }),
    statusPort: int(raw, 'statusPort', 'config', 8080, 0, 65535),
    sources: list(raw, 'sources', 'config').map((src, i) => source(src, `config.sources[${i}]`)),
    ...(raw['purgeRequestedAt'] !== undefined ? { purgeRequestedAt: time(raw, 'purgeRequestedAt', 'config') } : {}),
    ...(raw['changeFeed'] !== undefined ? { changeFeed: changeFeed(obj(raw['changeFeed'], 'config.changeFeed')) } : {}),
  };
}

function source(raw: Raw, field: string): WorkerSource {
  const schedule = str(raw, 'schedule', field, 'once');
  try {
    parseSchedule(schedule);
  } catch (error) {
    throw new SyncConfigError(`${field}.schedule: ${(error as Error).message}`, { cause: error });
  }
  const writeBack = raw['writeBack'] ?? false;
  if (typeof writeBack !== 'boolean') throw new SyncConfigError(`${field}.writeBack: must be true or false`);
  const common = { name: str(raw, 'name', field), schedule, writeBack };
  const optional = (section: Raw, key: string, at: string) => (section[key] === undefined ? {} : { [key]: str(section, key, at) });
  if (raw['s3'] !== undefined) {
    const s3 = obj(raw['s3'], `${field}.s3`);
    const forcePathStyle = s3['forcePathStyle'];
    if (forcePathStyle !== undefined && typeof forcePathStyle !== 'boolean') throw new SyncConfigError(`${field}.s3.forcePathStyle: must be true or false`);
    const at = `${field}.s3`;
    return {
      ...common,
      s3: { bucket: str(s3, 'bucket', at), ...optional(s3, 'endpoint', at), ...optional(s3, 'prefix', at), ...optional(s3, 'region', at), ...optional(s3, 'credentialsDir', at), ...(forcePathStyle !== undefined ? { forcePathStyle } : {}) },
    };
  }
  if (raw['azureBlob'] !== undefined) {
    const blob = obj(raw['azureBlob'], `${field}.azureBlob`);
    const at = `${field}.azureBlob`;
    return { ...common, azureBlob: { container: str(blob, 'container', at), ...optional(blob, 'endpoint', at), ...optional(blob, 'account', at), ...optional(blob, 'prefix', at), ...optional(blob, 'credentialsDir', at) } };
  }
  if (raw['posix'] !== undefined) return { ...common, posix: { dir: str(obj(raw['posix'], `${field}.posix`), 'dir', `${field}.posix`) } };
  throw new SyncConfigError(`${field}: no store; set one of s3, azureBlob, posix`);
}

function subtreePaths(value: unknown, field: string): string[] {
  if (!Array.isArray(value)) throw new SyncConfigError(`${field}: must be a list of absolute paths`);
  return value.map((path, i) => {
    if (typeof path !== 'string' || !path.startsWith('/') || path.split('/').some((part) => part === '..' || part === '.')) {
      throw new SyncConfigError(`${field}[${i}]: "${String(path)}" is not an absolute path inside the DataFlow`);
    }
    return path;
  });
}

function changeFeed(raw: Raw): NonNullable<WorkerConfig['changeFeed']> {
  const field = 'config.changeFeed';
  oneOf(raw, 'type', field, ['lustre'] as const, 'lustre');
  const mdts = raw['mdts'];
  if (!Array.isArray(mdts) || !mdts.length || !mdts.every((m) => typeof m === 'string' && m)) throw new SyncConfigError(`${field}.mdts: a non-empty list of MDT names, e.g. [kmfs-MDT0000]`);
  return { type: 'lustre', mount: str(raw, 'mount', field), mdts: mdts as string[], user: str(raw, 'user', field), treePrefix: str(raw, 'treePrefix', field) };
}

function time(raw: Raw, key: string, field: string): string {
  const value = str(raw, key, field);
  if (Number.isNaN(Date.parse(value))) throw new SyncConfigError(`${field}.${key}: "${value}" is not an RFC 3339 time`);
  return value;
}

export interface GatewayConfig {
  host: string;
  port: number;
  tlsDir: string;
  metricsPort: number;
  /** The instance's filesystem, whose capacity /capacity reports; unset: no report. */
  filesystem?: string;
  dataFlows: ServedDataFlow[];
}

export function parseGatewayConfig(text: string): GatewayConfig {
  const raw = obj(wrap(() => parse(text) as unknown), 'config');
  return {
    host: str(raw, 'host', 'config', '0.0.0.0'),
    port: int(raw, 'port', 'config', 7443, 0, 65535),
    tlsDir: str(raw, 'tlsDir', 'config'),
    metricsPort: int(raw, 'metricsPort', 'config', 8080, 0, 65535),
    ...(raw['filesystem'] !== undefined ? { filesystem: str(raw, 'filesystem', 'config') } : {}),
    dataFlows: list(raw, 'dataFlows', 'config').map((d, i) => {
      const field = `config.dataFlows[${i}]`;
      const policy = encryption(d, field, 'none');
      return {
        name: str(d, 'name', field),
        treeDir: str(d, 'treeDir', field),
        stateDir: str(d, 'stateDir', field),
        deletedRetentionMs: wrap(() => parseDuration(typeof d['deletedRetention'] === 'string' ? d['deletedRetention'] : '168h', `${field}.deletedRetention`)),
        peers: list(d, 'peers', field).map((p, j) => ({
          name: str(p, 'name', `${field}.peers[${j}]`),
          direction: direction(p, `${field}.peers[${j}]`),
        })),
        encryption: policy.encryption,
        key: policy.key,
      };
    }),
  };
}
