/**
 * The change feed of a tree served through the Kmesh filesystem: the daemons serving it append every
 * change to a journal (fs/journal.ts), one file per mount, all in one directory. This reads them
 * from where the last finished pass stopped. It asks for a full scan when it cannot vouch for the
 * journals: the first time it sees a file, after a (re)mount, after a rotation or truncation, and
 * every `fullScanEveryMs` as a safety net for writes that bypassed the filesystem.
 * docs/architecture.md#the-change-journal
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readJournal, type ChangeRecord } from '../../fs/journal.js';
import { writeFileAtomic } from '../../lib/durable.js';
import type { ChangeBatch, ChangeFeed } from './change-feed.js';

export const DEFAULT_FULL_SCAN_EVERY_MS = 15 * 60_000;

export interface JournalFeedOptions {
  /** The directory of journal files (`*.log`). */
  dir: string;
  /** Where the feed keeps its cursors between passes and restarts. */
  stateFile: string;
  fullScanEveryMs?: number;
  now?: () => number;
}

/** Per journal file: how far it was read, which inode it was, and its handles still open for writing. */
interface FileState {
  offset: number;
  ino: number;
  open: Record<string, string>;
}

interface FeedState {
  files: Record<string, FileState>;
  lastFullScan: number;
}

/** `path` moved to `to`: the same for everything below it. */
function moved(path: string, from: string, to: string): string {
  if (path === from) return to;
  return path.startsWith(`${from}/`) ? to + path.slice(from.length) : path;
}

export class JournalFeed implements ChangeFeed {
  private readonly now: () => number;

  constructor(private readonly options: JournalFeedOptions) {
    this.now = options.now ?? Date.now;
  }

  private load(): FeedState {
    try {
      return JSON.parse(readFileSync(this.options.stateFile, 'utf8')) as FeedState;
    } catch {
      return { files: {}, lastFullScan: 0 };
    }
  }

  private journals(): string[] {
    try {
      return readdirSync(this.options.dir).filter((name) => name.endsWith('.log'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  poll(): Promise<ChangeBatch> {
    const state = this.load();
    const next: FeedState = { files: {}, lastFullScan: state.lastFullScan };
    const paths = new Set<string>();
    let rescan: string | undefined;
    const now = this.now();
    if (now - state.lastFullScan >= (this.options.fullScanEveryMs ?? DEFAULT_FULL_SCAN_EVERY_MS)) {
      rescan = state.lastFullScan === 0 ? 'first pass: no journal read yet' : 'periodic full scan';
    }
    for (const name of this.journals()) {
      const file = join(this.options.dir, name);
      const before = state.files[name];
      let from = before?.offset ?? 0;
      let open = { ...(before?.open ?? {}) };
      const { size, ino } = statSync(file);
      if (!before) rescan ??= `new journal ${name}`;
      else if (before.ino !== ino || size < before.offset) {
        rescan ??= `journal ${name} was rotated`;
        from = 0;
        open = {};
      }
      const { records, next: offset } = readJournal(file, from);
      for (const record of records) {
        if (record.op === 'mount') {
          rescan ??= `${name}: the tree was mounted again`;
          open = {};
        }
        this.apply(record, open, paths);
      }
      for (const path of Object.values(open)) paths.add(path);
      next.files[name] = { offset, ino, open };
    }
    if (rescan) next.lastFullScan = now;
    return Promise.resolve({
      ...(rescan ? { rescan } : {}),
      paths,
      commit: () => {
        writeFileAtomic(this.options.stateFile, JSON.stringify(next));
        return Promise.resolve();
      },
    });
  }

  private apply(record: ChangeRecord, open: Record<string, string>, paths: Set<string>): void {
    const handle = record.handle === undefined ? undefined : String(record.handle);
    if (record.op === 'open' && handle !== undefined) open[handle] = record.path;
    if (record.op === 'close' && handle !== undefined) delete open[handle];
    if ((record.op === 'rename' || record.op === 'exchange') && record.to !== undefined) {
      const [a, b] = [record.path, record.to];
      for (const [h, path] of Object.entries(open)) {
        open[h] = record.op === 'exchange' && moved(path, b, a) !== path ? moved(path, b, a) : moved(path, a, b);
      }
    }
    if (record.op !== 'mount' && record.path !== '') paths.add(record.path);
    if (record.to !== undefined) paths.add(record.to);
  }
}
