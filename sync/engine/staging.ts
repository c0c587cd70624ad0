/**
 * The files of one incoming version, built in place as chunks arrive: a chunk is written straight
 * to every position it takes in the new files (one write, no staging copy), and recorded in a
 * log so a restarted receiver knows what it already holds. A big file whose old copy still lines
 * up (an overwrite in the middle) starts as a kernel copy of the old file, and only the changed
 * chunks are written into it. Nothing here touches the tree: the receiver renames the finished
 * files into place under its journal.
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  fchmodSync,
  constants,
  copyFileSync,
  existsSync,
  fsyncSync,
  ftruncateSync,
  futimesSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { close, fdatasync, open } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, fsyncPath } from '../../lib/durable.js';
import { chunkHash } from './chunker.js';
import type { ChunkRef, FileEntry, Hash, SymlinkEntry } from './manifest.js';
import type { ApplyPlan } from './plan.js';

/** One new file (or symlink) of the version, and which of its chunk positions hold their data. */
interface StagedWrite {
  path: string;
  entry: FileEntry | SymlinkEntry;
  chunks: ChunkRef[];
  /** Started as a copy of the old file: unfilled positions hold old bytes, not zeros. */
  cloned: boolean;
  /** Positions the copy of the old file already holds. */
  aligned: number[];
}

/** Where the old version of a file is, with what the receiver applied there. */
export interface OldFile {
  absPath: string;
  entry: FileEntry;
  chunks: ChunkRef[];
}

/** Temp files kept open at once while chunks arrive (a tree of many small files must not exhaust fds). */
const OPEN_FILES_MAX = 64;
/** Files at least this big start their flush as soon as they are complete (small ones wait for the one syncfs). */
const EARLY_FLUSH_MIN_BYTES = 4 * 1024 * 1024;
const CREATE_RW = constants.O_RDWR | constants.O_CREAT;
/** More than this many files: one syncfs instead of an fsync each. */
const FSYNC_EACH_MAX = 16;
const LOG = 'placed.log';
const HASH_BYTES = 32;
const STATE = 'staging.json';

export class Staging {
  private readonly offsets: number[][];
  private readonly filled: Uint8Array[];
  private readonly placements = new Map<Hash, [write: number, chunk: number][]>();
  private readonly fds = new Map<number, number>();
  /** Filled positions per write, to notice a file that is complete. */
  private readonly filledCount: number[];
  /** Writes already given their size, time and mode (when their last chunk arrived). */
  private readonly finalized = new Set<number>();
  private logFd: number | undefined;

  private constructor(
    private readonly dir: string,
    readonly root: Hash,
    readonly plan: ApplyPlan,
    private readonly writes: StagedWrite[],
  ) {
    this.offsets = writes.map((w) => {
      let at = 0;
      return w.chunks.map(([, size]) => ((at += size), at - size));
    });
    this.filled = writes.map((w) => new Uint8Array(w.chunks.length));
    this.filledCount = writes.map(() => 0);
    for (const [i, w] of writes.entries())
      for (const [j, [hash]] of w.chunks.entries()) {
        const list = this.placements.get(hash);
        if (list) list.push([i, j]);
        else this.placements.set(hash, [[i, j]]);
      }
  }

  /** The temp file of plan.writes[i]. */
  temp(i: number): string {
    return join(this.dir, String(i));
  }

  /** Creates the temp files for `plan` (sparse, or copies of old files that line up). */
  static create(
    dir: string,
    root: Hash,
    plan: ApplyPlan,
    chunksOf: (entry: FileEntry) => ChunkRef[],
    oldFile: (path: string) => OldFile | undefined,
  ): Staging {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const writes: StagedWrite[] = plan.writes.map(({ path, entry }) => ({
      path,
      entry,
      chunks: entry.type === 'file' ? chunksOf(entry) : [],
      cloned: false,
      aligned: [],
    }));
    const staging = new Staging(dir, root, plan, writes);
    for (const [i, w] of writes.entries()) {
      if (w.entry.type !== 'file') continue;
      const old = oldFile(w.path);
      const aligned = old ? staging.aligned(i, old) : [];
      if (old && aligned.length * 2 >= w.chunks.length && w.chunks.length > 1) {
        copyFileSync(old.absPath, staging.temp(i), constants.COPYFILE_FICLONE);
        w.cloned = true;
        w.aligned = aligned;
        for (const j of aligned) staging.filled[i]![j] = 1;
      }
      // Other temp files are created when their first chunk arrives, and sized in finish().
    }
    writeFileAtomic(join(dir, STATE), JSON.stringify({ root, plan, writes }));
    return staging;
  }

