/**
 * The FUSE kernel ABI the Kmesh filesystem speaks: opcodes, flags and the byte layout of the structs
 * (include/uapi/linux/fuse.h, protocol 7.45). Little-endian throughout. Only what fs/ uses is here;
 * docs/architecture.md#the-kmesh-filesystem says how the pieces fit.
 */

export const KERNEL_VERSION = 7;
/** The minor we speak; the reply carries min(kernel's, ours). Passthrough needs 40 (Linux 6.9). */
export const KERNEL_MINOR = 45;

/** 1 MiB requests: the largest the kernel allows by default (max_pages 256). */
export const MAX_WRITE = 1 << 20;
export const MAX_PAGES = MAX_WRITE / 4096;
/** A read buffer must hold max_write plus the largest header (80 bytes); a page of slack. */
export const REQUEST_BUFFER_SIZE = MAX_WRITE + 4096;

export const IN_HEADER_SIZE = 40;
export const OUT_HEADER_SIZE = 16;
export const ATTR_SIZE = 88;
export const ENTRY_OUT_SIZE = 128;
export const ATTR_OUT_SIZE = 104;
export const OPEN_OUT_SIZE = 16;
export const ROOT_ID = 1;

export enum Opcode {
  LOOKUP = 1,
  FORGET = 2,
  GETATTR = 3,
  SETATTR = 4,
  READLINK = 5,
  SYMLINK = 6,
  MKNOD = 8,
  MKDIR = 9,
  UNLINK = 10,
  RMDIR = 11,
  RENAME = 12,
  LINK = 13,
  OPEN = 14,
  READ = 15,
  WRITE = 16,
  STATFS = 17,
  RELEASE = 18,
  FSYNC = 20,
  SETXATTR = 21,
  GETXATTR = 22,
  LISTXATTR = 23,
  REMOVEXATTR = 24,
  FLUSH = 25,
  INIT = 26,
  OPENDIR = 27,
  READDIR = 28,
  RELEASEDIR = 29,
  FSYNCDIR = 30,
  GETLK = 31,
  SETLK = 32,
  SETLKW = 33,
  ACCESS = 34,
  CREATE = 35,
  INTERRUPT = 36,
  BMAP = 37,
  DESTROY = 38,
  IOCTL = 39,
  POLL = 40,
  NOTIFY_REPLY = 41,
  BATCH_FORGET = 42,
  FALLOCATE = 43,
  READDIRPLUS = 44,
  RENAME2 = 45,
  LSEEK = 46,
  COPY_FILE_RANGE = 47,
  SETUPMAPPING = 48,
  REMOVEMAPPING = 49,
  SYNCFS = 50,
  TMPFILE = 51,
  STATX = 52,
}

/** INIT flags (bits 0-31 in `flags`, 32-63 in `flags2`). */
export const InitFlag = {
  ASYNC_READ: 1n << 0n,
  ATOMIC_O_TRUNC: 1n << 3n,
  BIG_WRITES: 1n << 5n,
  DO_READDIRPLUS: 1n << 13n,
  READDIRPLUS_AUTO: 1n << 14n,
  PARALLEL_DIROPS: 1n << 18n,
  MAX_PAGES: 1n << 22n,
  CACHE_SYMLINKS: 1n << 23n,
  HANDLE_KILLPRIV_V2: 1n << 28n,
  INIT_EXT: 1n << 30n,
  PASSTHROUGH: 1n << 37n,
} as const;

/** FOPEN_* bits of open_out.open_flags. */
export const OpenFlag = {
  DIRECT_IO: 1 << 0,
  KEEP_CACHE: 1 << 1,
  CACHE_DIR: 1 << 3,
  PASSTHROUGH: 1 << 7,
} as const;

/** FATTR_* bits of setattr_in.valid. */
export const SetattrValid = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  FH: 1 << 6,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  CTIME: 1 << 10,
  KILL_SUIDGID: 1 << 11,
} as const;

export const GETATTR_FH = 1;
export const FSYNC_DATASYNC = 1;
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;

/** Notification codes (a write with unique 0 and the code in `error`). */
export enum Notify {
  INVAL_INODE = 2,
  INVAL_ENTRY = 3,
  DELETE = 6,
  /** Requeue every request a server read but did not answer (a server taking over after a crash). */
  RESEND = 7,
}

/** ioctls on the /dev/fuse fd that register and drop a passthrough backing file. */
export const FUSE_DEV_IOC_BACKING_OPEN = 0x4010e501;
export const FUSE_DEV_IOC_BACKING_CLOSE = 0x4004e502;

/** One attribute set, as fuse_attr carries it. Times in nanoseconds since the epoch. */
export interface Attr {
  ino: bigint;
  size: bigint;
  blocks: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
}

/** Cache lifetimes the kernel may keep an entry or attributes for, in milliseconds. */
export interface Validity {
  entryMs: number;
  attrMs: number;
}

const BILLION = 1_000_000_000n;

function writeTime(buf: Buffer, secOffset: number, nsecOffset: number, ns: bigint): void {
  const sec = ns / BILLION;
  let nsec = ns % BILLION;
  if (nsec < 0n) nsec += BILLION;
  buf.writeBigUInt64LE(BigInt.asUintN(64, ns < 0n && nsec !== 0n ? sec - 1n : sec), secOffset);
  buf.writeUInt32LE(Number(nsec), nsecOffset);
}

function writeValidity(buf: Buffer, secOffset: number, nsecOffset: number, ms: number): void {
  buf.writeBigUInt64LE(BigInt(Math.floor(ms / 1000)), secOffset);
  buf.writeUInt32LE((ms % 1000) * 1_000_000, nsecOffset);
}

