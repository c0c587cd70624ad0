/**
 * An external store a DataFlow ingests from (and, later, writes back to). One implementation per
 * kind in this folder, registered in index.ts; ingest (ingest.ts) only uses this interface.
 */
import type { Readable } from 'node:stream';

/** An object as the store lists it; `key` is relative to the source's prefix, '/'-separated. */
export interface StoreObject {
  key: string;
  sizeBytes: number;
  /** Changes whenever the content changes (S3 ETag, Azure ETag). */
  etag: string;
  mtimeMs: number;
}

export interface Store {
  readonly kind: string;
  /** Every object under the prefix. */
  list(): AsyncIterable<StoreObject>;
  /** The object's content. */
  read(key: string): Promise<Readable>;
}
