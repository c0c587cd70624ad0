/**
 * The contract between the FUSE session (fs/session.ts, which speaks the kernel protocol) and a
 * filesystem (fs/backing-tree.ts). Names are latin1 strings so that any byte sequence the kernel
 * sends survives the round trip; paths handed to node:fs go through fs/paths.ts. A method throws an
 * error carrying an errno (ErrnoError, or a node:fs SystemError) to fail the request with it.
 */
import type { Attr, StatfsOut } from './abi.js';

/** Who is asking (the in_header's uid, gid, pid). */
export interface Caller {
  uid: number;
  gid: number;
  pid: number;
}

/** A name resolved to a node; the kernel takes one lookup reference on it. */
export interface Entry {
  nodeId: number;
  attr: Attr;
}

/** An open file or directory handle. */
export interface Opened {
  fh: number;
  /** FOPEN_* bits (abi.ts OpenFlag). */
  openFlags: number;
  /** A passthrough backing file id, when openFlags has PASSTHROUGH. */
  backingId?: number;
}

/** setattr_in: every field is set only when its FATTR_* bit was. */
export interface SetattrRequest {
  fh?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: bigint;
  atimeNs?: bigint | 'now';
  mtimeNs?: bigint | 'now';
}

/** What the kernel offered and we agreed at INIT. */
export interface Connection {
  /** Kernel passthrough is negotiated: OPEN may answer with a backing file. */
  passthrough: boolean;
  /** Registers a backing file for passthrough; returns its id. */
  backingOpen(fd: number): number;
  backingClose(id: number): void;
}

/** A method may answer at once or later (data fetched from another site). */
export type MaybePromise<T> = T | Promise<T>;

export interface FileSystem {
  init(connection: Connection): void;
  lookup(caller: Caller, parent: number, name: string): MaybePromise<Entry>;
  forget(nodeId: number, nlookup: number): void;
  getattr(nodeId: number, fh: number | undefined): MaybePromise<Attr>;
  setattr(caller: Caller, nodeId: number, request: SetattrRequest): MaybePromise<Attr>;
  readlink(nodeId: number): MaybePromise<Buffer>;
  symlink(caller: Caller, parent: number, name: string, target: Buffer): MaybePromise<Entry>;
  mknod(caller: Caller, parent: number, name: string, mode: number, rdev: number): MaybePromise<Entry>;
  mkdir(caller: Caller, parent: number, name: string, mode: number): MaybePromise<Entry>;
  unlink(parent: number, name: string): MaybePromise<void>;
  rmdir(parent: number, name: string): MaybePromise<void>;
  rename(parent: number, name: string, newParent: number, newName: string, flags: number): MaybePromise<void>;
  link(nodeId: number, newParent: number, newName: string): MaybePromise<Entry>;
  open(caller: Caller, nodeId: number, flags: number): MaybePromise<Opened>;
  create(caller: Caller, parent: number, name: string, flags: number, mode: number): MaybePromise<Entry & Opened>;
  read(nodeId: number, fh: number, offset: bigint, size: number): MaybePromise<Buffer>;
  write(nodeId: number, fh: number, offset: bigint, data: Buffer): MaybePromise<number>;
  flush(nodeId: number, fh: number): MaybePromise<void>;
  fsync(nodeId: number, fh: number, datasync: boolean): MaybePromise<void>;
  release(nodeId: number, fh: number): MaybePromise<void>;
  fallocate(nodeId: number, fh: number, offset: bigint, length: bigint, mode: number): MaybePromise<void>;
  lseek(nodeId: number, fh: number, offset: bigint, whence: number): MaybePromise<bigint>;
  opendir(nodeId: number): MaybePromise<Opened>;
  /** Whole records that fit in `size` bytes, resuming after cookie `offset`; READDIRPLUS when `plus`. */
  readdir(nodeId: number, fh: number, offset: number, size: number, plus: boolean): MaybePromise<Buffer>;
  releasedir(nodeId: number, fh: number): MaybePromise<void>;
  fsyncdir(nodeId: number, fh: number): MaybePromise<void>;
  statfs(nodeId: number): MaybePromise<StatfsOut>;
  getxattr(nodeId: number, name: string, size: number): MaybePromise<Buffer | number>;
  listxattr(nodeId: number, size: number): MaybePromise<Buffer | number>;
  setxattr(nodeId: number, name: string, value: Buffer, flags: number): MaybePromise<void>;
  removexattr(nodeId: number, name: string): MaybePromise<void>;
}
