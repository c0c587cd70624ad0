/**
 * One FUSE connection: worker threads block in read() on /dev/fuse and hand each request to this
 * thread, which decodes it, calls the FileSystem and writes the reply in one write. The protocol
 * facts this relies on are in docs/architecture.md#the-kmesh-filesystem.
 *
 * Never touch the mount from this process's main thread: the request it would wait on is served here.
 */
import { writevSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import {
  FSYNC_DATASYNC,
  GETATTR_FH,
  IN_HEADER_SIZE,
  InitFlag,
  KERNEL_MINOR,
  KERNEL_VERSION,
  MAX_PAGES,
  MAX_WRITE,
  Notify,
  OUT_HEADER_SIZE,
  Opcode,
  REQUEST_BUFFER_SIZE,
  SetattrValid,
  FUSE_DEV_IOC_BACKING_CLOSE,
  FUSE_DEV_IOC_BACKING_OPEN,
  attrOut,
  type Attr,
  entryOut,
  openOut,
  outHeader,
  statfsOut,
} from './abi.js';
import { backingClose, backingOpen, ErrnoError } from './libc.js';
import type { Caller, Connection, Entry, FileSystem, Opened, SetattrRequest } from './operations.js';
import type { Logger } from '../lib/logging.js';

const ENOSYS = 38;
const EIO = 5;
const ERANGE = 34;

/** The flags we ask for at INIT; the reply carries those the kernel offered. */
const WANTED_FLAGS =
  InitFlag.ASYNC_READ |
  InitFlag.ATOMIC_O_TRUNC |
  InitFlag.BIG_WRITES |
  InitFlag.DO_READDIRPLUS |
  InitFlag.READDIRPLUS_AUTO |
  InitFlag.PARALLEL_DIROPS |
  InitFlag.MAX_PAGES |
  InitFlag.CACHE_SYMLINKS |
  InitFlag.INIT_EXT;

/** Attribute and entry cache lifetime the kernel is told (as libfuse's default). */
export const DEFAULT_TTL_MS = 1000;

/** Runs in each reader thread: one blocking read() per request, copied out and posted. */
const READER = `
const { workerData, parentPort } = require('node:worker_threads');
const { readSync } = require('node:fs');
const buf = Buffer.allocUnsafe(workerData.size);
for (;;) {
  let n;
  try {
    n = readSync(workerData.fd, buf, 0, buf.length, null);
  } catch (e) {
    if (e.code === 'ENOENT' || e.code === 'EINTR' || e.code === 'EAGAIN') continue;
    parentPort.postMessage({ end: e.code });
    break;
  }
  const request = new Uint8Array(n);
  request.set(buf.subarray(0, n));
  parentPort.postMessage(request, [request.buffer]);
}
`;

/** What INIT settled, which a server taking over the connection needs (there is no second INIT). */
export interface Negotiated {
  passthrough: boolean;
}

/** Runs in the notifier thread: one write per notification; failures are posted back. */
const NOTIFIER = `
const { workerData, parentPort } = require('node:worker_threads');
const { writeSync } = require('node:fs');
parentPort.on('message', (message) => {
  try {
    writeSync(workerData.fd, message);
  } catch (e) {
    parentPort.postMessage({ code: e.code, errno: -e.errno });
  }
});
`;

export interface SessionOptions {
  /** Reader threads blocked in read(); more lets the kernel hand out requests while we work. */
  readers?: number;
  /** Offer kernel passthrough for files whose bytes are local (default: when the kernel has it). */
  passthrough?: boolean;
  /** Take over a connection another server initialised (and maybe died holding requests). */
  resume?: Negotiated;
  /** Told what INIT settled, before the INIT reply is sent. */
  onInit?: (negotiated: Negotiated) => void;
  /** Called once the INIT reply is sent (the kernel has applied it: e.g. its read-ahead). */
  afterInit?: () => void;
}

/** Counters a session keeps, for metrics and tests. */
export interface SessionStats {
  requests: number;
  errors: number;
  byOpcode: Map<number, number>;
}

function errnoOf(err: unknown): number | undefined {
  if (err instanceof ErrnoError) return err.errno;
  const n = (err as NodeJS.ErrnoException | undefined)?.errno;
  return typeof n === 'number' ? Math.abs(n) : undefined;
}

/** A NUL-terminated name at `offset`, as latin1 (every byte kept), and the offset after it. */
function cstring(buf: Buffer, offset: number): [string, number] {
  const end = buf.indexOf(0, offset);
  const stop = end < 0 ? buf.length : end;
  return [buf.toString('latin1', offset, stop), stop + 1];
}

const name = (buf: Buffer, offset: number): string => cstring(buf, offset)[0];

export class FuseSession {
  private readonly readers: Worker[] = [];
  private notifier: Worker | undefined;
  private passthrough = false;
  private ended = false;
  private endResolve!: () => void;
  /** Resolves when the kernel connection is gone (unmounted or aborted). */
  readonly closed = new Promise<void>((resolve) => (this.endResolve = resolve));
  readonly stats: SessionStats = { requests: 0, errors: 0, byOpcode: new Map() };

  constructor(
    private readonly fd: number,
    private readonly fs: FileSystem,
    private readonly log: Logger,
    private readonly options: SessionOptions = {},
  ) {}

  /** Starts serving; call once the mount has completed. */
  start(): void {
    if (this.options.resume) {
      this.passthrough = this.options.resume.passthrough;
      this.fs.init(this.connection());
    }
    const count = this.options.readers ?? 2;
    for (let i = 0; i < count; i++) {
      const worker = new Worker(READER, { eval: true, workerData: { fd: this.fd, size: REQUEST_BUFFER_SIZE } });
      worker.on('message', (msg: Uint8Array | { end: string }) => {
        if (msg instanceof Uint8Array) {
          this.handle(Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength));
        } else {
          this.end(msg.end);
        }
      });
      worker.on('error', (err) => this.log.error({ err }, 'FUSE reader thread failed'));
      this.readers.push(worker);
    }
    // Requests the server before us read but never answered come back to us.
    if (this.options.resume) this.notify(Notify.RESEND, Buffer.alloc(0));
  }

  private connection(): Connection {
    const fd = this.fd;
    return {
      passthrough: this.passthrough,
      backingOpen: (backingFd) => backingOpen(fd, backingFd, FUSE_DEV_IOC_BACKING_OPEN),
      backingClose: (id) => backingClose(fd, id, FUSE_DEV_IOC_BACKING_CLOSE),
    };
  }

  private end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.log.info({ reason }, 'FUSE connection closed');
    for (const worker of this.readers) void worker.terminate();
    void this.notifier?.terminate();
    this.endResolve();
  }

  /** Tells the kernel to drop cached data of `nodeId` (from `offset`, `length` bytes; 0 = to EOF; offset < 0 = attributes only). */
  invalidateInode(nodeId: number, offset = 0n, length = 0n): void {
    const body = Buffer.alloc(24);
    body.writeBigUInt64LE(BigInt(nodeId), 0);
    body.writeBigInt64LE(offset, 8);
    body.writeBigInt64LE(length, 16);
    this.notify(Notify.INVAL_INODE, body);
  }

  /** Tells the kernel to forget the name `entry` under `parent`. */
  invalidateEntry(parent: number, entry: string): void {
    const nameBytes = Buffer.from(entry, 'latin1');
    const body = Buffer.alloc(16 + nameBytes.length + 1);
    body.writeBigUInt64LE(BigInt(parent), 0);
    body.writeUInt32LE(nameBytes.length, 8);
    nameBytes.copy(body, 16);
    this.notify(Notify.INVAL_ENTRY, body);
  }

  /**
   * Notifications go out from a thread of their own: the kernel may make the write wait for a
   * directory lock held by a request only this thread can answer (a LOOKUP in that directory).
   */
  private notify(code: Notify, body: Buffer): void {
    if (this.ended) return;
    this.notifier ??= this.startNotifier();
    const message = Buffer.concat([outHeader(0n, code, OUT_HEADER_SIZE + body.length), body]);
    this.notifier.postMessage(message);
  }

  private startNotifier(): Worker {
    const worker = new Worker(NOTIFIER, { eval: true, workerData: { fd: this.fd } });
    worker.on('message', (failure: { code: string; errno: number }) => {
      // ENOENT: the kernel had nothing cached for it.
      if (failure.errno !== 2) this.log.warn({ code: failure.code }, 'FUSE notification failed');
    });
    worker.on('error', (err) => this.log.error({ err }, 'FUSE notifier thread failed'));
    worker.unref();
    return worker;
  }

  private reply(unique: bigint, error: number, body: Buffer[] = []): void {
    const length = OUT_HEADER_SIZE + body.reduce((n, b) => n + b.length, 0);
    try {
      writevSync(this.fd, [
        outHeader(unique, error === 0 ? 0 : -error, error === 0 ? length : OUT_HEADER_SIZE),
        ...(error === 0 ? body : []),
      ]);
    } catch (err) {
      // ENOENT: the request was interrupted and is gone; ENODEV: the connection is.
      const code = errnoOf(err);
      if (code === 19) this.end('ENODEV');
      else if (code !== 2) this.log.warn({ err, unique }, 'FUSE reply failed');
    }
  }

  private handle(req: Buffer): void {
    const opcode = req.readUInt32LE(4) as Opcode;
    const unique = req.readBigUInt64LE(8);
    const nodeId = Number(req.readBigUInt64LE(16));
    const caller: Caller = { uid: req.readUInt32LE(24), gid: req.readUInt32LE(28), pid: req.readUInt32LE(32) };
    const extLength = req.readUInt16LE(36) * 8;
    const args = req.subarray(IN_HEADER_SIZE, req.length - extLength);
    this.stats.requests++;
    this.stats.byOpcode.set(opcode, (this.stats.byOpcode.get(opcode) ?? 0) + 1);
    let result: Buffer[] | void | Promise<Buffer[] | void>;
    try {
      result = this.dispatch(opcode, unique, nodeId, caller, args);
    } catch (err) {
      this.fail(unique, opcode, err);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (body) => body && this.reply(unique, 0, body),
        (err: unknown) => this.fail(unique, opcode, err),
      );
    } else if (result) {
      this.reply(unique, 0, result);
    }
  }

  private fail(unique: bigint, opcode: number, err: unknown): void {
    this.stats.errors++;
    const code = errnoOf(err);
    if (code === undefined) this.log.error({ err, opcode }, 'FUSE request failed unexpectedly');
    this.reply(unique, code ?? EIO);
  }

  /** Returns the reply body, or nothing for requests that get no reply (FORGET). */
  private dispatch(
    opcode: Opcode,
    unique: bigint,
    nodeId: number,
    caller: Caller,
    args: Buffer,
  ): Buffer[] | void | Promise<Buffer[] | void> {
    const fs = this.fs;
    const fh = (offset = 0): number => Number(args.readBigUInt64LE(offset));
    switch (opcode) {
      case Opcode.INIT: {
        this.reply(unique, 0, [this.init(args)]);
        this.options.afterInit?.();
        return;
      }
      case Opcode.LOOKUP:
        return then(fs.lookup(caller, nodeId, name(args, 0)), entry);
      case Opcode.FORGET:
        fs.forget(nodeId, fh(0));
        return;
      case Opcode.BATCH_FORGET: {
        const count = args.readUInt32LE(0);
        for (let i = 0; i < count; i++) fs.forget(fh(8 + i * 16), fh(16 + i * 16));
        return;
      }
      case Opcode.GETATTR:
        return then(fs.getattr(nodeId, args.readUInt32LE(0) & GETATTR_FH ? fh(8) : undefined), attr);
      case Opcode.SETATTR:
        return then(fs.setattr(caller, nodeId, setattrRequest(args)), attr);
      case Opcode.READLINK:
        return then(fs.readlink(nodeId), (target) => [target]);
      case Opcode.SYMLINK: {
        const [linkName, next] = cstring(args, 0);
        return then(fs.symlink(caller, nodeId, linkName, args.subarray(next, args.indexOf(0, next))), entry);
      }
      case Opcode.MKNOD:
        return then(fs.mknod(caller, nodeId, name(args, 16), args.readUInt32LE(0), args.readUInt32LE(4)), entry);
      case Opcode.MKDIR:
        // The kernel has applied the umask already (we do not ask for DONT_MASK).
        return then(fs.mkdir(caller, nodeId, name(args, 8), args.readUInt32LE(0)), entry);
      case Opcode.UNLINK:
        return then(fs.unlink(nodeId, name(args, 0)), empty);
      case Opcode.RMDIR:
        return then(fs.rmdir(nodeId, name(args, 0)), empty);
      case Opcode.RENAME: {
        const [from, next] = cstring(args, 8);
        return then(fs.rename(nodeId, from, fh(0), name(args, next), 0), empty);
      }
      case Opcode.RENAME2: {
        const [from, next] = cstring(args, 16);
        return then(fs.rename(nodeId, from, fh(0), name(args, next), args.readUInt32LE(8)), empty);
      }
      case Opcode.LINK:
        return then(fs.link(fh(0), nodeId, name(args, 8)), entry);
      case Opcode.OPEN:
        return then(fs.open(caller, nodeId, args.readUInt32LE(0)), opened);
      case Opcode.CREATE:
        return then(fs.create(caller, nodeId, name(args, 16), args.readUInt32LE(0), args.readUInt32LE(4)), (c) => [
          ...entry(c),
          ...opened(c),
        ]);
      case Opcode.READ:
        return then(fs.read(nodeId, fh(0), args.readBigUInt64LE(8), args.readUInt32LE(16)), (data) => [data]);
      case Opcode.WRITE: {
        const size = args.readUInt32LE(16);
        return then(fs.write(nodeId, fh(0), args.readBigUInt64LE(8), args.subarray(40, 40 + size)), (written) => {
          const out = Buffer.alloc(8);
          out.writeUInt32LE(written, 0);
          return [out];
        });
      }
      case Opcode.FLUSH:
        return then(fs.flush(nodeId, fh(0)), empty);
      case Opcode.FSYNC:
        return then(fs.fsync(nodeId, fh(0), (args.readUInt32LE(8) & FSYNC_DATASYNC) !== 0), empty);
      case Opcode.RELEASE:
        return then(fs.release(nodeId, fh(0)), empty);
      case Opcode.FALLOCATE:
        return then(
          fs.fallocate(nodeId, fh(0), args.readBigUInt64LE(8), args.readBigUInt64LE(16), args.readUInt32LE(24)),
          empty,
        );
      case Opcode.LSEEK:
        return then(fs.lseek(nodeId, fh(0), args.readBigUInt64LE(8), args.readUInt32LE(16)), (position) => {
          const out = Buffer.alloc(8);
          out.writeBigUInt64LE(position);
          return [out];
        });
      case Opcode.OPENDIR:
        return then(fs.opendir(nodeId), opened);
      case Opcode.READDIR:
      case Opcode.READDIRPLUS: {
        const records = fs.readdir(nodeId, fh(0), fh(8), args.readUInt32LE(16), opcode === Opcode.READDIRPLUS);
        return then(records, (r) => [r]);
      }
      case Opcode.RELEASEDIR:
        return then(fs.releasedir(nodeId, fh(0)), empty);
      case Opcode.FSYNCDIR:
        return then(fs.fsyncdir(nodeId, fh(0)), empty);
      case Opcode.STATFS:
        return then(fs.statfs(nodeId), (s) => [statfsOut(s)]);
      case Opcode.GETXATTR: {
        const size = args.readUInt32LE(0);
        return then(fs.getxattr(nodeId, name(args, 8), size), (v) => [xattrReply(v, size)]);
      }
      case Opcode.LISTXATTR: {
        const size = args.readUInt32LE(0);
        return then(fs.listxattr(nodeId, size), (v) => [xattrReply(v, size)]);
      }
      case Opcode.SETXATTR: {
        // Without FUSE_SETXATTR_EXT the struct is 8 bytes: size, flags.
        const size = args.readUInt32LE(0);
        const [xname, next] = cstring(args, 8);
        return then(fs.setxattr(nodeId, xname, args.subarray(next, next + size), args.readUInt32LE(4)), empty);
      }
      case Opcode.REMOVEXATTR:
        return then(fs.removexattr(nodeId, name(args, 0)), empty);
      case Opcode.INTERRUPT:
        // Requests are short and always answered; ENOSYS tells the kernel to stop sending these.
        this.reply(unique, ENOSYS);
        return;
      case Opcode.DESTROY:
        return [];
      default:
        // Unsupported: locks (the kernel then keeps POSIX locks locally), STATX (falls back to
        // GETATTR), COPY_FILE_RANGE (falls back to read/write), TMPFILE, ...
        this.reply(unique, ENOSYS);
        return;
    }
  }

  private init(args: Buffer): Buffer {
    const major = args.readUInt32LE(0);
    const minor = args.readUInt32LE(4);
    const maxReadahead = args.readUInt32LE(8);
    let offered = BigInt(args.readUInt32LE(12));
    if (offered & InitFlag.INIT_EXT) offered |= BigInt(args.readUInt32LE(16)) << 32n;
    if (major !== KERNEL_VERSION) throw new ErrnoError(EIO, `FUSE protocol ${major}.${minor} is not supported`);
    let wanted = WANTED_FLAGS;
    // Passthrough is only for root (CAP_SYS_ADMIN) and needs the ioctl; without it, reads come to us.
    if (this.options.passthrough !== false && process.getuid?.() === 0) wanted |= InitFlag.PASSTHROUGH;
    const flags = offered & wanted;
    this.passthrough = (flags & InitFlag.PASSTHROUGH) !== 0n;
    const out = Buffer.alloc(64);
    out.writeUInt32LE(KERNEL_VERSION, 0);
    out.writeUInt32LE(Math.min(minor, KERNEL_MINOR), 4);
    out.writeUInt32LE(maxReadahead, 8);
    out.writeUInt32LE(Number(flags & 0xffffffffn), 12);
    out.writeUInt16LE(0, 16); // max_background: kernel default
    out.writeUInt16LE(0, 18); // congestion_threshold: kernel default
    out.writeUInt32LE(MAX_WRITE, 20);
    out.writeUInt32LE(1, 24); // time_gran: nanoseconds
    out.writeUInt16LE(MAX_PAGES, 28);
    out.writeUInt32LE(Number(flags >> 32n), 32);
    // Backing files may sit on overlayfs (a container's root), one level deeper than a plain fs.
    out.writeUInt32LE(this.passthrough ? 2 : 0, 36);
    this.log.info({ minor, passthrough: this.passthrough, maxReadahead }, 'FUSE connection initialised');
    this.options.onInit?.({ passthrough: this.passthrough });
    this.fs.init(this.connection());
    return out;
  }
}

