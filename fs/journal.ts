/**
 * The change journal: every change made through the Kmesh filesystem, appended before the request
 * is answered, so a consumer (the sync worker) learns what changed without scanning the tree. One
 * JSON object per line. A record reaches the file with write(2) before the reply, so a crash of the
 * daemon loses none; fsync of a file through the mount also makes the journal durable, so what an
 * application made durable is known to have changed after a machine crash too.
 * docs/architecture.md#the-change-journal describes the records and how they are consumed.
 */
import { closeSync, fdatasyncSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';

/** What happened to a path. `write` with no ranges means "may have changed anywhere". */
export type ChangeOp =
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
  /** write: byte ranges [offset, length] written, when known. */
  ranges?: [number, number][];
  /** truncate: the new size. */
  size?: number;
}

/** Names are latin1 inside fs/; the journal speaks UTF-8 like the rest of Kmesh. */
const utf8 = (latin1: string): string => Buffer.from(latin1, 'latin1').toString('utf8');

export class ChangeJournal {
  private readonly fd: number;
  private appended = 0;

  constructor(readonly file: string) {
    this.fd = openSync(file, 'a');
  }

  /** Appends one record (paths as fs/ keeps them, latin1). */
  record(op: ChangeOp, path: string, extra: Omit<ChangeRecord, 't' | 'op' | 'path'> = {}): void {
    const record: ChangeRecord = { t: Date.now(), op, path: utf8(path), ...extra };
    if (record.to !== undefined) record.to = utf8(record.to);
    writeSync(this.fd, JSON.stringify(record) + '\n');
    this.appended++;
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

/** Reads the records after byte `offset` of a journal; returns them and the offset to resume from. */
export function readJournal(file: string, offset: number): { records: ChangeRecord[]; next: number } {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size <= offset) return { records: [], next: offset };
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    // A line still being written has no newline yet: leave it for the next read.
    const end = buf.lastIndexOf(0x0a) + 1;
    const records = buf
      .toString('utf8', 0, end)
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as ChangeRecord);
    return { records, next: offset + end };
  } finally {
    closeSync(fd);
  }
}
