/**
 * Configuration files of `kmesh sync` (one worker per DataFlow) and `kmesh gateway` (one per
 * instance), as the operator renders them into ConfigMaps. The documents are declared once, in
 * api/sync-config/; here each is checked against its schema and then resolved into what the
 * process runs with: fields renamed to carry their units, key files read. Every problem is
 * reported with the path of the field, and the process exits rather than run half-configured.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { output, ZodType } from 'zod';
import { readDocument, type EncryptionFields } from '../api/sync-config/fields.js';
import { cacheConfigSchema, type CacheConfigFields } from '../api/sync-config/cache.js';
import { gatewayConfigSchema, type GatewayConfigFields } from '../api/sync-config/gateway.js';
import { workerConfigSchema, type WorkerConfigFields } from '../api/sync-config/worker.js';
import { checkKey, type Compression, type SealPolicy } from './engine/seal.js';
import type { ServedDataFlow } from './gateway/sites.js';
import { parseSchedule } from './stores/schedule.js';

export class SyncConfigError extends Error {}

/** A peer the worker sends to or that sends here, as the worker runs with it. */
export type WorkerPeer = Omit<WorkerConfigFields['peers'][number], 'remoteDataFlow'> & {
  /** `<namespace>/<name>` of the DataFlow at the peer. */
  remoteDataFlow: string;
};

/** An external store the worker ingests from (spec.sources[] of the DataFlow). */
export type WorkerSource = WorkerConfigFields['sources'][number];

/** The worker's configuration as it runs: the document resolved (see parseWorkerConfig). */
export interface WorkerConfig extends Omit<
  WorkerConfigFields,
  'interval' | 'connectTimeout' | 'stallTimeout' | 'policy' | 'peers'
> {
  intervalMs: number;
  connectTimeoutMs: number;
  stallTimeoutMs: number;
  policy: SealPolicy;
  parallelism: number;
  /** 0: unlimited. */
  bandwidthBytesPerSecond: number;
  peers: WorkerPeer[];
}

/** The gateway's configuration as it runs: the document resolved (see parseGatewayConfig). */
export interface GatewayConfig extends Omit<GatewayConfigFields, 'dataFlows'> {
  dataFlows: ServedDataFlow[];
}

/** The YAML text as a document of `schema`: checked, defaults filled in, durations and quantities read. */
function read<S extends ZodType>(text: string, schema: S): output<S> {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new SyncConfigError(`config: not YAML: ${(error as Error).message}`, { cause: error });
  }
  const result = readDocument(schema, document);
  if (!result.ok) throw new SyncConfigError(result.problems.join('; '));
  return result.value;
}

/** Runs `fn`, turning its error into one that names `field`. */
function at<T>(field: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw new SyncConfigError(`${field}: ${(error as Error).message}`, { cause: error });
  }
}

/** The seal policy of one DataFlow: the key read from its file and checked against the algorithm. */
function sealPolicy(encryption: EncryptionFields, compression: Compression, field: string): SealPolicy {
  const { algorithm, keyFile } = encryption;
  if (algorithm === 'none' || keyFile === undefined) return { compression, encryption: algorithm };
  const key = at(`${field}.keyFile`, () => readFileSync(keyFile));
  at(`${field}.keyFile`, () => checkKey(algorithm, key));
  return { compression, encryption: algorithm, key };
}

export function parseWorkerConfig(text: string): WorkerConfig {
  const { interval, connectTimeout, stallTimeout, policy, peers, ...rest } = read(text, workerConfigSchema);
  rest.sources.forEach((source, i) => at(`sources[${i}].schedule`, () => parseSchedule(source.schedule)));
  return {
    ...rest,
    intervalMs: interval,
    connectTimeoutMs: connectTimeout,
    stallTimeoutMs: stallTimeout,
    policy: sealPolicy(policy.encryption, policy.compression, 'policy.encryption'),
    parallelism: policy.parallelism,
    bandwidthBytesPerSecond: policy.bandwidthLimit ?? 0,
    peers: peers.map((peer) => ({ ...peer, remoteDataFlow: peer.remoteDataFlow ?? rest.dataFlow })),
  };
}

export function parseGatewayConfig(text: string): GatewayConfig {
  const { dataFlows, ...rest } = read(text, gatewayConfigSchema);
  return {
    ...rest,
    dataFlows: dataFlows.map(({ deletedRetention, encryption, ...served }, i) => {
      const { encryption: algorithm, key } = sealPolicy(encryption, 'none', `dataFlows[${i}].encryption`);
      return { ...served, deletedRetentionMs: deletedRetention, encryption: algorithm, ...(key ? { key } : {}) };
    }),
  };
}

/** A cached tree's configuration as it runs: the document resolved (see parseCacheConfig). */
export interface CacheConfig extends Omit<CacheConfigFields, 'policy' | 'refresh' | 'connectTimeout'> {
  policy: SealPolicy;
  refreshMs: number;
  connectTimeoutMs: number;
}

export function parseCacheConfig(text: string): CacheConfig {
  const { policy, refresh, connectTimeout, ...rest } = read(text, cacheConfigSchema);
  return {
    ...rest,
    policy: sealPolicy(policy.encryption, policy.compression, 'policy.encryption'),
    refreshMs: refresh,
    connectTimeoutMs: connectTimeout,
  };
}
