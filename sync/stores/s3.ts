/**
 * Any S3-compatible store (AWS, MinIO, versitygw, Ceph RGW…) through @aws-sdk/client-s3.
 * Credentials come from a mounted Secret with `accessKeyId` and `secretAccessKey`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NotFound,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import type { S3Location } from '../../api/sync-config/worker.js';
import { throttle, type Bandwidth } from '../wire/bandwidth.js';
import { plainEtag, type ObjectHead, type Store, type StoreObject } from './store.js';

/** Files bigger than this go up in parts of this size (S3 takes 5 MiB to 5 GiB per part). */
export const MULTIPART_PART_BYTES = 16 * 1024 * 1024;

/** Where the store is, as the worker config names it (api/sync-config/worker.ts). */
export type S3Source = S3Location;

function credential(dir: string, key: string, field: string): string {
  try {
    return readFileSync(join(dir, key), 'utf8').trim();
  } catch (error) {
    throw new Error(`${field}: cannot read ${key} from ${dir}: ${(error as Error).message}`, { cause: error });
  }
}

export function s3Store(source: S3Source, field: string): Store {
  const prefix = source.prefix ? source.prefix.replace(/^\/+/, '').replace(/\/?$/, '/') : '';
  const client = new S3Client({
    region: source.region ?? 'us-east-1',
    forcePathStyle: source.forcePathStyle ?? false,
    ...(source.endpoint ? { endpoint: source.endpoint } : {}),
    ...(source.credentialsDir
      ? {
          credentials: {
            accessKeyId: credential(source.credentialsDir, 'accessKeyId', `${field}.credentialsSecretRef`),
            secretAccessKey: credential(source.credentialsDir, 'secretAccessKey', `${field}.credentialsSecretRef`),
          },
        }
      : {}),
  });
  async function head(key: string): Promise<ObjectHead | undefined> {
    try {
      const object = await client.send(new HeadObjectCommand({ Bucket: source.bucket, Key: prefix + key }));
      return { etag: plainEtag(object.ETag), sizeBytes: object.ContentLength ?? 0 };
    } catch (error) {
      if (
        error instanceof NotFound ||
        (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
      )
        return undefined;
      throw error;
    }
  }

  return {
    kind: 's3',
    async *list(): AsyncIterable<StoreObject> {
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: source.bucket, Prefix: prefix || undefined, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) {
          if (!o.Key || o.Key.endsWith('/')) continue; // "directory" markers
          yield {
            key: o.Key.slice(prefix.length),
            sizeBytes: o.Size ?? 0,
            etag: plainEtag(o.ETag),
            mtimeMs: o.LastModified?.getTime() ?? 0,
          };
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },
    async read(key: string): Promise<Readable> {
      const object = await client.send(new GetObjectCommand({ Bucket: source.bucket, Key: prefix + key }));
      return object.Body as Readable;
    },
    head,
    async write(key: string, file: string, sizeBytes: number, bandwidth?: Bandwidth): Promise<string> {
      const Key = prefix + key;
      if (sizeBytes <= MULTIPART_PART_BYTES) {
        await client.send(
          new PutObjectCommand({
            Bucket: source.bucket,
            Key,
            Body: createReadStream(file).pipe(throttle(bandwidth)),
            ContentLength: sizeBytes,
          }),
        );
      } else {
        await multipartUpload(client, source.bucket, Key, file, bandwidth);
      }
      // The ETag as list and head report it (a multipart ETag is not the MD5 of the content).
      const written = await head(key);
      if (!written) throw new Error(`s3://${source.bucket}/${Key}: written, but the store does not list it`);
      return written.etag;
    },
    async remove(key: string): Promise<void> {
      await client.send(new DeleteObjectCommand({ Bucket: source.bucket, Key: prefix + key }));
    },
  };
}

/** Uploads a file in parts; the object appears only when the upload completes, and a failed one is aborted. */
async function multipartUpload(
  client: S3Client,
  bucket: string,
  key: string,
  file: string,
  bandwidth?: Bandwidth,
): Promise<void> {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const handle = await open(file, 'r');
  try {
    const parts: CompletedPart[] = [];
    const buffer = Buffer.allocUnsafe(MULTIPART_PART_BYTES);
    for (let PartNumber = 1; ; PartNumber++) {
      const bytesRead = await readFull(handle, buffer);
      if (bytesRead === 0) break;
      await bandwidth?.take(bytesRead);
      const part = await client.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          PartNumber,
          Body: buffer.subarray(0, bytesRead),
          ContentLength: bytesRead,
        }),
      );
      parts.push({ PartNumber, ETag: part.ETag });
    }
    await client.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }),
    );
  } catch (error) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })).catch(() => undefined);
    throw error;
  } finally {
    await handle.close();
  }
}

/** Fills `buffer` from the file's position; fewer bytes only at the end of the file. */
async function readFull(handle: FileHandle, buffer: Buffer): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, null);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}
