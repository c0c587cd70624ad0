/**
 * Bringing a store's objects into a DataFlow's tree: objects new or changed since the last
 * exchange (by ETag and size) are downloaded to a temp file on the tree's filesystem, fsynced and
 * renamed into place, so a reader sees the old file or the new one; objects gone from the store
 * are removed. Keys that would leave the tree (`..`, absolute) are refused and reported.
 *
 * With write-back on, a local file changed since the last exchange is left alone even when the
 * store changed too: write-back (write-back.ts) sees both changes and keeps both versions.
 */
import { createWriteStream, mkdirSync, renameSync, rmSync, utimesSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { throttle, type Bandwidth } from '../wire/bandwidth.js';
import {
  changedLocally,
  loadRecord,
  localStat,
  safeKey,
  saveRecord,
  type RecordedObject,
  type SourceRecord,
} from './source-record.js';
import type { Store, StoreObject } from './store.js';

export interface IngestResult {
  files: number;
  bytes: number;
  removed: number;
  /** Keys that could not be brought in, with why. */
  refused: string[];
}

export interface ExchangeOptions {
  /** The source's directory in the tree. */
  targetDir: string;
  /** Temp files and the record of the last exchange; on the tree's filesystem. */
  stateDir: string;
  bandwidth?: Bandwidth;
  /** Local changes are the DataFlow's to write back: ingest must not overwrite them. */
  writeBack?: boolean;
}

let temps = 0;

/**
 * Downloads one object into its place in the source's directory: a temp file in the state
 * directory, fsynced, given the object's mtime, renamed over the target. Returns the record.
 */
export async function fetchObject(
  store: Store,
  object: Pick<StoreObject, 'key' | 'etag' | 'sizeBytes'> & { mtimeMs?: number },
  options: ExchangeOptions,
): Promise<RecordedObject> {
  const tmpDir = join(options.stateDir, 'tmp');
  mkdirSync(tmpDir, { recursive: true });
  const tmp = join(tmpDir, `${process.pid}-${temps++}`);
  try {
    await pipeline(await store.read(object.key), throttle(options.bandwidth), createWriteStream(tmp));
    const handle = await open(tmp, 'r+');
    await handle.sync().finally(() => handle.close());
    if (object.mtimeMs) utimesSync(tmp, object.mtimeMs / 1000, object.mtimeMs / 1000);
    const target = join(options.targetDir, object.key);
    mkdirSync(dirname(target), { recursive: true });
    renameSync(tmp, target);
    return { etag: object.etag, sizeBytes: object.sizeBytes, local: localStat(target) };
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}

export async function ingest(store: Store, options: ExchangeOptions): Promise<IngestResult> {
  const previous = loadRecord(options.stateDir);
  const result: IngestResult = { files: 0, bytes: 0, removed: 0, refused: [] };
  const current: SourceRecord = {};
  const localPath = (key: string) => join(options.targetDir, key);
  const keepLocal = (key: string) =>
    options.writeBack === true && changedLocally(previous[key], localStat(localPath(key)));
  for await (const object of store.list()) {
    if (!safeKey(object.key)) {
      result.refused.push(`${object.key}: the key would leave the DataFlow`);
      continue;
    }
    const before = previous[object.key];
    if (before && before.etag === object.etag && before.sizeBytes === object.sizeBytes) {
      current[object.key] = before;
      continue;
    }
    if (keepLocal(object.key)) {
      if (before) current[object.key] = before; // still the last agreed state; write-back resolves it
      continue;
    }
    try {
      current[object.key] = await fetchObject(store, object, options);
      result.files++;
      result.bytes += object.sizeBytes;
    } catch (error) {
      if (before) current[object.key] = before; // the local copy stays until a fetch succeeds
      result.refused.push(`${object.key}: ${(error as Error).message}`);
    }
  }
  for (const key of Object.keys(previous)) {
    if (key in current) continue;
    // Gone from the store. A local edit not yet written back stays, as a new file to write back.
    if (keepLocal(key)) continue;
    rmSync(localPath(key), { force: true });
    result.removed++;
  }
  saveRecord(options.stateDir, current);
  return result;
}
