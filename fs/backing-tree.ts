/**
 * The Kmesh filesystem over a backing tree: every name and byte lives in a directory of the instance
 * filesystem (a local directory or Lustre), and this serves it through FUSE. Files whose bytes are
 * local open with kernel passthrough, so reads and writes run at the backing filesystem's speed and
 * only metadata comes here. Every change is appended to the change journal before it is answered.
 *
 * Paths are latin1 strings (fs/operations.ts); `bytes()` turns one into what node:fs takes.
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  renameSync,
  rmdirSync,
  rmSync,
  statfsSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeSync,
  chmodSync,
  type BigIntStats,
} from 'node:fs';
import {
  OpenFlag,
  RENAME_EXCHANGE,
  direntPlusSize,
  direntSize,
  writeDirent,
  writeDirentPlus,
  type Attr,
  type StatfsOut,
} from './abi.js';
import type { ChangeJournal } from './journal.js';
import * as libc from './libc.js';
import { ErrnoError } from './libc.js';
import { NodeTable, type FsNode, type NodeLog, type NodeRecord } from './nodes.js';
import type { Caller, Connection, Entry, FileSystem, MaybePromise, Opened, SetattrRequest } from './operations.js';
import { DEFAULT_TTL_MS } from './session.js';
import type { Logger } from '../lib/logging.js';

const EPERM = 1;
const EBADF = 9;
const ERANGE = 34;
const ENODATA = 61;
/** Extended attributes Kmesh keeps on backing files (lazy data); invisible and untouchable through the mount. */
export const KMESH_XATTR_PREFIX = 'trusted.kmesh.';
const { O_CREAT, O_DIRECT, O_EXCL, O_NOCTTY, O_RDWR, O_TRUNC, O_WRONLY, S_IFMT, S_IFREG } = constants;
// Not exported by node:fs constants.
const O_ACCMODE = 3;
const S_ISGID = 0o2000;

const bytes = (latin1: string): Buffer => Buffer.from(latin1, 'latin1');

function toAttr(s: BigIntStats): Attr {
  return {
    ino: s.ino,
    size: s.size,
    blocks: s.blocks,
    atimeNs: s.atimeNs,
    mtimeNs: s.mtimeNs,
    ctimeNs: s.ctimeNs,
    mode: Number(s.mode),
    nlink: Number(s.nlink),
    uid: Number(s.uid),
    gid: Number(s.gid),
    rdev: Number(s.rdev),
    blksize: Number(s.blksize),
  };
}

const inoKey = (s: BigIntStats): string => `${s.dev}:${s.ino}`;
const lstat = (path: string): BigIntStats => lstatSync(bytes(path), { bigint: true });

export interface FileHandle {
  kind: 'file';
  node: FsNode;
  fd: number;
  writable: boolean;
  passthrough: boolean;
  /** Byte ranges written through us since the last flush, merged when sequential. */
  ranges: [number, number][];
  /** Opened by a server before this one with passthrough; its release ends that backing reference. */
  earlierPassthrough?: boolean;
}

interface DirEntry {
  name: Buffer;
}

interface DirHandle {
  kind: 'dir';
  node: FsNode;
  /** Open on the directory (in node.openFds): fstat and fchmod of it still answer once it is removed. */
  fd: number;
  entries: DirEntry[];
}

export interface BackingTreeOptions {
  /** The directory served as the filesystem's root. */
  root: string;
  /** Where changes are recorded; none for a read-only or unsynced tree. */
  journal?: ChangeJournal;
  /** Where the node table's changes go, for a server that takes over the connection (fs/node-log.ts). */
  nodeLog?: NodeLog;
  /**
   * Taking over a connection from a server that died: its node table (from its log) and how many
   * servers came before (handle numbers of each start in a range of their own).
   */
  resume?: { records: NodeRecord[]; generation: number };
  /**
   * Where a file that loses its last name while open keeps a hidden one (`<dir>/<node id>`; on the
   * root's filesystem), so a server taking over the connection can open it again. Unset: such a
   * file cannot be reopened after a restart.
   */
  orphanDir?: string;
  log: Logger;
}

export class BackingTree implements FileSystem {
  readonly nodes: NodeTable;
  private connection: Connection | undefined;
  protected readonly handles = new Map<number, FileHandle | DirHandle>();
  private nextFh = 1;
  private readonly journal: ChangeJournal | undefined;
  protected readonly rootPath: string;
  /** Another server served this connection before: handles and backing files may be its. */
  private readonly resumed: boolean;

