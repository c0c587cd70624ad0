/**
 * The stores a DataFlow source can name, in one place; ingest and the worker only see `Store`.
 * Each store's SDK is loaded only when a source uses it (the AWS and Azure SDKs take most of a
 * worker's start-up time otherwise).
 */
import type { WorkerSource } from '../config.js';
import type { Store } from './store.js';

const STORES: Record<string, (source: WorkerSource, field: string) => Promise<Store> | undefined> = {
  s3: (source, field) => (source.s3 ? import('./s3.js').then((m) => m.s3Store(source.s3!, `${field}.s3`)) : undefined),
  posix: (source, field) =>
    source.posix ? import('./posix.js').then((m) => m.posixStore(source.posix!, `${field}.posix`)) : undefined,
  azureBlob: (source, field) =>
    source.azureBlob
      ? import('./azure-blob.js').then((m) => m.azureBlobStore(source.azureBlob!, `${field}.azureBlob`))
      : undefined,
};

/** The store of a source; throws naming the kinds that exist when none (or two) match. */
export async function storeFor(source: WorkerSource, field: string): Promise<Store> {
  const matches = Object.values(STORES)
    .map((make) => make(source, field))
    .filter((s) => s !== undefined);
  if (matches.length !== 1)
    throw new Error(`${field}: a source names exactly one store; this release has ${Object.keys(STORES).join(', ')}`);
  return matches[0]!;
}
