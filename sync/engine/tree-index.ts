/**
 * The local index of a tree: path → what the last scan saw (size, mtime, ctime, inode, mode) and
 * the file's chunk list, so a scan re-reads only files whose metadata changed. It is saved with
 * `writeFileAtomic`, so a crash leaves the previous index or the new one; a lost index only costs
 * a re-read, never a wrong manifest, because every record is checked against lstat before use.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../lib/durable.js';
import type { ChunkRef, VersionVector } from './manifest.js';

export interface IndexRecord {
  type: 'file' | 'dir' | 'symlink';
  sizeBytes: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  mode: number;
  /** Files: the chunk list of the content seen. */
  chunks?: ChunkRef[];
  /** Symlinks: the target. */
  target?: string;
  vv?: VersionVector;
}

const INDEX_FORMAT = 1;

export class TreeIndex {
  /** Set by a scan that changed a record; cleared by save(). */
  dirty = false;

  constructor(readonly records = new Map<string, IndexRecord>()) {}

  /** Loads an index file; a missing or unreadable one gives an empty index (a full re-read). */
  static load(file: string): TreeIndex {
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as { format: number; records: Record<string, IndexRecord> };
      if (parsed.format !== INDEX_FORMAT) return new TreeIndex();
      return new TreeIndex(new Map(Object.entries(parsed.records)));
    } catch {
      return new TreeIndex();
    }
  }

  save(file: string): void {
    writeFileAtomic(file, JSON.stringify({ format: INDEX_FORMAT, records: Object.fromEntries(this.records) }));
    this.dirty = false;
  }
}
