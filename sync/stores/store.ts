/**
 * An external store a DataFlow ingests from and writes back to. One implementation per kind in
 * this folder, registered in index.ts; ingest and write-back (exchange.ts) only use this interface.
 */
import type { Readable } from 'node:stream';
import type { Bandwidth } from '../wire/bandwidth.js';

/** An object as the store lists it; `key` is relative to the source's prefix, '/'-separated. */
export interface StoreObject {
  key: string;
  sizeBytes: number;
  /** Changes whenever the content changes (S3 ETag, Azure ETag, a file's inode/size/mtime). */
  etag: string;
  mtimeMs: number;
}

export type ObjectHead = Pick<StoreObject, 'etag' | 'sizeBytes'>;

export interface Store {
  readonly kind: string;
  /** Every object under the prefix. */
  list(): AsyncIterable<StoreObject>;
  /** The object's content. */
  read(key: string): Promise<Readable>;
  /** The object's current ETag and size; undefined when there is none. */
  head(key: string): Promise<ObjectHead | undefined>;
  /**
   * Stores a local file as the object, whole or not at all (big files in parts or blocks, committed
   * at the end); returns the object's ETag as `list` and `head` report it.
   */
  write(key: string, file: string, sizeBytes: number, bandwidth?: Bandwidth): Promise<string>;
  /** Removes the object; removing one that is gone is not an error. */
  remove(key: string): Promise<void>;
}

/** An ETag without quotes: list and head responses of one store do not always quote alike. */
export const plainEtag = (etag: string | undefined): string => (etag ?? '').replace(/^"(.*)"$/, '$1');
