/**
 * The receiver's staging area for chunks that arrived but are not yet in a file: append-only pack
 * files of records `hash (32 bytes) ‖ length (u32 BE) ‖ plaintext`. A chunk counts as received once
 * its record is written, so a sender that reconnects after a cut link — or after either process was
 * killed — is asked only for chunks no pack holds. A record cut short by a crash is dropped when
 * the packs are reopened. `sync()` fsyncs for power-loss safety before a version is committed.
 */
import {
  closeSync,
  fsyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Hash } from './manifest.js';

const HEADER_BYTES = 36;
/** A new pack file is started past this size, so finished packs can be dropped independently. */
const PACK_MAX_BYTES = 1024 * 1024 * 1024;

interface PackedChunk {
  pack: number;
  offset: number;
  sizeBytes: number;
}

export class ChunkPacks {
  private readonly index = new Map<Hash, PackedChunk>();
  private readonly fds = new Map<number, number>();
  private active = -1;
  private activeBytes = 0;

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    const packs = readdirSync(dir)
      .filter((n) => /^\d+\.pack$/.test(n))
      .map((n) => Number(n.slice(0, -5)))
      .sort((a, b) => a - b);
    for (const pack of packs) this.load(pack);
    this.active = packs.length ? packs[packs.length - 1]! : -1;
    this.activeBytes = this.active >= 0 ? fstatSync(this.fd(this.active)).size : 0;
  }

  private path(pack: number): string {
    return join(this.dir, `${pack}.pack`);
  }

  private fd(pack: number): number {
    let fd = this.fds.get(pack);
    if (fd === undefined) {
      fd = openSync(this.path(pack), 'a+');
      this.fds.set(pack, fd);
    }
    return fd;
  }

  /** Indexes a pack's records; truncates a torn tail left by a crash. */
  private load(pack: number): void {
    const fd = this.fd(pack);
    const size = fstatSync(fd).size;
    const header = Buffer.alloc(HEADER_BYTES);
    let offset = 0;
    while (offset + HEADER_BYTES <= size) {
      readSync(fd, header, 0, HEADER_BYTES, offset);
      const sizeBytes = header.readUInt32BE(32);
      if (offset + HEADER_BYTES + sizeBytes > size) break;
      this.index.set(header.subarray(0, 32).toString('hex'), { pack, offset: offset + HEADER_BYTES, sizeBytes });
      offset += HEADER_BYTES + sizeBytes;
    }
    if (offset < size) ftruncateSync(fd, offset);
  }

  has(hash: Hash): boolean {
    return this.index.has(hash);
  }

  get size(): number {
    return this.index.size;
  }

  /** Appends a verified chunk. Idempotent: a chunk already packed is not written twice. */
  put(hash: Hash, data: Buffer): void {
    if (this.index.has(hash)) return;
    if (this.active < 0 || this.activeBytes >= PACK_MAX_BYTES) {
      this.active += 1;
      this.activeBytes = 0;
    }
    const fd = this.fd(this.active);
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    header.write(hash, 0, 'hex');
    header.writeUInt32BE(data.length, 32);
    writeAll(fd, header);
    writeAll(fd, data);
    this.index.set(hash, { pack: this.active, offset: this.activeBytes + HEADER_BYTES, sizeBytes: data.length });
    this.activeBytes += HEADER_BYTES + data.length;
  }

  /** Reads a packed chunk's plaintext, or undefined when no pack holds it. */
  read(hash: Hash): Buffer | undefined {
    const at = this.index.get(hash);
    if (!at) return undefined;
    const buf = Buffer.allocUnsafe(at.sizeBytes);
    let done = 0;
    while (done < at.sizeBytes) {
      const n = readSync(this.fd(at.pack), buf, done, at.sizeBytes - done, at.offset + done);
      if (n === 0) return undefined;
      done += n;
    }
    return buf;
  }

  sync(): void {
    for (const fd of this.fds.values()) fsyncSync(fd);
  }

  /** Drops every pack: called once a committed version holds all their chunks in files. */
  clear(): void {
    this.close();
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
    this.index.clear();
    this.active = -1;
    this.activeBytes = 0;
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

function writeAll(fd: number, data: Buffer): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done);
}
