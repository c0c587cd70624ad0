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

export interface FileSystem {
  init(connection: Connection): void;
  lookup(caller: Caller, parent: number, name: string): Entry | Promise<Entry>;
  forget(nodeId: number, nlookup: number): void;
  getattr(nodeId: number, fh: number | undefined): Attr | Promise<Attr>;
  setattr(caller: Caller, nodeId: number, request: SetattrRequest): Attr | Promise<Attr>;
  readlink(nodeId: number): Buffer;
  symlink(caller: Caller, parent: number, name: string, target: Buffer): Entry;
  mknod(caller: Caller, parent: number, name: string, mode: number, rdev: number): Entry;
  mkdir(caller: Caller, parent: number, name: string, mode: number): Entry;
  unlink(parent: number, name: string): void;
  rmdir(parent: number, name: string): void;
  rename(parent: number, name: string, newParent: number, newName: string, flags: number): void;
  link(nodeId: number, newParent: number, newName: string): Entry;
  open(caller: Caller, nodeId: number, flags: number): Opened | Promise<Opened>;
  create(caller: Caller, parent: number, name: string, flags: number, mode: number): Entry & Opened;
  read(nodeId: number, fh: number, offset: bigint, size: number): Buffer | Promise<Buffer>;
  write(nodeId: number, fh: number, offset: bigint, data: Buffer): number;
  flush(nodeId: number, fh: number): void;
  fsync(nodeId: number, fh: number, datasync: boolean): void | Promise<void>;
  release(nodeId: number, fh: number): void;
  fallocate(nodeId: number, fh: number, offset: bigint, length: bigint, mode: number): void;
  lseek(nodeId: number, fh: number, offset: bigint, whence: number): bigint;
  opendir(nodeId: number): Opened;
  /** Whole records that fit in `size` bytes, resuming after cookie `offset`; READDIRPLUS when `plus`. */
  readdir(nodeId: number, fh: number, offset: number, size: number, plus: boolean): Buffer;
  releasedir(nodeId: number, fh: number): void;
  fsyncdir(nodeId: number, fh: number): void;
  statfs(nodeId: number): StatfsOut;
  getxattr(nodeId: number, name: string, size: number): Buffer | number;
  listxattr(nodeId: number, size: number): Buffer | number;
  setxattr(nodeId: number, name: string, value: Buffer, flags: number): void;
  removexattr(nodeId: number, name: string): void;
}
