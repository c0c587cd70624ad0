/**
 * A cached tree (`access: cache`): the namespace and bytes of another version (another site's
 * DataFlow, a snapshot) are readable at once and arrive as they are used. Directories are filled
 * from the manifest when first looked into; a file starts as a sparse placeholder of the right size,
 * mode and mtime, and each read fetches the content-defined chunks it touches (checked against
 * their hashes), writes them into the placeholder, and serves from there. Sequential reads fetch
 * ahead, with a window that grows. A file whose chunks are all here opens with kernel passthrough.
 * Past the cache's size (or below a free-space floor) the least recently used files not in use
 * give their fetched bytes back (holes again). Writes go to the local copy (a file is completed
 * before it is opened for writing, and is local data from then on, never evicted). When the origin's version changes, directories already filled are brought
 * up to date and the kernel's caches of what changed are dropped.
 * docs/architecture.md#cross-site-caching describes the design and its limits.
 */
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  constants,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statfsSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { BackingTree, type BackingTreeOptions, type FileHandle } from '../backing-tree.js';
import { ErrnoError, fallocate, futimens, utimens } from '../libc.js';
import { writeFileAtomic } from '../../lib/durable.js';
import type { FsNode } from '../nodes.js';
import type { Caller, Entry, Opened, SetattrRequest } from '../operations.js';
import { Chunker } from '../../sync/engine/chunker.js';
import type { ChunkRef, DirNode, Entry as ManifestEntry, FileEntry, Hash } from '../../sync/engine/manifest.js';
import { ManifestStore } from './manifest-store.js';
import {
  readDirMark,
  readLazyMark,
  readLazyMarkQuietly,
  removeLazyMark,
  writeDirMark,
  writeLazyMark,
  type DirMark,
  type LazyMark,
} from './lazy-marks.js';
import { sha256, type Origin } from './origin.js';

const EIO = 5;
const FALLOC_FL_KEEP_SIZE = 1;
const FALLOC_FL_PUNCH_HOLE = 2;
const { O_ACCMODE, O_CREAT, O_EXCL, O_TRUNC, O_WRONLY } = { ...constants, O_ACCMODE: 3 };
/** The hash of the chunk a run of zeros is cut into: a hole already holds it. */
const ZERO_CHUNK = new Chunker().zeroChunk.hash;

const bytes = (latin1: string): Buffer => Buffer.from(latin1, 'latin1');
/** Manifest names are UTF-8 text; fs/ paths are latin1 (one char per byte). */
const latin1 = (utf8: string): string => Buffer.from(utf8, 'utf8').toString('latin1');
const msToNs = (ms: number): bigint => BigInt(Math.trunc(ms)) * 1_000_000n;

export interface CacheStats {
  /** Bytes applications read from lazy files through the daemon. */
  bytesRead: number;
  /** Chunk bytes fetched from the origin (plaintext), and how many chunks. */
  bytesFetched: number;
  chunksFetched: number;
  /** Reads served without fetching / reads that waited for a fetch. */
  hits: number;
  misses: number;
  /** Bytes fetched ahead of reads. */
  prefetchedBytes: number;
  /** Files whose every chunk arrived (now ordinary files). */
  filesCompleted: number;
  /** Directories filled from the manifest. */
  dirsFilled: number;
  /** Bytes of the origin's files held here now (fetched, not evicted, not rewritten locally). */
  cachedBytes: number;
  /** Files whose fetched bytes were given back, and how many bytes. */
  evictions: number;
  evictedBytes: number;
}

export interface CacheTreeOptions extends BackingTreeOptions {
  origin: Origin;
  /** The cache's own state: manifest nodes, presence of lazy files' chunks. */
  stateDir: string;
  /** How often to ask the origin for its version (ms; 0: never). Default 1000. */
  refreshMs?: number;
  /** Largest read-ahead window in bytes. Default 64 MiB. */
  prefetchMaxBytes?: number;
  /** Chunks asked for in one request. Default 16. */
  fetchBatch?: number;
  /** Bytes of fetched data to keep; past it the least recently used files not in use are evicted. Default: no limit. */
  sizeBytes?: number;
  /** Evict while the backing filesystem has less free space than this. Default 0. */
  minFreeBytes?: number;
}