  constructor(protected readonly options: BackingTreeOptions) {
    this.rootPath = Buffer.from(options.root).toString('latin1');
    this.nodes = new NodeTable(this.rootPath, inoKey(lstat(this.rootPath)));
    this.journal = options.journal;
    this.resumed = options.resume !== undefined;
    if (options.resume) {
      this.nodes.replay(options.resume.records);
      this.nextFh = options.resume.generation * 2 ** 32 + 1;
    }
    this.nodes.log = options.nodeLog;
  }

  init(connection: Connection): void {
    this.connection = connection;
    // Whatever happened while nothing served the tree is unknown to the journal's readers.
    this.record('mount', '');
    // Files the server before this one opened with passthrough may still be written to.
    for (const node of this.nodes.withBacking()) this.recordLegacy('open', node);
  }

  private recordLegacy(op: 'open' | 'close', node: FsNode): void {
    try {
      this.record(op, this.rel(this.nodes.path(node)), { handle: -node.id });
    } catch {
      if (op === 'close') this.record('close', '', { handle: -node.id });
    }
  }

  /** The release of a handle the server before this one opened. */
  private releaseLegacy(nodeId: number): void {
    let node: FsNode;
    try {
      node = this.nodes.get(nodeId);
    } catch {
      return;
    }
    if (node.backing) {
      this.releaseBacking(node);
      if (!node.backing) this.recordLegacy('close', node);
    } else if (node.earlierDirectOpens > 0) {
      // The kernel never mixes passthrough and other opens of one inode: this was one of those.
      node.earlierDirectOpens--;
      this.nodes.directReleased(node);
    }
    this.dropOrphan(node);
  }

  /** Open handles (files and directories), for tests and metrics. */
  get openHandles(): number {
    return this.handles.size;
  }

  protected rel(path: string): string {
    return path.slice(this.rootPath.length + 1);
  }

  private record(...args: Parameters<ChangeJournal['record']>): void {
    this.journal?.record(...args);
  }

  private entry(parent: FsNode, name: string, stats?: BigIntStats): Entry {
    const s = stats ?? lstat(this.nodes.childPath(parent, name));
    const node = this.nodes.remember(parent, name, inoKey(s));
    return { nodeId: node.id, attr: toAttr(s) };
  }

  /**
   * New files belong to the caller, not to us (we run as root): the caller's uid, and the caller's
   * gid unless the directory is setgid (then the backing filesystem already gave it the directory's).
   */
  private own(caller: Caller, parent: FsNode, path: string, mode: number): BigIntStats {
    const s = lstat(path);
    const parentStats = lstat(this.nodes.path(parent));
    const gid = Number(parentStats.mode) & S_ISGID ? Number(parentStats.gid) : caller.gid;
    if (Number(s.uid) === caller.uid && Number(s.gid) === gid) return s;
    lchownSync(bytes(path), caller.uid, gid);
    // chown clears set-user-ID and set-group-ID on files, even for root; the caller asked for them.
    if ((mode & 0o6000) !== 0 && (Number(s.mode) & S_IFMT) !== constants.S_IFLNK) chmodSync(bytes(path), mode & 0o7777);
    return lstat(path);
  }

  private dir(fh: number, nodeId: number): DirHandle {
    let handle = this.handles.get(fh);
    if (!handle && this.resumed) {
      // Opened by the server before this one: list the directory again.
      handle = this.openDir(this.nodes.get(nodeId));
      this.handles.set(fh, handle);
    }
    if (!handle) throw new ErrnoError(EBADF, `no open handle ${fh}`);
    if (handle.kind !== 'dir') throw new ErrnoError(EBADF, `handle ${fh} is a file`);
    return handle;
  }

  private file(fh: number, nodeId: number): FileHandle {
    let handle = this.handles.get(fh);
    if (!handle && this.resumed) handle = this.adopt(fh, this.nodes.get(nodeId));
    if (!handle) throw new ErrnoError(EBADF, `no open handle ${fh}`);
    if (handle.kind !== 'file') throw new ErrnoError(EBADF, `handle ${fh} is a directory`);
    return handle;
  }

