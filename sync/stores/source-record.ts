/**
 * What a source's ingest and write-back last agreed on, per key: the store's ETag and size, and
 * the local file as it was then. A store ETag that differs means the store changed; a local file
 * that differs means someone changed it in the DataFlow. Kept atomically in the source's state
 * directory, so a restart neither re-fetches nor re-uploads what already matches.
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/durable.js';

export interface LocalStat {
  sizeBytes: number;
  mtimeMs: number;
  ctimeMs: number;
}

export interface RecordedObject {
  etag: string;
  sizeBytes: number;
  /** The local file after it was ingested or written back; absent in records from older releases. */
  local?: LocalStat;
}

export type SourceRecord = Record<string, RecordedObject>;

const RECORD_FILE = 'ingested.json';

export function loadRecord(stateDir: string): SourceRecord {
  try {
    return JSON.parse(readFileSync(join(stateDir, RECORD_FILE), 'utf8')) as SourceRecord;
  } catch {
    return {}; // first exchange, or a lost record: everything is compared again
  }
}

export function saveRecord(stateDir: string, record: SourceRecord): void {
  mkdirSync(stateDir, { recursive: true });
  writeFileAtomic(join(stateDir, RECORD_FILE), JSON.stringify(record));
}

/** The local file's stat as a record keeps it; undefined when it is not a regular file. */
export function localStat(path: string): LocalStat | undefined {
  const st = statSync(path, { throwIfNoEntry: false });
  return st?.isFile() ? { sizeBytes: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs } : undefined;
}

/**
 * Whether the local file changed since the record was made: new, removed, or another size or
 * time. A record from an older release (no local stat) is trusted.
 */
export function changedLocally(recorded: RecordedObject | undefined, now: LocalStat | undefined): boolean {
  if (!recorded) return now !== undefined;
  if (!recorded.local) return false;
  if (!now) return true;
  return (
    recorded.local.sizeBytes !== now.sizeBytes ||
    recorded.local.mtimeMs !== now.mtimeMs ||
    recorded.local.ctimeMs !== now.ctimeMs
  );
}

/** Keys must stay inside the source's directory. */
export function safeKey(key: string): boolean {
  return (
    key !== '' && !key.startsWith('/') && key.split('/').every((part) => part !== '' && part !== '.' && part !== '..')
  );
}
