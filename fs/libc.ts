/**
 * The few system calls the Kmesh filesystem needs that node:fs does not offer (xattrs, mknod,
 * fallocate, renameat2, utimensat with nanoseconds and UTIME_OMIT, lseek with SEEK_DATA/SEEK_HOLE,
 * and the /dev/fuse passthrough ioctls), through koffi: an FFI whose prebuilt binaries come from npm,
 * so no compiler is needed. Every call returns a value or throws an ErrnoError.
 */
import koffi from 'koffi';

/** A failed system call: `errno` is the positive error number. */
export class ErrnoError extends Error {
  constructor(
    readonly errno: number,
    syscall: string,
  ) {
    super(`${syscall}: errno ${errno}`);
    this.name = 'ErrnoError';
  }
}

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
/** utimensat: leave this time as it is / set it to now. */
export const UTIME_OMIT = (1n << 30n) - 2n;
export const UTIME_NOW = (1n << 30n) - 1n;
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

/** Paths and names are passed as NUL-terminated bytes (see cstr). */
type CString = Buffer;

interface Libc {
  lgetxattr: (path: CString, name: CString, value: Buffer | null, size: number) => number;
  llistxattr: (path: CString, list: Buffer | null, size: number) => number;
  lsetxattr: (path: CString, name: CString, value: Buffer, size: number, flags: number) => number;
  lremovexattr: (path: CString, name: CString) => number;
  mknod: (path: CString, mode: number, dev: bigint) => number;
  fallocate: (fd: number, mode: number, offset: bigint, len: bigint) => number;
  renameat2: (olddir: number, oldpath: CString, newdir: number, newpath: CString, flags: number) => number;
  utimensat: (dirfd: number, path: CString, times: Buffer, flags: number) => number;
  futimens: (fd: number, times: Buffer) => number;
  lseek: (fd: number, offset: bigint, whence: number) => bigint;
  ioctl: (fd: number, request: number, ...args: unknown[]) => number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    lgetxattr: lib.func('long lgetxattr(const void *path, const void *name, void *value, size_t size)'),
    llistxattr: lib.func('long llistxattr(const void *path, void *list, size_t size)'),
    lsetxattr: lib.func('int lsetxattr(const void *path, const void *name, void *value, size_t size, int flags)'),
    lremovexattr: lib.func('int lremovexattr(const void *path, const void *name)'),
    mknod: lib.func('int mknod(const void *path, uint32_t mode, uint64_t dev)'),
    fallocate: lib.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)'),
    renameat2: lib.func(
      'int renameat2(int olddirfd, const void *oldpath, int newdirfd, const void *newpath, uint32_t flags)',
    ),
    utimensat: lib.func('int utimensat(int dirfd, const void *path, void *times, int flags)'),
    futimens: lib.func('int futimens(int fd, void *times)'),
    lseek: lib.func('int64_t lseek(int fd, int64_t offset, int whence)'),
    ioctl: lib.func('int ioctl(int fd, unsigned long request, ...)'),
  };
  return libc;
}

/**
 * Paths and names in fs/ are latin1 strings (one char per byte, so any name survives); the C
 * library gets exactly those bytes.
 */
const cstr = (latin1: string): CString => Buffer.from(latin1 + '\0', 'latin1');

function check(result: number | bigint, syscall: string): number {
  if (result < 0) throw new ErrnoError(koffi.errno(), syscall);
  return Number(result);
}

/** The value of xattr `name`; with `size` 0, only its length. */
export function getxattr(path: string, name: string, size: number): Buffer | number {
  if (size === 0) return check(load().lgetxattr(cstr(path), cstr(name), null, 0), 'getxattr');
  const value = Buffer.alloc(size);
  return value.subarray(0, check(load().lgetxattr(cstr(path), cstr(name), value, size), 'getxattr'));
}

/** The NUL-separated list of xattr names; with `size` 0, only its length. */
export function listxattr(path: string, size: number): Buffer | number {
  if (size === 0) return check(load().llistxattr(cstr(path), null, 0), 'listxattr');
  const list = Buffer.alloc(size);
  return list.subarray(0, check(load().llistxattr(cstr(path), list, size), 'listxattr'));
}

export function setxattr(path: string, name: string, value: Buffer, flags: number): void {
  check(load().lsetxattr(cstr(path), cstr(name), value, value.length, flags), 'setxattr');
}

export function removexattr(path: string, name: string): void {
  check(load().lremovexattr(cstr(path), cstr(name)), 'removexattr');
}

export function mknod(path: string, mode: number, rdev: number): void {
  check(load().mknod(cstr(path), mode, BigInt(rdev)), 'mknod');
}

export function fallocate(fd: number, mode: number, offset: bigint, length: bigint): void {
  check(load().fallocate(fd, mode, offset, length), 'fallocate');
}

export function renameat2(from: string, to: string, flags: number): void {
  check(load().renameat2(AT_FDCWD, cstr(from), AT_FDCWD, cstr(to), flags), 'renameat2');
}

/** A struct timespec[2] for utimensat: seconds and nanoseconds, or UTIME_OMIT / UTIME_NOW. */
function timespecs(atimeNs: bigint | 'now' | undefined, mtimeNs: bigint | 'now' | undefined): Buffer {
  const buf = Buffer.alloc(32);
  const put = (offset: number, t: bigint | 'now' | undefined): void => {
    if (t === undefined || t === 'now') {
      buf.writeBigInt64LE(0n, offset);
      buf.writeBigInt64LE(t === 'now' ? UTIME_NOW : UTIME_OMIT, offset + 8);
      return;
    }
    buf.writeBigInt64LE(t / 1_000_000_000n, offset);
    buf.writeBigInt64LE(t % 1_000_000_000n, offset + 8);
  };
  put(0, atimeNs);
  put(16, mtimeNs);
  return buf;
}

/** Set the times of `path` itself (not a symlink's target); undefined leaves a time as it is. */
export function utimens(path: string, atimeNs: bigint | 'now' | undefined, mtimeNs: bigint | 'now' | undefined): void {
  check(load().utimensat(AT_FDCWD, cstr(path), timespecs(atimeNs, mtimeNs), AT_SYMLINK_NOFOLLOW), 'utimensat');
}

export function futimens(fd: number, atimeNs: bigint | 'now' | undefined, mtimeNs: bigint | 'now' | undefined): void {
  check(load().futimens(fd, timespecs(atimeNs, mtimeNs)), 'futimens');
}

export function lseek(fd: number, offset: bigint, whence: number): bigint {
  return BigInt(check(load().lseek(fd, offset, whence), 'lseek'));
}

/** Register `backingFd` as a passthrough backing file on the FUSE connection; returns its id. */
export function backingOpen(fuseFd: number, backingFd: number, request: number): number {
  const arg = Buffer.alloc(16);
  arg.writeInt32LE(backingFd, 0);
  return check(load().ioctl(fuseFd, request, 'void *', arg), 'ioctl(FUSE_DEV_IOC_BACKING_OPEN)');
}

export function backingClose(fuseFd: number, backingId: number, request: number): void {
  const arg = Buffer.alloc(4);
  arg.writeInt32LE(backingId, 0);
  check(load().ioctl(fuseFd, request, 'void *', arg), 'ioctl(FUSE_DEV_IOC_BACKING_CLOSE)');
}