  /** Reloads a staging left by an earlier run (the chunks it logged count as held). */
  static load(dir: string): Staging | undefined {
    if (!existsSync(join(dir, STATE))) return undefined;
    try {
      const saved = JSON.parse(readFileSync(join(dir, STATE), 'utf8')) as {
        root: Hash;
        plan: ApplyPlan;
        writes: StagedWrite[];
      };
      const staging = new Staging(dir, saved.root, saved.plan, saved.writes);
      for (const [i, w] of saved.writes.entries()) for (const j of w.aligned) staging.filled[i]![j] = 1;
      if (existsSync(join(dir, LOG))) {
        const log = readFileSync(join(dir, LOG));
        const whole = log.length - (log.length % HASH_BYTES);
        // A record torn by a kill is dropped, so the records appended after it stay aligned.
        if (whole !== log.length) truncateSync(join(dir, LOG), whole);
        for (let at = 0; at < whole; at += HASH_BYTES) staging.mark(log.subarray(at, at + HASH_BYTES).toString('hex'));
      }
      return staging;
    } catch {
      rmSync(dir, { recursive: true, force: true });
      return undefined;
    }
  }

  /** Positions of write i whose chunk sits at the same offset in the old file. */
  private aligned(i: number, old: OldFile): number[] {
    const st = lstatSync(old.absPath, { throwIfNoEntry: false });
    // Trust the old bytes only if the file is still what this receiver wrote there.
    if (!st?.isFile() || st.size !== old.entry.sizeBytes || Math.trunc(st.mtimeMs) !== old.entry.mtimeMs) return [];
    const oldAt = new Map<number, Hash>();
    let at = 0;
    for (const [hash, size] of old.chunks) {
      oldAt.set(at, hash);
      at += size;
    }
    const out: number[] = [];
    for (const [j, [hash]] of this.writes[i]!.chunks.entries())
      if (oldAt.get(this.offsets[i]![j]!) === hash) out.push(j);
    return out;
  }

  private mark(hash: Hash): void {
    for (const [i, j] of this.placements.get(hash) ?? []) this.filled[i]![j] = 1;
  }

  /** True when the version needs this chunk and every position of it is written. */
  has(hash: Hash): boolean {
    const list = this.placements.get(hash);
    return list !== undefined && list.every(([i, j]) => this.filled[i]![j] === 1);
  }

  /** Writes a verified chunk to every position it takes; false when the version does not use it. */
  place(hash: Hash, data: Buffer): boolean {
    const list = this.placements.get(hash);
    if (!list) return false;
    const zero = isZero(data);
    for (const [i, j] of list) {
      if (this.filled[i]![j]) continue;
      if (!zero || this.writes[i]!.cloned) writeAllAt(this.fd(i), data, this.offsets[i]![j]!); // fresh temp files are sparse
      this.filled[i]![j] = 1;
      if (++this.filledCount[i]! === this.writes[i]!.chunks.length) this.complete(i);
    }
    this.logFd ??= openSync(join(this.dir, LOG), 'a');
    writeAllAt(this.logFd, Buffer.from(hash, 'hex'), null);
    return true;
  }

  /**
   * A file whose every chunk has arrived gets its size, time and mode now, while its descriptor is
   * open (a tree of many small files would otherwise open each twice), and a big one starts going
   * to disk. finish() still makes every file durable.
   */
  private complete(i: number): void {
    const entry = this.writes[i]!.entry as FileEntry;
    setMetadata(this.fd(i), entry);
    this.finalized.add(i);
    const fd = this.fds.get(i)!;
    this.fds.delete(i);
    closeSync(fd);
    if (entry.sizeBytes >= EARLY_FLUSH_MIN_BYTES) this.flushEarly(i);
  }

  /**
   * A file whose every chunk has arrived starts going to disk now, in the background, while other
   * chunks still arrive; the fsync (or syncfs) in finish() then has little left to wait for. Only
   * an optimisation: finish() makes every file durable regardless.
   */
  private flushEarly(i: number): void {
    open(this.temp(i), 'r', (error, fd) => {
      if (error) return;
      fdatasync(fd, () => close(fd, () => undefined));
    });
  }

  /** Fills every position still empty from `read`; returns the chunks no one could provide. */
  fill(read: (hash: Hash) => Buffer | undefined): Hash[] {
    const missing = new Set<Hash>();
    for (const [i, w] of this.writes.entries()) {
      for (const [j, [hash]] of w.chunks.entries()) {
        if (this.filled[i]![j] || missing.has(hash)) continue;
        const data = read(hash);
        if (data) this.place(hash, data);
        else missing.add(hash);
      }
    }
    return [...missing];
  }