/** A file holding fetched bytes, for eviction (least recently used first). */
interface Cached {
  path: string;
  bytes: number;
  lastUsed: number;
}

/** What the kernel must be told when the origin changed names or files. */
export interface Invalidator {
  invalidateEntry(parent: number, name: string): void;
  invalidateInode(nodeId: number): void;
}

/** A lazy file while in use: its chunk list, where each chunk starts, and which are here. */
class LazyFile {
  readonly offsets: number[] = [];
  private missingCount: number;

  constructor(
    readonly mark: LazyMark,
    readonly chunks: ChunkRef[],
    readonly present: Uint8Array,
    private readonly presenceFd: number,
    readonly writeFd: number,
  ) {
    let at = 0;
    for (const [, size] of chunks) {
      this.offsets.push(at);
      at += size;
    }
    chunks.forEach(([hash], i) => {
      if (hash === ZERO_CHUNK) present[i] = 1;
    });
    this.missingCount = present.reduce((n, p) => n + (p ? 0 : 1), 0);
  }

  get complete(): boolean {
    return this.missingCount === 0;
  }

  /** Indexes of the chunks overlapping [start, end) that are not here. */
  missing(start: number, end: number): number[] {
    const out: number[] = [];
    // Binary search for the first chunk ending after `start`.
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.offsets[mid]! + this.chunks[mid]![1] <= start) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.chunks.length && this.offsets[i]! < end; i++) if (!this.present[i]) out.push(i);
    return out;
  }

  /** Records chunk `i` as written (the data is in the file before the mark is). */
  arrived(i: number): void {
    if (this.present[i]) return;
    this.present[i] = 1;
    this.missingCount--;
    writeSync(this.presenceFd, Buffer.from([1]), 0, 1, i);
  }

  close(): void {
    closeSync(this.presenceFd);
    closeSync(this.writeFd);
  }
}

/** Read-ahead state of one open handle. */
interface ReadAhead {
  lastEnd: number;
  window: number;
}

export class CacheTree extends BackingTree {
  readonly store: ManifestStore;
  readonly stats: CacheStats = {
    bytesRead: 0,
    bytesFetched: 0,
    chunksFetched: 0,
    hits: 0,
    misses: 0,
    prefetchedBytes: 0,
    filesCompleted: 0,
    dirsFilled: 0,
    cachedBytes: 0,
    evictions: 0,
    evictedBytes: 0,
  };
  /** Set by whoever serves the tree, to drop the kernel's caches of what the origin changed. */
  invalidator: Invalidator | undefined;
  private readonly lazyFiles = new Map<string, Promise<LazyFile>>();
  private readonly filling = new Map<string, Promise<void>>();
  private readonly fetching = new Map<string, Promise<void>>();
  private readonly readAhead = new WeakMap<FileHandle, ReadAhead>();
  private refreshTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private readonly lazyDir: string;
  /** Files holding fetched bytes, by their mark's key; kept in `<state>/cached.json`. */
  private readonly cached = new Map<string, Cached>();
  private evicting: Promise<void> | undefined;

  constructor(private readonly cache: CacheTreeOptions) {
    super(cache);
    this.store = new ManifestStore(join(cache.stateDir, 'nodes'), cache.origin);
    this.lazyDir = join(cache.stateDir, 'lazy');
    mkdirSync(this.lazyDir, { recursive: true });
    try {
      const saved = JSON.parse(readFileSync(join(cache.stateDir, 'cached.json'), 'utf8')) as Record<string, Cached>;
      for (const [k, c] of Object.entries(saved)) this.cached.set(k, c);
    } catch {
      // a new cache
    }
    this.stats.cachedBytes = [...this.cached.values()].reduce((n, c) => n + c.bytes, 0);
  }

