/**
 * Writing changes made in the DataFlow back to the source it was ingested from. A local file new
 * or changed since the last exchange is uploaded (whole or not at all, see Store.write); a local
 * file removed is removed from the store. Before either, the store's ETag is checked against the
 * record: if the store changed too, nothing is lost — the store's version wins at the name (it is
 * fetched at once) and the local version is kept beside it as `<name>.kmesh-conflict-<time>`,
 * which is written back like any new file.
 */
import { renameSync } from 'node:fs';
import { listEntries } from '../engine/names.js';
import { join } from 'node:path';
import { changedLocally, loadRecord, localStat, saveRecord } from './source-record.js';
import { fetchObject, type ExchangeOptions } from './ingest.js';
import type { Store } from './store.js';

export interface WriteBackResult {
  uploaded: number;
  bytes: number;
  removed: number;
  /** Local files renamed aside because the store changed the same object. */
  conflicts: string[];
  /** Store versions fetched into the tree because they won over a local change or removal. */
  fetched: number;
  /** Keys that could not be written back, with why (tried again on the next pass). */
  refused: string[];
}

export const CONFLICT_MARK = '.kmesh-conflict-';

/** Regular files under `dir`, as '/'-separated keys. */
function* localFiles(dir: string, prefix = ''): Generator<string> {
  let entries;
  try {
    entries = listEntries(join(dir, prefix)); // names that are not UTF-8 cannot be keys: left out
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  for (const entry of entries) {
    const key = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory) yield* localFiles(dir, key);
    else if (entry.isFile) yield key;
  }
}

const stamp = (now: Date) =>
  now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

export async function writeBack(store: Store, options: ExchangeOptions, now = new Date()): Promise<WriteBackResult> {
  const record = loadRecord(options.stateDir);
  const result: WriteBackResult = { uploaded: 0, bytes: 0, removed: 0, conflicts: [], fetched: 0, refused: [] };
  const localPath = (key: string) => join(options.targetDir, key);
  let changed = false;
  const seen = new Set<string>();
  const pending = [...localFiles(options.targetDir)]; // conflicts append the copy they keep aside
  for (let next = 0; next < pending.length; next++) {
    const key = pending[next]!;
    seen.add(key);
    const recorded = record[key];
    const stat = localStat(localPath(key));
    if (!stat) continue; // gone since the directory was read: the next pass sees the removal
    if (recorded && !recorded.local) {
      record[key] = { ...recorded, local: stat }; // an older record: adopt the file as it is
      changed = true;
      continue;
    }
    if (!changedLocally(recorded, stat)) continue;
    try {
      const remote = await store.head(key);
      if (remote && remote.etag !== recorded?.etag) {
        const aside = `${key}${CONFLICT_MARK}${stamp(now)}`;
        renameSync(localPath(key), localPath(aside));
        result.conflicts.push(`${key} → ${aside}`);
        record[key] = await fetchObject(store, { key, ...remote }, options);
        result.fetched++;
        pending.push(aside);
        changed = true;
        continue;
      }
      const etag = await store.write(key, localPath(key), stat.sizeBytes, options.bandwidth);
      record[key] = { etag, sizeBytes: stat.sizeBytes, local: stat };
      result.uploaded++;
      result.bytes += stat.sizeBytes;
      changed = true;
    } catch (error) {
      result.refused.push(`${key}: ${(error as Error).message}`);
    }
  }
  for (const [key, recorded] of Object.entries(record)) {
    if (seen.has(key) || !recorded.local) continue;
    try {
      const remote = await store.head(key);
      if (remote?.etag === recorded.etag) {
        await store.remove(key);
        result.removed++;
        delete record[key];
      } else if (remote) {
        record[key] = await fetchObject(store, { key, ...remote }, options); // changed in the store since: it wins
        result.fetched++;
      } else {
        delete record[key];
      }
      changed = true;
    } catch (error) {
      result.refused.push(`${key}: ${(error as Error).message}`);
    }
  }
  if (changed) saveRecord(options.stateDir, record);
  return result;
}
