/**
 * The change journal: every change made through the Kmesh filesystem, appended before the request
 * is answered, so a consumer (the sync worker) learns what changed without scanning the tree. One
 * JSON object per line. A record reaches the file with write(2) before the reply, so a crash of the
 * daemon loses none; fsync of a file through the mount also makes the journal durable, so what an
 * application made durable is known to have changed after a machine crash too.
 * docs/architecture.md#the-change-journal describes the records and how they are consumed.
 */
import { closeSync, fdatasyncSync, fstatSync, openSync, readSync, renameSync, writeSync } from 'node:fs';

/**
 * What happened to a path. `open` (for writing) means the file may change anywhere until the
 * `close` with the same handle: writes through kernel passthrough never reach the daemon. `mount`
 * starts a new serving of the tree: handles of an earlier one are gone, and changes made while
 * nothing served it are unknown.
 */
export type ChangeOp =
  | 'mount'
  | 'open'
  | 'close'
  | 'create'
  | 'mkdir'
  | 'symlink'
  | 'mknod'
  | 'link'
  | 'write'
  | 'truncate'
  | 'attr'
  | 'xattr'
  | 'unlink'
  | 'rmdir'
  | 'rename'
  | 'exchange';

export interface ChangeRecord {
  /** Milliseconds since the epoch. */
  t: number;
  op: ChangeOp;
  /** Path relative to the filesystem root, '/'-separated, no leading slash. */
  path: string;
  /** rename/exchange/link: the other path (the destination, or for link the new name). */
  to?: string;
  /** write/close: byte ranges [offset, length] written through the daemon, when known. */
  ranges?: [number, number][];
  /** open/close: the handle, unique within one mount. */
  handle?: number;
  /** truncate: the new size. */
  size?: number;
}

/** Names are latin1 inside fs/; the journal speaks UTF-8 like the rest of Kmesh. */
const utf8 = (latin1: string): string => Buffer.from(latin1, 'latin1').toString('utf8');

/** A journal past this size starts over (its readers then scan once). */
export const DEFAULT_JOURNAL_MAX_BYTES = 64 * 1024 * 1024;

export class ChangeJournal {
  private fd: number;
  private bytes: number;
  private appended = 0;

  constructor(
    readonly file: string,
    private readonly maxBytes = DEFAULT_JOURNAL_MAX_BYTES,
  ) {
    this.fd = openSync(file, 'a');
    this.bytes = fstatSync(this.fd).size;
  }

  /** Appends one record (paths as fs/ keeps them, latin1). */
  record(op: ChangeOp, path: string, extra: Omit<ChangeRecord, 't' | 'op' | 'path'> = {}): void {
    const record: ChangeRecord = { t: Date.now(), op, path: utf8(path), ...extra };
    if (record.to !== undefined) record.to = utf8(record.to);
    const line = JSON.stringify(record) + '\n';
    if (this.bytes > 0 && this.bytes + Buffer.byteLength(line) > this.maxBytes) this.rotate();
    this.bytes += writeSync(this.fd, line);
    this.appended++;
  }

  /**
   * Starts a new file; the old one is kept as `<file>.1` until the next rotation. A reader notices
   * the new inode and scans once, so nothing is lost even if it had not read the old file to the end.
   */
  private rotate(): void {
    renameSync(this.file, `${this.file}.1`);
    closeSync(this.fd);
    this.fd = openSync(this.file, 'a');
    this.bytes = 0;
  }

  /** Records appended by this process. */
  get count(): number {
    return this.appended;
  }

  /** Makes every record so far durable. */
  sync(): void {
    fdatasyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/**
 * Reads the records after byte `offset` of a journal; returns them, the offset to resume from and
 * the file's inode (a different inode than last time: the journal was rotated or replaced).
 */
export function readJournal(file: string, offset: number): { records: ChangeRecord[]; next: number; ino: number } {
  const fd = openSync(file, 'r');
  try {
    const { size, ino } = fstatSync(fd);
    if (size <= offset) return { records: [], next: offset, ino };
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    // A line still being written has no newline yet: leave it for the next read.
    const end = buf.lastIndexOf(0x0a) + 1;
    const records = buf
      .toString('utf8', 0, end)
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as ChangeRecord);
    return { records, next: offset + end, ino };
  } finally {
    closeSync(fd);
  }
}