  /** Makes every temp file durable and gives it its metadata; creates the symlinks. */
  finish(): void {
    this.closeFds();
    const files = this.writes.map((w, i) => [w, this.temp(i)] as const);
    const syncEach = files.length <= FSYNC_EACH_MAX;
    for (const [i, [w, tmp]] of files.entries()) {
      if (w.entry.type === 'symlink') {
        rmSync(tmp, { force: true });
        symlinkSync(w.entry.target, tmp);
        lutimesSync(tmp, timeOf(w.entry.mtimeMs), timeOf(w.entry.mtimeMs));
        continue;
      }
      if (this.finalized.has(i) && !syncEach) continue;
      const fd = openSync(tmp, CREATE_RW, 0o600);
      try {
        if (!this.finalized.has(i)) setMetadata(fd, w.entry);
        if (syncEach) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    // Content and metadata first, then one flush of the filesystem for all of them.
    if (!syncEach && !syncfs(this.dir)) for (const [w, tmp] of files) if (w.entry.type === 'file') fsyncPath(tmp);
    fsyncPath(this.dir);
  }

  /**
   * A chunk written here, read back from a position that holds it and checked against its hash;
   * undefined when none does. (A zero chunk in a fresh sparse file may lie past the file's end
   * until the file is complete: reading it there gives nothing, not zeros, and is refused.)
   */
  read(hash: Hash): Buffer | undefined {
    for (const [i, j] of this.placements.get(hash) ?? []) {
      if (!this.filled[i]![j] || !existsSync(this.temp(i))) continue;
      const data = Buffer.allocUnsafe(this.writes[i]!.chunks[j]![1]);
      if (readFully(this.fd(i), data, this.offsets[i]![j]!) && chunkHash(data) === hash) return data;
    }
    return undefined;
  }

  /** Hands every chunk written so far that reads back intact to `keep` (a staging abandoned for another version). */
  salvage(keep: (hash: Hash, data: Buffer) => void): void {
    for (const hash of this.placements.keys()) {
      const data = this.read(hash);
      if (data) keep(hash, data);
    }
  }

  private fd(i: number): number {
    let fd = this.fds.get(i);
    if (fd === undefined) {
      if (this.fds.size >= OPEN_FILES_MAX) {
        const [oldest, oldFd] = this.fds.entries().next().value as [number, number];
        this.fds.delete(oldest);
        closeSync(oldFd);
      }
      fd = openSync(this.temp(i), CREATE_RW, 0o600);
      this.fds.set(i, fd);
    }
    return fd;
  }

  private closeFds(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
    if (this.logFd !== undefined) closeSync(this.logFd);
    this.logFd = undefined;
  }

  /** Removes the staging (after its files were moved, or when it is abandoned). */
  drop(): void {
    this.closeFds();
    rmSync(this.dir, { recursive: true, force: true });
  }

  close(): void {
    this.closeFds();
  }
}

/** Size (a sparse tail, or trimming a longer old copy), mtime and mode of a staged file. */
function setMetadata(fd: number, entry: FileEntry): void {
  ftruncateSync(fd, entry.sizeBytes);
  futimesSync(fd, timeOf(entry.mtimeMs), timeOf(entry.mtimeMs));
  fchmodSync(fd, entry.mode);
}

/** syncfs(2) on the filesystem holding `dir` (coreutils `sync -f`); false when unavailable. */
function syncfs(dir: string): boolean {
  try {
    execFileSync('sync', ['-f', dir], { stdio: 'ignore', timeout: 600_000 });
    return true;
  } catch {
    return false;
  }
}

/** utimes takes seconds as a double; half a millisecond more keeps the whole milliseconds exact. */
export function timeOf(mtimeMs: number): number {
  return (mtimeMs + 0.5) / 1000;
}

const ZERO = Buffer.alloc(1024 * 1024);
export function isZero(data: Buffer): boolean {
  for (let i = 0; i < data.length; i += ZERO.length) {
    const n = Math.min(ZERO.length, data.length - i);
    if (!data.subarray(i, i + n).equals(ZERO.subarray(0, n))) return false;
  }
  return true;
}

/** Reads data.length bytes at `position`; false when the file ends first. */
function readFully(fd: number, data: Buffer, position: number): boolean {
  for (let done = 0; done < data.length;) {
    const n = readSync(fd, data, done, data.length - done, position + done);
    if (n === 0) return false;
    done += n;
  }
  return true;
}

function writeAllAt(fd: number, data: Buffer, position: number | null): void {
  let done = 0;
  while (done < data.length)
    done += writeSync(fd, data, done, data.length - done, position === null ? null : position + done);
}
