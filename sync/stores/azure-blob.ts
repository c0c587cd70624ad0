/**
 * An Azure Blob Storage container through @azure/storage-blob (Azure, or Azurite in tests).
 * Credentials come from a mounted Secret holding one of `connectionString`, `accountKey` (with the
 * account name) or `sasToken`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { BlobServiceClient, RestError, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { AzureBlobLocation } from '../../api/sync-config/worker.js';
import { throttle, type Bandwidth } from '../wire/bandwidth.js';
import { plainEtag, type ObjectHead, type Store, type StoreObject } from './store.js';

/** Uploads go up in blocks of this size, committed together at the end (a block blob). */
export const BLOCK_BYTES = 8 * 1024 * 1024;
const BLOCKS_IN_FLIGHT = 4;

/** Where the store is, as the worker config names it (api/sync-config/worker.ts). */
export type AzureBlobSource = AzureBlobLocation;

function secret(dir: string | undefined, key: string): string | undefined {
  if (!dir || !existsSync(join(dir, key))) return undefined;
  return readFileSync(join(dir, key), 'utf8').trim();
}

function serviceClient(source: AzureBlobSource, field: string): BlobServiceClient {
  const connectionString = secret(source.credentialsDir, 'connectionString');
  if (connectionString) return BlobServiceClient.fromConnectionString(connectionString);
  const url = source.endpoint ?? (source.account ? `https://${source.account}.blob.core.windows.net` : undefined);
  if (!url) throw new Error(`${field}: set account or endpoint`);
  const accountKey = secret(source.credentialsDir, 'accountKey');
  if (accountKey) {
    if (!source.account) throw new Error(`${field}.account: an accountKey credential needs the account name`);
    return new BlobServiceClient(url, new StorageSharedKeyCredential(source.account, accountKey));
  }
  const sas = secret(source.credentialsDir, 'sasToken');
  if (sas) return new BlobServiceClient(`${url}?${sas.replace(/^\?/, '')}`);
  if (source.credentialsDir)
    throw new Error(`${field}.credentialsSecretRef: the Secret holds none of connectionString, accountKey, sasToken`);
  return new BlobServiceClient(url); // anonymous (a public container)
}

export function azureBlobStore(source: AzureBlobSource, field: string): Store {
  const prefix = source.prefix ? source.prefix.replace(/^\/+/, '').replace(/\/?$/, '/') : '';
  const container = serviceClient(source, field).getContainerClient(source.container);
  return {
    kind: 'azureBlob',
    async *list(): AsyncIterable<StoreObject> {
      for await (const blob of container.listBlobsFlat(prefix ? { prefix } : {})) {
        yield {
          key: blob.name.slice(prefix.length),
          sizeBytes: blob.properties.contentLength ?? 0,
          etag: plainEtag(blob.properties.etag),
          mtimeMs: blob.properties.lastModified?.getTime() ?? 0,
        };
      }
    },
    async read(key: string): Promise<Readable> {
      const response = await container.getBlobClient(prefix + key).download();
      if (!response.readableStreamBody) throw new Error(`blob ${prefix + key}: no content stream`);
      return response.readableStreamBody as Readable;
    },
    async head(key: string): Promise<ObjectHead | undefined> {
      try {
        const properties = await container.getBlobClient(prefix + key).getProperties();
        return { etag: plainEtag(properties.etag), sizeBytes: properties.contentLength ?? 0 };
      } catch (error) {
        if (error instanceof RestError && error.statusCode === 404) return undefined;
        throw error;
      }
    },
    async write(key: string, file: string, _sizeBytes: number, bandwidth?: Bandwidth): Promise<string> {
      // Staged blocks become the blob only at the final commit: readers see the old blob or the new one.
      const response = await container
        .getBlockBlobClient(prefix + key)
        .uploadStream(createReadStream(file).pipe(throttle(bandwidth)), BLOCK_BYTES, BLOCKS_IN_FLIGHT);
      return plainEtag(response.etag);
    },
    async remove(key: string): Promise<void> {
      await container.getBlobClient(prefix + key).deleteIfExists();
    },
  };
}
