/** The stores a DataFlow source can name, in one place; ingest and the worker only see `Store`. */
import type { WorkerSource } from '../config.js';
import { azureBlobStore } from './azure-blob.js';
import { s3Store } from './s3.js';
import type { Store } from './store.js';

const STORES: Record<string, (source: WorkerSource, field: string) => Store | undefined> = {
  s3: (source, field) => (source.s3 ? s3Store(source.s3, `${field}.s3`) : undefined),
  azureBlob: (source, field) => (source.azureBlob ? azureBlobStore(source.azureBlob, `${field}.azureBlob`) : undefined),
};

/** The store of a source; throws naming the kinds that exist when none (or two) match. */
export function storeFor(source: WorkerSource, field: string): Store {
  const matches = Object.values(STORES).map((make) => make(source, field)).filter((s) => s !== undefined);
  if (matches.length !== 1) throw new Error(`${field}: a source names exactly one store; this release has ${Object.keys(STORES).join(', ')}`);
  return matches[0]!;
}