  /** Writes the eviction index (called with the stats, every second). */
  saveIndex(): void {
    writeFileAtomic(join(this.cache.stateDir, 'cached.json'), JSON.stringify(Object.fromEntries(this.cached)));
  }

  private used(k: string, path: string, addedBytes = 0): void {
    const entry = this.cached.get(k) ?? { path, bytes: 0, lastUsed: 0 };
    entry.path = path;
    entry.bytes += addedBytes;
    entry.lastUsed = Date.now();
    this.cached.set(k, entry);
    this.stats.cachedBytes += addedBytes;
  }

  private forgetCached(k: string): void {
    const entry = this.cached.get(k);
    if (!entry) return;
    this.cached.delete(k);
    this.stats.cachedBytes -= entry.bytes;
  }

  private overLimit(): boolean {
    const { sizeBytes, minFreeBytes } = this.cache;
    if (sizeBytes !== undefined && this.stats.cachedBytes > sizeBytes) return true;
    if (!minFreeBytes) return false;
    const s = statfsSync(this.cache.root);
    return s.bavail * s.bsize < minFreeBytes;
  }

  /** Evicts least recently used files until within the limits; one eviction run at a time. */
  evict(): Promise<void> {
    this.evicting ??= Promise.resolve()
      .then(() => {
        for (const [k, entry] of [...this.cached].sort((a, b) => a[1].lastUsed - b[1].lastUsed)) {
          if (!this.overLimit()) break;
          this.evictOne(k, entry);
        }
      })
      .finally(() => (this.evicting = undefined));
    return this.evicting;
  }

