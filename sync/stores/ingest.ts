/**
 * Bringing a store's objects into a DataFlow's tree: objects new or changed since the last ingest
 * (by ETag and size) are downloaded to a temp file on the tree's filesystem, fsynced and renamed
 * into place, so a reader sees the old file or the new one; objects gone from the store are
 * removed. What was ingested is remembered (atomically) per source, so an unchanged object is
 * never fetched again. Keys that would leave the tree (`..`, absolute) are refused and reported.
 */
import { createWriteStream, mkdirSync, readFileSync, renameSync, rmSync, utimesSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeFileAtomic } from '../../lib/durable.js';
import type { Bandwidth } from '../wire/bandwidth.js';
import type { Store } from './store.js';

export interface IngestResult {
  files: number;
  bytes: number;
  removed: number;
  /** Keys that could not be brought in, with why. */
  refused: string[];
}

interface Ingested {
  etag: string;
  sizeBytes: number;
}

export interface IngestOptions {
  /** Where the objects go (a directory of the tree). */
  targetDir: string;
  /** Temp files and the record of what was ingested; on the tree's filesystem. */
  stateDir: string;
  bandwidth?: Bandwidth;
}

function safeKey(key: string): boolean {
  return key !== '' && !key.startsWith('/') && key.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

function throttled(bandwidth: Bandwidth): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bandwidth.take(chunk.length).then(() => done(null, chunk), done);
    },
  });
}

export async function ingest(store: Store, options: IngestOptions): Promise<IngestResult> {
  const recordFile = join(options.stateDir, 'ingested.json');
  let previous: Record<string, Ingested> = {};
  try {
    previous = JSON.parse(readFileSync(recordFile, 'utf8')) as Record<string, Ingested>;
  } catch {
    // first ingest, or a lost record: everything is fetched again
  }
  const tmpDir = join(options.stateDir, 'tmp');
  mkdirSync(tmpDir, { recursive: true });
  const result: IngestResult = { files: 0, bytes: 0, removed: 0, refused: [] };
  const current: Record<string, Ingested> = {};
  let n = 0;
  for await (const object of store.list()) {
    if (!safeKey(object.key)) {
      result.refused.push(`${object.key}: the key would leave the DataFlow`);
      continue;
    }
    const before = previous[object.key];
    current[object.key] = { etag: object.etag, sizeBytes: object.sizeBytes };
    if (before && before.etag === object.etag && before.sizeBytes === object.sizeBytes) continue;
    const tmp = join(tmpDir, `${process.pid}-${n++}`);
    try {
      const body: Readable = await store.read(object.key);
      if (options.bandwidth) await pipeline(body, throttled(options.bandwidth), createWriteStream(tmp));
      else await pipeline(body, createWriteStream(tmp));
      const handle = await open(tmp, 'r+');
      await handle.sync();
      await handle.close();
      if (object.mtimeMs) utimesSync(tmp, object.mtimeMs / 1000, object.mtimeMs / 1000);
      const target = join(options.targetDir, object.key);
      mkdirSync(dirname(target), { recursive: true });
      renameSync(tmp, target);
      result.files++;
      result.bytes += object.sizeBytes;
    } catch (error) {
      rmSync(tmp, { force: true });
      delete current[object.key];
      result.refused.push(`${object.key}: ${(error as Error).message}`);
    }
  }
  for (const key of Object.keys(previous)) {
    if (key in current) continue;
    rmSync(join(options.targetDir, key), { force: true });
    result.removed++;
  }
  writeFileAtomic(recordFile, JSON.stringify(current));
  return result;
}