  /**
   * A handle the server before this one opened (the kernel keeps using it): open the file again.
   * Its access mode is unknown, so read-write where the file allows it; the kernel has checked the
   * caller's access when the handle was opened.
   */
  private adopt(fh: number, node: FsNode): FileHandle {
    const path = bytes(this.pathOrOrphan(node));
    let fd: number;
    let writable = true;
    try {
      fd = openSync(path, O_RDWR);
    } catch {
      fd = openSync(path, constants.O_RDONLY);
      writable = false;
    }
    // The kernel never mixes passthrough and other opens of an inode: with a backing file from an
    // earlier server, this handle was one of its passthrough opens (its reads and writes skip us).
    const earlierPassthrough = node.backing !== undefined;
    const handle: FileHandle = { kind: 'file', node, fd, writable, passthrough: false, ranges: [], earlierPassthrough };
    node.openFds.add(fd);
    if (!earlierPassthrough) {
      // One of the opens an earlier server logged ('d'): it is this server's to release now.
      if (node.earlierDirectOpens > 0) node.earlierDirectOpens--;
      else this.nodes.directOpened(node);
      node.directOpens++;
    }
    this.handles.set(fh, handle);
    return handle;
  }

  /** A node's attributes; its hidden link (an open file with no name) is not a name the user sees. */
  private attrOf(node: FsNode, stats: BigIntStats): Attr {
    const attr = toAttr(stats);
    if (node.hidden && node.links.length === 0 && attr.nlink > 0) attr.nlink--;
    return attr;
  }

  /** The node's path, or for an open file with no name left, its hidden link (see orphanDir). */
  private pathOrOrphan(node: FsNode): string {
    try {
      return this.nodes.path(node);
    } catch (err) {
      const orphan = this.orphanPath(node);
      if (orphan && lstatSync(bytes(orphan), { throwIfNoEntry: false })) {
        node.hidden = true;
        return orphan;
      }
      throw err;
    }
  }

  private orphanPath(node: FsNode): string | undefined {
    const dir = this.options.orphanDir;
    return dir === undefined ? undefined : `${Buffer.from(dir).toString('latin1')}/${node.id}`;
  }

  /** Before `path` loses the last name of an open file: keep a hidden one (best effort). */
  private keepOpen(node: FsNode | undefined, path: string): void {
    const orphan = node && this.orphanPath(node);
    if (!node || !orphan || (node.openFds.size === 0 && !node.backing && node.earlierDirectOpens === 0)) return;
    try {
      linkSync(bytes(path), bytes(orphan));
      node.hidden = true;
    } catch (err) {
      this.options.log.debug({ err }, 'could not keep a hidden link to an open file');
    }
  }

  /** The file's last handle is closed: its hidden link (if any) goes. */
  private dropOrphan(node: FsNode): void {
    const orphan = this.orphanPath(node);
    if (!orphan || node.links.length > 0 || node.openFds.size > 0 || node.backing || node.earlierDirectOpens > 0)
      return;
    rmSync(bytes(orphan), { force: true });
    node.hidden = false;
  }

  private addHandle(handle: FileHandle | DirHandle): number {
    const fh = this.nextFh++;
    this.handles.set(fh, handle);
    return fh;
  }

  lookup(_caller: Caller, parent: number, name: string): MaybePromise<Entry> {
    return this.entry(this.nodes.get(parent), name);
  }

  forget(nodeId: number, nlookup: number): void {
    this.nodes.forget(nodeId, nlookup);
  }

  getattr(nodeId: number, fh: number | undefined): Attr {
    const handle = fh !== undefined ? this.handles.get(fh) : undefined;
    if (handle?.kind === 'file') return this.attrOf(handle.node, fstatSync(handle.fd, { bigint: true }));
    const node = this.nodes.get(nodeId);
    // fstat() of an open file whose last name is gone: any open descriptor of it answers.
    const [fd] = node.links.length === 0 && node !== this.nodes.root ? node.openFds : [];
    if (fd !== undefined) return this.attrOf(node, fstatSync(fd, { bigint: true }));
    return this.attrOf(node, lstat(this.pathOrOrphan(node)));
  }