const ttl = { entryMs: DEFAULT_TTL_MS, attrMs: DEFAULT_TTL_MS };

/** Encodes a result now, or when it arrives. */
function then<T>(result: T | Promise<T>, encode: (value: T) => Buffer[]): Buffer[] | Promise<Buffer[]> {
  return result instanceof Promise ? result.then(encode) : encode(result);
}

const empty = (): Buffer[] => [];
const entry = (e: Entry): Buffer[] => [entryOut(e.nodeId, e.attr, ttl)];
const attr = (a: Attr): Buffer[] => [attrOut(a, DEFAULT_TTL_MS)];
const opened = (o: Opened): Buffer[] => [openOut(o.fh, o.openFlags, o.backingId)];

/** A size-0 probe gets getxattr_out with the length; otherwise the data (ERANGE if it did not fit). */
function xattrReply(value: Buffer | number, size: number): Buffer {
  if (typeof value === 'number') {
    const out = Buffer.alloc(8);
    out.writeUInt32LE(value, 0);
    return out;
  }
  if (value.length > size) throw new ErrnoError(ERANGE, 'getxattr');
  return value;
}

function setattrRequest(args: Buffer): SetattrRequest {
  const valid = args.readUInt32LE(0);
  const request: SetattrRequest = {};
  const has = (bit: number): boolean => (valid & bit) !== 0;
  const ns = (secOffset: number, nsecOffset: number): bigint =>
    args.readBigUInt64LE(secOffset) * 1_000_000_000n + BigInt(args.readUInt32LE(nsecOffset));
  if (has(SetattrValid.FH)) request.fh = Number(args.readBigUInt64LE(8));
  if (has(SetattrValid.SIZE)) request.size = args.readBigUInt64LE(16);
  if (has(SetattrValid.ATIME)) request.atimeNs = has(SetattrValid.ATIME_NOW) ? 'now' : ns(32, 56);
  if (has(SetattrValid.MTIME)) request.mtimeNs = has(SetattrValid.MTIME_NOW) ? 'now' : ns(40, 60);
  if (has(SetattrValid.MODE)) request.mode = args.readUInt32LE(68);
  if (has(SetattrValid.UID)) request.uid = args.readUInt32LE(76);
  if (has(SetattrValid.GID)) request.gid = args.readUInt32LE(80);
  return request;
}
