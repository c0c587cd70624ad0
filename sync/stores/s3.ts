/**
 * Any S3-compatible store (AWS, MinIO, versitygw, Ceph RGW…) through @aws-sdk/client-s3.
 * Credentials come from a mounted Secret with `accessKeyId` and `secretAccessKey`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { Store, StoreObject } from './store.js';

export interface S3Source {
  endpoint?: string;
  bucket: string;
  prefix?: string;
  region?: string;
  forcePathStyle?: boolean;
  /** Directory of the mounted credentials Secret. */
  credentialsDir?: string;
}

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
      ? { credentials: { accessKeyId: credential(source.credentialsDir, 'accessKeyId', `${field}.credentialsSecretRef`), secretAccessKey: credential(source.credentialsDir, 'secretAccessKey', `${field}.credentialsSecretRef`) } }
      : {}),
  });
  return {
    kind: 's3',
    async *list(): AsyncIterable<StoreObject> {
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: source.bucket, Prefix: prefix || undefined, ContinuationToken: token }));
        for (const o of page.Contents ?? []) {
          if (!o.Key || o.Key.endsWith('/')) continue; // "directory" markers
          yield { key: o.Key.slice(prefix.length), sizeBytes: o.Size ?? 0, etag: o.ETag ?? '', mtimeMs: o.LastModified?.getTime() ?? 0 };
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },
    async read(key: string): Promise<Readable> {
      const object = await client.send(new GetObjectCommand({ Bucket: source.bucket, Key: prefix + key }));
      return object.Body as Readable;
    },
  };
}