  setattr(_caller: Caller, nodeId: number, request: SetattrRequest): MaybePromise<Attr> {
    const node = this.nodes.get(nodeId);
    let handle = request.fh !== undefined ? this.handles.get(request.fh) : undefined;
    if (request.fh !== undefined && !handle && this.resumed) {
      try {
        handle = this.adopt(request.fh, node); // a handle of the server before this one
      } catch {
        // gone: the path (if any) serves
      }
    }
    let fd = handle?.kind === 'file' ? handle.fd : undefined;
    let path = '';
    /** No name: an open file after its last name went (nothing to journal). */
    let unnamed = false;
    try {
      path = this.nodes.path(node);
    } catch (err) {
      // An open file whose last name is gone (ftruncate, fchmod, futimens of it): one of its
      // descriptors serves (the kernel passes the handle with ftruncate only), or its hidden link
      // after a restart; nothing to journal.
      fd ??= [...node.openFds][0];
      if (fd === undefined) {
        path = this.orphanPath(node) ?? '';
        if (!path || !lstatSync(bytes(path), { throwIfNoEntry: false })) throw err;
        unnamed = true;
      }
    }
    if (request.mode !== undefined) {
      if (fd !== undefined) fchmodSync(fd, request.mode & 0o7777);
      else chmodSync(bytes(path), request.mode & 0o7777);
    }
    if (request.uid !== undefined || request.gid !== undefined) {
      const [uid, gid] = [request.uid ?? -1, request.gid ?? -1];
      if (fd !== undefined) fchownSync(fd, uid, gid);
      else lchownSync(bytes(path), uid, gid);
    }
    if (request.size !== undefined) {
      if (fd !== undefined) ftruncateSync(fd, Number(request.size));
      else truncateSync(bytes(path), Number(request.size));
      if (path && !unnamed) this.record('truncate', this.rel(path), { size: Number(request.size) });
    }
    if (request.atimeNs !== undefined || request.mtimeNs !== undefined) {
      if (fd !== undefined) libc.futimens(fd, request.atimeNs, request.mtimeNs);
      else libc.utimens(path, request.atimeNs, request.mtimeNs);
    }
    if (
      request.mode !== undefined ||
      request.uid !== undefined ||
      request.gid !== undefined ||
      request.mtimeNs !== undefined
    ) {
      if (path && !unnamed) this.record('attr', this.rel(path));
    }
    return this.attrOf(node, fd !== undefined ? fstatSync(fd, { bigint: true }) : lstat(path));
  }

  readlink(nodeId: number): Buffer {
    return readlinkSync(bytes(this.nodes.path(this.nodes.get(nodeId))), { encoding: 'buffer' });
  }

  symlink(caller: Caller, parent: number, name: string, target: Buffer): MaybePromise<Entry> {
    const dir = this.nodes.get(parent);
    const path = this.nodes.childPath(dir, name);
    symlinkSync(target, bytes(path));
    this.record('symlink', this.rel(path));
    return this.entry(dir, name, this.own(caller, dir, path, 0));
  }

  mknod(caller: Caller, parent: number, name: string, mode: number, rdev: number): MaybePromise<Entry> {
    const dir = this.nodes.get(parent);
    const path = this.nodes.childPath(dir, name);
    if ((mode & S_IFMT) === S_IFREG) closeSync(openSync(bytes(path), O_CREAT | O_EXCL | O_WRONLY, mode & 0o7777));
    else libc.mknod(path, mode, rdev);
    this.record('mknod', this.rel(path));
    return this.entry(dir, name, this.own(caller, dir, path, mode));
  }

  mkdir(caller: Caller, parent: number, name: string, mode: number): MaybePromise<Entry> {
    const dir = this.nodes.get(parent);
    const path = this.nodes.childPath(dir, name);
    mkdirSync(bytes(path), mode & 0o7777);
    this.record('mkdir', this.rel(path));
    return this.entry(dir, name, this.own(caller, dir, path, mode));
  }

  unlink(parent: number, name: string): MaybePromise<void> {
    const dir = this.nodes.get(parent);
    const path = this.nodes.childPath(dir, name);
    const lastLink = lstat(path).nlink <= 1n;
    if (lastLink) this.keepOpen(dir.children.get(name), path);
    unlinkSync(bytes(path));
    this.nodes.unlinked(dir, name, lastLink);
    this.record('unlink', this.rel(path));
  }

  rmdir(parent: number, name: string): MaybePromise<void> {
    const dir = this.nodes.get(parent);
    const path = this.nodes.childPath(dir, name);
    rmdirSync(bytes(path));
    this.nodes.unlinked(dir, name, true);
    this.record('rmdir', this.rel(path));
  }