/** fuse_attr (88 bytes) at `offset`. */
export function writeAttr(buf: Buffer, offset: number, a: Attr): void {
  buf.writeBigUInt64LE(a.ino, offset);
  buf.writeBigUInt64LE(a.size, offset + 8);
  buf.writeBigUInt64LE(a.blocks, offset + 16);
  writeTime(buf, offset + 24, offset + 48, a.atimeNs);
  writeTime(buf, offset + 32, offset + 52, a.mtimeNs);
  writeTime(buf, offset + 40, offset + 56, a.ctimeNs);
  buf.writeUInt32LE(a.mode >>> 0, offset + 60);
  buf.writeUInt32LE(a.nlink, offset + 64);
  buf.writeUInt32LE(a.uid, offset + 68);
  buf.writeUInt32LE(a.gid, offset + 72);
  buf.writeUInt32LE(a.rdev, offset + 76);
  buf.writeUInt32LE(a.blksize, offset + 80);
  buf.writeUInt32LE(0, offset + 84);
}

/** fuse_entry_out (128 bytes) at `offset`. A nodeid of 0 with a TTL caches a negative lookup. */
export function writeEntryOut(buf: Buffer, offset: number, nodeId: number, attr: Attr, valid: Validity): void {
  buf.writeBigUInt64LE(BigInt(nodeId), offset);
  buf.writeBigUInt64LE(0n, offset + 8); // generation: node ids are never reused, so always 0
  writeValidity(buf, offset + 16, offset + 32, valid.entryMs);
  writeValidity(buf, offset + 24, offset + 36, valid.attrMs);
  writeAttr(buf, offset + 40, attr);
}

export function entryOut(nodeId: number, attr: Attr, valid: Validity): Buffer {
  const buf = Buffer.alloc(ENTRY_OUT_SIZE);
  writeEntryOut(buf, 0, nodeId, attr, valid);
  return buf;
}

export function attrOut(attr: Attr, validMs: number): Buffer {
  const buf = Buffer.alloc(ATTR_OUT_SIZE);
  writeValidity(buf, 0, 8, validMs);
  writeAttr(buf, 16, attr);
  return buf;
}

export function openOut(fh: number, openFlags: number, backingId = 0): Buffer {
  const buf = Buffer.alloc(OPEN_OUT_SIZE);
  buf.writeBigUInt64LE(BigInt(fh), 0);
  buf.writeUInt32LE(openFlags, 8);
  buf.writeInt32LE(backingId, 12);
  return buf;
}

export interface StatfsOut {
  blocks: bigint;
  bfree: bigint;
  bavail: bigint;
  files: bigint;
  ffree: bigint;
  bsize: number;
  namelen: number;
  frsize: number;
}

export function statfsOut(s: StatfsOut): Buffer {
  const buf = Buffer.alloc(80);
  buf.writeBigUInt64LE(s.blocks, 0);
  buf.writeBigUInt64LE(s.bfree, 8);
  buf.writeBigUInt64LE(s.bavail, 16);
  buf.writeBigUInt64LE(s.files, 24);
  buf.writeBigUInt64LE(s.ffree, 32);
  buf.writeUInt32LE(s.bsize, 40);
  buf.writeUInt32LE(s.namelen, 44);
  buf.writeUInt32LE(s.frsize, 48);
  return buf;
}

const align8 = (n: number): number => (n + 7) & ~7;

/** Size of a READDIR record for a name of `nameBytes` bytes. */
export const direntSize = (nameBytes: number): number => align8(24 + nameBytes);
/** Size of a READDIRPLUS record for a name of `nameBytes` bytes. */
export const direntPlusSize = (nameBytes: number): number => align8(ENTRY_OUT_SIZE + 24 + nameBytes);

/** fuse_dirent at `offset`; returns the offset after it. `type` is the mode's file-type bits >> 12. */
export function writeDirent(
  buf: Buffer,
  offset: number,
  ino: bigint,
  cookie: number,
  type: number,
  name: Buffer,
): number {
  buf.writeBigUInt64LE(ino, offset);
  buf.writeBigUInt64LE(BigInt(cookie), offset + 8);
  buf.writeUInt32LE(name.length, offset + 16);
  buf.writeUInt32LE(type, offset + 20);
  name.copy(buf, offset + 24);
  const end = offset + direntSize(name.length);
  buf.fill(0, offset + 24 + name.length, end);
  return end;
}

/** A fuse_entry_out followed by a fuse_dirent; returns the offset after it. */
export function writeDirentPlus(
  buf: Buffer,
  offset: number,
  nodeId: number,
  attr: Attr,
  valid: Validity,
  cookie: number,
  name: Buffer,
): number {
  if (nodeId === 0) {
    // "." and "..": no entry (the kernel takes no lookup reference), only the name and type.
    buf.fill(0, offset, offset + ENTRY_OUT_SIZE);
  } else {
    writeEntryOut(buf, offset, nodeId, attr, valid);
  }
  writeDirent(buf, offset + ENTRY_OUT_SIZE, attr.ino, cookie, (attr.mode >>> 12) & 0xf, name);
  return offset + direntPlusSize(name.length);
}

/** The out_header of a reply (`error` is 0 or a negative errno). */
export function outHeader(unique: bigint, error: number, length: number): Buffer {
  const buf = Buffer.alloc(OUT_HEADER_SIZE);
  buf.writeUInt32LE(length, 0);
  buf.writeInt32LE(error, 4);
  buf.writeBigUInt64LE(unique, 8);
  return buf;
}