  /** Gives back the fetched bytes of one file not in use: holes again, mark says nothing is here. */
  private evictOne(k: string, entry: Cached): void {
    const mark = readLazyMarkQuietly(entry.path);
    if (mark?.k !== k) {
      this.forgetCached(k); // renamed, removed or rewritten: found again when it is next read
      return;
    }
    const node = this.nodeAt(entry.path);
    const inUse = node !== undefined && (node.openFds.size > 0 || node.backing !== undefined);
    if (inUse || [...this.fetching.keys()].some((key) => key.startsWith(`${k}:`))) return;
    const fd = openSync(bytes(entry.path), O_WRONLY);
    try {
      fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0n, BigInt(mark.s));
      futimens(fd, undefined, msToNs(mark.t));
    } finally {
      closeSync(fd);
    }
    const lazy: LazyMark = { ...mark };
    delete lazy.c;
    writeLazyMark(entry.path, lazy);
    const loaded = this.lazyFiles.get(k);
    this.lazyFiles.delete(k);
    void loaded?.then((f) => f.close()).catch(() => undefined);
    rmSync(join(this.lazyDir, k), { force: true });
    this.forgetCached(k);
    this.stats.evictions++;
    this.stats.evictedBytes += entry.bytes;
    if (node) this.invalidator?.invalidateInode(node.id);
  }

  /** Marks the root with the origin's version (first use), or brings it up to date; then keeps it so. */
  async start(): Promise<void> {
    const root = await this.cache.origin.root();
    const mark = readDirMark(this.rootPath);
    if (!mark) writeDirMark(this.rootPath, { n: root, m: 0, t: Date.now() });
    else if (mark.n !== root) await this.update(this.rootPath, mark.n, root);
    const every = this.cache.refreshMs ?? 1000;
    if (every > 0) {
      this.refreshTimer = setInterval(() => void this.refresh(), every);
      this.refreshTimer.unref();
    }
  }

  stop(): void {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.cache.origin.close();
  }

  /** Asks the origin for its version and applies it; one at a time. */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const root = await this.cache.origin.root();
        const mark = readDirMark(this.rootPath);
        if (mark && mark.n !== root) await this.update(this.rootPath, mark.n, root);
      } catch (err) {
        this.options.log.warn({ err }, 'could not refresh from the origin; serving what is here');
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  // --- the namespace: directories filled on first look -------------------------------------

  /** Fills directory `path` from its manifest node, once. */
  private fill(path: string): Promise<void> | undefined {
    const mark = readDirMark(path);
    if (!mark || mark.m === 1) return undefined;
    let filling = this.filling.get(path);
    if (!filling) {
      filling = this.fillNow(path, mark).finally(() => this.filling.delete(path));
      this.filling.set(path, filling);
    }
    return filling;
  }

  private async fillNow(path: string, mark: DirMark): Promise<void> {
    const node = await this.dirNode(mark.n);
    for (const entry of node.entries) await this.place(`${path}/${latin1(entry.name)}`, entry, mark.n);
    writeDirMark(path, { ...mark, m: 1 });
    utimens(path, undefined, msToNs(mark.t));
    this.stats.dirsFilled++;
  }

  private async dirNode(hash: Hash): Promise<DirNode> {
    const node = await this.store.node(hash);
    if (node.type !== 'dir') throw new ErrnoError(EIO, `manifest node ${hash} is not a directory`);
    return node;
  }

  /** Creates the placeholder of one manifest entry, unless something is there already (local wins). */
  private async place(path: string, entry: ManifestEntry, dirHash: Hash): Promise<void> {
    if (lstatSync(bytes(path), { throwIfNoEntry: false })) return;
    const mtime = msToNs(entry.mtimeMs);
    if (entry.type === 'dir') {
      mkdirSync(bytes(path), entry.mode & 0o7777);
      writeDirMark(path, { n: entry.node, m: 0, t: entry.mtimeMs });
      utimens(path, undefined, mtime);
    } else if (entry.type === 'symlink') {
      symlinkSync(bytes(latin1(entry.target)), bytes(path));
      utimens(path, undefined, mtime);
    } else {
      const fd = openSync(bytes(path), O_CREAT | O_EXCL | O_WRONLY, entry.mode & 0o7777);
      try {
        ftruncateSync(fd, entry.sizeBytes);
        const chunks = await this.store.chunks(entry);
        if (chunks.some(([hash]) => hash !== ZERO_CHUNK)) {
          writeLazyMark(path, { k: randomUUID(), d: dirHash, n: entry.name, s: entry.sizeBytes, t: entry.mtimeMs });
        }
        futimens(fd, undefined, mtime);
      } finally {
        closeSync(fd);
      }
    }
  }

  private pathOf(nodeId: number): string {
    return this.nodes.path(this.nodes.get(nodeId));
  }

  override async lookup(caller: Caller, parent: number, name: string): Promise<Entry> {
    await this.fill(this.pathOf(parent));
    return super.lookup(caller, parent, name);
  }

  override async opendir(nodeId: number): Promise<Opened> {
    await this.fill(this.pathOf(nodeId));
    return super.opendir(nodeId);
  }

  override async create(caller: Caller, parent: number, name: string, flags: number, mode: number) {
    await this.fill(this.pathOf(parent));
    return super.create(caller, parent, name, flags, mode);
  }

  override async mkdir(caller: Caller, parent: number, name: string, mode: number): Promise<Entry> {
    await this.fill(this.pathOf(parent));
    return super.mkdir(caller, parent, name, mode);
  }

  override async mknod(caller: Caller, parent: number, name: string, mode: number, rdev: number): Promise<Entry> {
    await this.fill(this.pathOf(parent));
    return super.mknod(caller, parent, name, mode, rdev);
  }

  override async symlink(caller: Caller, parent: number, name: string, target: Buffer): Promise<Entry> {
    await this.fill(this.pathOf(parent));
    return super.symlink(caller, parent, name, target);
  }

  override async link(nodeId: number, newParent: number, newName: string): Promise<Entry> {
    await this.fill(this.pathOf(newParent));
    return super.link(nodeId, newParent, newName);
  }

  override async unlink(parent: number, name: string): Promise<void> {
    await this.fill(this.pathOf(parent));
    return super.unlink(parent, name);
  }

  override async rmdir(parent: number, name: string): Promise<void> {
    const path = this.pathOf(parent);
    await this.fill(path);
    // Its entries from the manifest count: a directory that has some is not empty.
    await this.fill(`${path}/${name}`);
    return super.rmdir(parent, name);
  }

  override async rename(parent: number, name: string, newParent: number, newName: string, flags: number) {
    const [from, to] = [this.pathOf(parent), this.pathOf(newParent)];
    await this.fill(from);
    await this.fill(to);
    // A directory moved (or replaced) keeps what the manifest says it holds.
    await this.fill(`${from}/${name}`);
    await this.fill(`${to}/${newName}`);
    return super.rename(parent, name, newParent, newName, flags);
  }

  // --- file data: fetched on read ------------------------------------------------------------

  protected override passthroughAllowed(path: string): boolean {
    const mark = readLazyMark(path);
    if (mark?.c) this.used(mark.k, path);
    return mark === undefined || mark.c === 1;
  }

  /** The lazy state of the file at `path`, or undefined when all its bytes are here. */
  private lazyAt(path: string): Promise<LazyFile> | undefined {
    const mark = readLazyMark(path);
    if (!mark || mark.c === 1) return undefined;
    this.used(mark.k, path);
    let file = this.lazyFiles.get(mark.k);
    if (!file) {
      file = this.loadLazy(path, mark);
      file.catch(() => this.lazyFiles.delete(mark.k));
      this.lazyFiles.set(mark.k, file);
    }
    return file;
  }

  private async loadLazy(path: string, mark: LazyMark): Promise<LazyFile> {
    const dir = await this.dirNode(mark.d);
    const entry = dir.entries.find((e): e is FileEntry => e.type === 'file' && e.name === mark.n);
    if (!entry) throw new ErrnoError(EIO, `manifest node ${mark.d} has no file ${mark.n}`);
    const chunks = await this.store.chunks(entry);
    const presenceFile = join(this.lazyDir, mark.k);
    const present = new Uint8Array(chunks.length);
    try {
      present.set(readFileSync(presenceFile).subarray(0, chunks.length));
    } catch {
      // nothing fetched yet
    }
    const presenceFd = openSync(presenceFile, 'a+');
    const presenceWrite = openSync(presenceFile, 'r+');
    closeSync(presenceFd);
    return new LazyFile(mark, chunks, present, presenceWrite, openSync(bytes(path), O_WRONLY));
  }

  /** Makes [start, end) of a lazy file local; the file becomes ordinary once complete. */
  private async ensure(path: string, file: LazyFile, start: number, end: number, ahead = false): Promise<void> {
    const waits: Promise<void>[] = [];
    const wanted: number[] = [];
    for (const i of file.missing(start, end)) {
      const key = `${file.mark.k}:${i}`;
      const inFlight = this.fetching.get(key);
      if (inFlight) waits.push(inFlight);
      else wanted.push(i);
    }
    const batch = this.cache.fetchBatch ?? 16;
    for (let at = 0; at < wanted.length; at += batch) {
      const part = wanted.slice(at, at + batch);
      const done = this.fetchChunks(path, file, part, ahead);
      for (const i of part) {
        const key = `${file.mark.k}:${i}`;
        this.fetching.set(key, done);
        void done.catch(() => undefined).finally(() => this.fetching.delete(key));
      }
      waits.push(done);
    }
    await Promise.all(waits);
    if (file.complete) this.complete(path, file);
    if (wanted.length && this.overLimit()) void this.evict();
  }

  /** Writes fetched bytes into the placeholder; a full filesystem first gives back other files' bytes. */
  private async writeChunk(file: LazyFile, data: Buffer, offset: number): Promise<void> {
    try {
      writeSync(file.writeFd, data, 0, data.length, offset);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      await this.evict();
      writeSync(file.writeFd, data, 0, data.length, offset);
    }
  }

  private async fetchChunks(path: string, file: LazyFile, indexes: number[], ahead: boolean): Promise<void> {
    const byHash = new Map<Hash, number[]>();
    for (const i of indexes) {
      const hash = file.chunks[i]![0];
      byHash.set(hash, [...(byHash.get(hash) ?? []), i]);
    }
    for await (const { hash, data } of this.cache.origin.chunks([...byHash.keys()])) {
      const positions = byHash.get(hash);
      if (!positions) continue;
      if (!this.cache.origin.verified && sha256(data) !== hash)
        throw new ErrnoError(EIO, `chunk ${hash} from the origin does not match its hash`);
      for (const i of positions) {
        await this.writeChunk(file, data, file.offsets[i]!);
        file.arrived(i);
        this.used(file.mark.k, path, data.length);
      }
      byHash.delete(hash);
      // Writing the chunk moved the mtime; the file still is the origin's version.
      futimens(file.writeFd, undefined, msToNs(file.mark.t));
      this.stats.chunksFetched++;
      this.stats.bytesFetched += data.length;
      if (ahead) this.stats.prefetchedBytes += data.length;
    }
    if (byHash.size) throw new ErrnoError(EIO, `the origin did not send ${byHash.size} chunk(s)`);
  }

  /** Every chunk is here: it opens with passthrough from now on, and stays evictable (its presence file goes). */
  private complete(path: string, file: LazyFile): void {
    if (!this.lazyFiles.has(file.mark.k)) return;
    try {
      writeLazyMark(path, { ...file.mark, c: 1 });
    } catch {
      // renamed or removed meanwhile: found again on the next use
    }
    this.lazyFiles.delete(file.mark.k);
    file.close();
    rmSync(join(this.lazyDir, file.mark.k), { force: true });
    this.stats.filesCompleted++;
  }

  /** Fetches everything a lazy file still lacks; it is about to be written, so it is local data from now on. */
  private async thicken(path: string): Promise<void> {
    const lazy = this.lazyAt(path);
    if (lazy) {
      const file = await lazy;
      await this.ensure(path, file, 0, file.mark.s);
    }
    this.drop(path);
  }

  /** The file is local data from now on (written or truncated here): never fetched into, never evicted. */
  private drop(path: string): void {
    const mark = readLazyMark(path);
    if (!mark) return;
    removeLazyMark(path);
    this.forgetCached(mark.k);
    const loaded = this.lazyFiles.get(mark.k);
    this.lazyFiles.delete(mark.k);
    void loaded?.then((f) => f.close()).catch(() => undefined);
    rmSync(join(this.lazyDir, mark.k), { force: true });
  }

  override async open(caller: Caller, nodeId: number, flags: number): Promise<Opened> {
    const path = this.pathOf(nodeId);
    if ((flags & O_ACCMODE) !== constants.O_RDONLY) {
      if (flags & O_TRUNC) this.drop(path);
      else await this.thicken(path);
    }
    return super.open(caller, nodeId, flags);
  }

  override async setattr(caller: Caller, nodeId: number, request: SetattrRequest) {
    if (request.size !== undefined) {
      const path = this.pathOf(nodeId);
      if (request.size === 0n) this.drop(path);
      else await this.thicken(path);
    }
    return super.setattr(caller, nodeId, request);
  }

  override async read(nodeId: number, fh: number, offset: bigint, size: number): Promise<Buffer> {
    const handle = this.handles.get(fh);
    if (handle?.kind === 'file' && !handle.passthrough) await this.fetchFor(handle, Number(offset), size);
    return super.read(nodeId, fh, offset, size);
  }

  private async fetchFor(handle: FileHandle, start: number, size: number): Promise<void> {
    let path: string;
    try {
      path = this.nodes.path(handle.node);
    } catch {
      return; // unlinked: what is here is what it has
    }
    const lazy = this.lazyAt(path);
    if (!lazy) return;
    const file = await lazy;
    const end = Math.min(start + size, file.mark.s);
    this.stats.bytesRead += Math.max(0, end - start);
    if (file.missing(start, end).length === 0) this.stats.hits++;
    else this.stats.misses++;
    this.prefetch(handle, path, file, start, end);
    await this.ensure(path, file, start, end);
  }

  /** Sequential reads fetch ahead, the window doubling up to prefetchMaxBytes; never awaited. */
  private prefetch(handle: FileHandle, path: string, file: LazyFile, start: number, end: number): void {
    const state = this.readAhead.get(handle) ?? { lastEnd: -1, window: 0 };
    const max = this.cache.prefetchMaxBytes ?? 64 * 1024 * 1024;
    state.window = start === state.lastEnd || start === 0 ? Math.min(Math.max(state.window * 2, 1 << 20), max) : 0;
    state.lastEnd = end;
    this.readAhead.set(handle, state);
    if (state.window === 0 || end >= file.mark.s) return;
    void this.ensure(path, file, end, Math.min(end + state.window, file.mark.s), true).catch((err: unknown) =>
      this.options.log.debug({ err }, 'read-ahead failed; reads will fetch what they need'),
    );
  }

  // --- the origin changed ----------------------------------------------------------------------

  /** Brings directory `path` (filled from node `from`) to node `to`, recursing into filled subdirectories. */
  private async update(path: string, from: Hash, to: Hash): Promise<void> {
    const mark = readDirMark(path);
    if (!mark) return;
    if (mark.m === 0) {
      writeDirMark(path, { ...mark, n: to });
      return;
    }
    const [before, after] = [await this.dirNode(from), await this.dirNode(to)];
    const old = new Map(before.entries.map((e) => [e.name, e]));
    const parentNode = this.nodeAt(path);
    for (const entry of after.entries) {
      const previous = old.get(entry.name);
      old.delete(entry.name);
      const child = `${path}/${latin1(entry.name)}`;
      if (previous && JSON.stringify({ ...previous, vv: 0 }) === JSON.stringify({ ...entry, vv: 0 })) continue;
      if (previous?.type === 'dir' && entry.type === 'dir') {
        await this.update(child, previous.node, entry.node);
      } else {
        if (previous && !this.untouched(child, previous)) {
          const shown = Buffer.from(this.rel(child), 'latin1').toString();
          this.options.log.warn({ path: shown }, 'changed here and at the origin; keeping the local version');
          continue;
        }
        this.removeLocal(child);
        await this.place(child, entry, to);
      }
      if (parentNode) this.invalidator?.invalidateEntry(parentNode.id, latin1(entry.name));
    }
    for (const [name, previous] of old) {
      const child = `${path}/${latin1(name)}`;
      if (!this.untouched(child, previous)) continue;
      this.removeLocal(child);
      if (parentNode) this.invalidator?.invalidateEntry(parentNode.id, latin1(name));
    }
    writeDirMark(path, { ...mark, n: to });
  }

  /** True when the local file still is what the manifest entry made (or has no local changes). */
  private untouched(path: string, entry: ManifestEntry): boolean {
    const st = lstatSync(bytes(path), { throwIfNoEntry: false });
    if (!st) return true;
    if (entry.type === 'dir') return st.isDirectory();
    if (entry.type === 'symlink') return st.isSymbolicLink();
    return st.isFile() && st.size === entry.sizeBytes && Math.trunc(st.mtimeMs) === Math.trunc(entry.mtimeMs);
  }

  private removeLocal(path: string): void {
    this.drop(path);
    const st = lstatSync(bytes(path), { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) rmSync(bytes(path), { recursive: true, force: true });
    else unlinkSync(bytes(path));
  }

  /** The node of a backing path the kernel knows, if any. */
  private nodeAt(path: string): FsNode | undefined {
    const rel = this.rel(path);
    let node: FsNode | undefined = this.nodes.root;
    if (path === this.rootPath) return node;
    for (const name of rel.split('/')) {
      node = node?.children.get(name);
      if (!node) return undefined;
    }
    return node;
  }
}