  rename(parent: number, name: string, newParent: number, newName: string, flags: number): MaybePromise<void> {
    const [from, to] = [this.nodes.get(parent), this.nodes.get(newParent)];
    const [fromPath, toPath] = [this.nodes.childPath(from, name), this.nodes.childPath(to, newName)];
    let replacedLastLink = true;
    try {
      const replaced = lstat(toPath);
      // A directory replaced by a rename is empty (nlink 2) and gone.
      replacedLastLink = replaced.isDirectory() || replaced.nlink <= 1n;
      if (replacedLastLink && !replaced.isDirectory() && !(flags & RENAME_EXCHANGE))
        this.keepOpen(to.children.get(newName), toPath);
    } catch {
      // nothing there to replace
    }
    if (flags === 0) renameSync(bytes(fromPath), bytes(toPath));
    else libc.renameat2(fromPath, toPath, flags);
    if (flags & RENAME_EXCHANGE) {
      this.nodes.exchanged(from, name, to, newName);
      this.record('exchange', this.rel(fromPath), { to: this.rel(toPath) });
    } else {
      this.nodes.renamed(from, name, to, newName, replacedLastLink);
      this.record('rename', this.rel(fromPath), { to: this.rel(toPath) });
    }
  }

  link(nodeId: number, newParent: number, newName: string): MaybePromise<Entry> {
    const node = this.nodes.get(nodeId);
    const dir = this.nodes.get(newParent);
    const [source, path] = [this.nodes.path(node), this.nodes.childPath(dir, newName)];
    linkSync(bytes(source), bytes(path));
    this.record('link', this.rel(source), { to: this.rel(path) });
    return this.entry(dir, newName);
  }

