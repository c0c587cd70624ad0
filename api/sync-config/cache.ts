/**
 * The configuration document of a cached tree whose origin is another site's gateway
 * (`kmesh fs mount --cache-config <file>`; fs/cache/): where the origin is, how to reach it, and the
 * cache's limits. Declared once; what renders it and what reads it (sync/config.ts
 * `parseCacheConfig`) share this schema.
 */
import { z } from 'zod';
import { COMPRESSION, DEFAULT_COMPRESSION } from '../v1alpha1/common.js';
import { bytes, durationMs, encryption, hostPort, namespacedName, text } from './fields.js';

export const cacheConfigSchema = z.strictObject({
  /** This site: the name its certificate carries. */
  site: text(),
  origin: z.strictObject({
    /** The origin site; its gateway's certificate carries this name. */
    name: text(),
    endpoint: hostPort(),
    /** `<namespace>/<name>` of the DataFlow at the origin. */
    dataFlow: namespacedName(),
    /** Directory of this site's TLS Secret (tls.crt, tls.key, ca.crt). */
    tlsDir: text(),
  }),
  policy: z
    .strictObject({
      /** Compression the origin applies to the chunks it sends. */
      compression: z.enum(COMPRESSION).default(DEFAULT_COMPRESSION),
      encryption: encryption().prefault({}),
    })
    .prefault({}),
  /** Fetched bytes to keep; unset: no limit. */
  size: bytes().optional(),
  /** Evict while the filesystem has less free space than this. */
  minFree: bytes().optional(),
  /** How often to ask the origin for its version. */
  refresh: durationMs().prefault('1s'),
  /** The origin must accept a connection within this. */
  connectTimeout: durationMs().prefault('15s'),
});

export type CacheConfigDocument = z.input<typeof cacheConfigSchema>;
export type CacheConfigFields = z.output<typeof cacheConfigSchema>;