  /**
   * Opens a backing descriptor for a handle and, where the kernel allows, registers the file for
   * passthrough. One backing file serves every open of an inode (the kernel refuses a second), so it
   * is opened read-write: the kernel has already checked the caller's access on the FUSE file.
   */
  private openFile(node: FsNode, path: string, flags: number, created?: number): FileHandle & { backingId?: number } {
    // Without O_DIRECT: reads and writes that reach us use Node's unaligned buffers; the kernel
    // already gave the application direct I/O semantics on the FUSE side.
    const fd = created ?? openSync(bytes(path), flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_DIRECT));
    const writable = (flags & O_ACCMODE) !== constants.O_RDONLY;
    const handle: FileHandle & { backingId?: number } = {
      kind: 'file',
      node,
      fd,
      writable,
      passthrough: false,
      ranges: [],
    };
    node.openFds.add(fd);
    const connection = this.connection;
    if (connection?.passthrough && fstatSync(fd).isFile() && node.directOpens === 0 && this.passthroughAllowed(path)) {
      try {
        let id = node.backing?.id;
        if (id === undefined) {
          let backingFd: number;
          try {
            backingFd = openSync(bytes(path), O_RDWR);
          } catch {
            backingFd = openSync(bytes(path), flags & O_ACCMODE);
          }
          try {
            id = connection.backingOpen(backingFd);
          } finally {
            closeSync(backingFd);
          }
        }
        this.nodes.backingOpened(node, id);
        handle.passthrough = true;
        handle.backingId = id;
      } catch (err) {
        this.options.log.debug({ err, path: this.rel(path) }, 'passthrough refused; serving reads and writes');
      }
    }
    if (!handle.passthrough) {
      node.directOpens++;
      this.nodes.directOpened(node);
    }
    if (flags & O_TRUNC && created === undefined) this.record('truncate', this.rel(path), { size: 0 });
    return handle;
  }

  /** Whether a file may open with passthrough (a subclass says no for files whose bytes are not all local). */
  protected passthroughAllowed(_path: string): boolean {
    return true;
  }

  private opened(handle: FileHandle & { backingId?: number }, path: string): Opened {
    const fh = this.addHandle(handle);
    // Passthrough writes never reach us: the file may change from now until it is closed.
    if (handle.writable) this.record('open', this.rel(path), { handle: fh });
    if (handle.passthrough) return { fh, openFlags: OpenFlag.PASSTHROUGH, backingId: handle.backingId ?? 0 };
    return { fh, openFlags: 0 };
  }

  open(_caller: Caller, nodeId: number, flags: number): MaybePromise<Opened> {
    const node = this.nodes.get(nodeId);
    const path = this.nodes.path(node);
    return this.opened(this.openFile(node, path, flags), path);
  }

  create(caller: Caller, parent: number, name: string, flags: number, mode: number): MaybePromise<Entry & Opened> {
    const dir = this.nodes.get(parent);
    const path = this.nodes.childPath(dir, name);
    // Opened once, with the caller's flags (O_TRUNC included), so the attributes returned are final.
    const fd = openSync(bytes(path), (flags & ~(O_NOCTTY | O_DIRECT)) | O_CREAT, mode & 0o7777);
    let entry: Entry;
    try {
      this.record('create', this.rel(path));
      entry = this.entry(dir, name, this.own(caller, dir, path, mode));
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    const handle = this.openFile(this.nodes.get(entry.nodeId), path, flags, fd);
    return { ...entry, ...this.opened(handle, path) };
  }

  read(nodeId: number, fh: number, offset: bigint, size: number): MaybePromise<Buffer> {
    const handle = this.file(fh, nodeId);
    const data = Buffer.allocUnsafe(size);
    const n = readSync(handle.fd, data, 0, size, offset);
    return data.subarray(0, n);
  }

  write(nodeId: number, fh: number, offset: bigint, data: Buffer): number {
    const handle = this.file(fh, nodeId);
    const n = writeSync(handle.fd, data, 0, data.length, Number(offset));
    const last = handle.ranges.at(-1);
    const start = Number(offset);
    if (last && last[0] + last[1] === start) last[1] += n;
    else handle.ranges.push([start, n]);
    return n;
  }

  /** Puts the ranges written through this handle in the journal (`close`: and that it is closed). */
  private flushRanges(handle: FileHandle, fh: number, close = false): void {
    if (handle.ranges.length === 0 && !(close && handle.writable)) return;
    const ranges = handle.ranges.length ? { ranges: handle.ranges } : {};
    handle.ranges = [];
    let path: string;
    try {
      path = this.rel(this.nodes.path(handle.node));
    } catch {
      // The file has no name left: its content matters to no one, but an open record is owed a close.
      if (close) this.record('close', '', { handle: fh });
      return;
    }
    this.record(close ? 'close' : 'write', path, close ? { handle: fh, ...ranges } : ranges);
  }

  flush(_nodeId: number, fh: number): void {
    const handle = this.handles.get(fh);
    // A handle of the server before this one has nothing of ours to flush.
    if (handle?.kind === 'file') this.flushRanges(handle, fh);
  }

  fsync(nodeId: number, fh: number, datasync: boolean): void {
    const handle = this.file(fh, nodeId);
    this.flushRanges(handle, fh);
    if (datasync) fdatasyncSync(handle.fd);
    else fsyncSync(handle.fd);
    this.journal?.sync();
  }

  release(nodeId: number, fh: number): void {
    const handle = this.handles.get(fh);
    if (!handle && this.resumed) {
      this.releaseLegacy(nodeId);
      return;
    }
    if (handle?.kind !== 'file') throw new ErrnoError(EBADF, `no open file handle ${fh}`);
    this.handles.delete(fh);
    this.flushRanges(handle, fh, true);
    closeSync(handle.fd);
    const node = handle.node;
    node.openFds.delete(handle.fd);
    if (handle.passthrough || handle.earlierPassthrough) this.releaseBacking(node);
    else {
      node.directOpens--;
      this.nodes.directReleased(node);
    }
    this.dropOrphan(node);
  }

  private releaseBacking(node: FsNode): void {
    const id = this.nodes.backingReleased(node);
    if (id === undefined) return;
    try {
      this.connection?.backingClose(id);
    } catch (err) {
      this.options.log.warn({ err, id }, 'could not close a passthrough backing file');
    }
  }

  fallocate(nodeId: number, fh: number, offset: bigint, length: bigint, mode: number): void {
    const handle = this.file(fh, nodeId);
    libc.fallocate(handle.fd, mode, offset, length);
    // A file with no name left has nothing to journal (as in flushRanges); the call succeeded.
    if (handle.node.links.length === 0) return;
    this.record('write', this.rel(this.nodes.path(handle.node)), { ranges: [[Number(offset), Number(length)]] });
  }

  lseek(nodeId: number, fh: number, offset: bigint, whence: number): bigint {
    return libc.lseek(this.file(fh, nodeId).fd, offset, whence);
  }

  opendir(nodeId: number): MaybePromise<Opened> {
    return { fh: this.addHandle(this.openDir(this.nodes.get(nodeId))), openFlags: 0 };
  }

  private openDir(node: FsNode): DirHandle {
    const entries = this.list(node);
    const fd = openSync(bytes(this.nodes.path(node)), constants.O_RDONLY | constants.O_DIRECTORY);
    node.openFds.add(fd);
    return { kind: 'dir', node, fd, entries };
  }

  private list(node: FsNode): DirEntry[] {
    const names = readdirSync(bytes(this.nodes.path(node)), { encoding: 'buffer' });
    return [{ name: Buffer.from('.') }, { name: Buffer.from('..') }, ...names.map((name) => ({ name }))];
  }

  readdir(nodeId: number, fh: number, offset: number, size: number, plus: boolean): Buffer {
    const handle = this.dir(fh, nodeId);
    // A read from the start (rewinddir) sees the directory as it is now.
    if (offset === 0) handle.entries = this.list(handle.node);
    const dir = handle.node;
    const out = Buffer.alloc(size);
    let used = 0;
    const valid = { entryMs: DEFAULT_TTL_MS, attrMs: DEFAULT_TTL_MS };
    for (let i = offset; i < handle.entries.length; i++) {
      const { name } = handle.entries[i]!;
      const need = plus ? direntPlusSize(name.length) : direntSize(name.length);
      if (used + need > size) break;
      const latin1 = name.toString('latin1');
      const dots = latin1 === '.' || latin1 === '..';
      let stats: BigIntStats;
      try {
        const target = dots ? (latin1 === '.' || dir === this.nodes.root ? dir : dir.links[0]?.parent) : undefined;
        stats = target ? lstat(this.nodes.path(target)) : lstat(this.nodes.childPath(dir, latin1));
      } catch {
        continue; // removed since the listing was taken
      }
      if (plus) {
        const nodeId = dots ? 0 : this.nodes.remember(dir, latin1, inoKey(stats)).id;
        used = writeDirentPlus(out, used, nodeId, toAttr(stats), valid, i + 1, name);
      } else {
        used = writeDirent(out, used, stats.ino, i + 1, (Number(stats.mode) >>> 12) & 0xf, name);
      }
    }
    return out.subarray(0, used);
  }

  releasedir(_nodeId: number, fh: number): void {
    const handle = this.handles.get(fh);
    this.handles.delete(fh);
    if (handle?.kind !== 'dir') return;
    closeSync(handle.fd);
    handle.node.openFds.delete(handle.fd);
  }

  fsyncdir(nodeId: number): void {
    const fd = openSync(bytes(this.nodes.path(this.nodes.get(nodeId))), constants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.journal?.sync();
  }

  statfs(): StatfsOut {
    const s = statfsSync(bytes(this.rootPath), { bigint: true });
    return {
      blocks: s.blocks,
      bfree: s.bfree,
      bavail: s.bavail,
      files: s.files,
      ffree: s.ffree,
      bsize: Number(s.bsize),
      namelen: 255,
      frsize: Number(s.bsize),
    };
  }

  getxattr(nodeId: number, name: string, size: number): Buffer | number {
    if (name.startsWith(KMESH_XATTR_PREFIX)) throw new ErrnoError(ENODATA, 'getxattr');
    return libc.getxattr(this.nodes.path(this.nodes.get(nodeId)), name, size);
  }

  listxattr(nodeId: number, size: number): Buffer | number {
    const path = this.nodes.path(this.nodes.get(nodeId));
    const length = libc.listxattr(path, 0) as number;
    const all = length === 0 ? Buffer.alloc(0) : (libc.listxattr(path, length) as Buffer);
    const names = all
      .toString('latin1')
      .split('\0')
      .filter((n) => n !== '' && !n.startsWith(KMESH_XATTR_PREFIX));
    const list = Buffer.from(names.map((n) => n + '\0').join(''), 'latin1');
    if (size === 0) return list.length;
    if (list.length > size) throw new ErrnoError(ERANGE, 'listxattr');
    return list;
  }

  setxattr(nodeId: number, name: string, value: Buffer, flags: number): void {
    if (name.startsWith(KMESH_XATTR_PREFIX)) throw new ErrnoError(EPERM, 'setxattr');
    const path = this.nodes.path(this.nodes.get(nodeId));
    libc.setxattr(path, name, value, flags);
    this.record('xattr', this.rel(path));
  }

  removexattr(nodeId: number, name: string): void {
    if (name.startsWith(KMESH_XATTR_PREFIX)) throw new ErrnoError(EPERM, 'removexattr');
    const path = this.nodes.path(this.nodes.get(nodeId));
    libc.removexattr(path, name);
    this.record('xattr', this.rel(path));
  }
}
