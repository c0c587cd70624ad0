import { describe, expect, it } from '@jest/globals';
import {
  attrOut,
  direntPlusSize,
  direntSize,
  entryOut,
  openOut,
  OpenFlag,
  outHeader,
  statfsOut,
  writeAttr,
  writeDirent,
  writeDirentPlus,
  type Attr,
} from './abi.js';

// The offsets below are copied from ../shared/FUSE.md sections 2 and 5, not from abi.ts, and every
// field is read back with plain Buffer reads so an encoder mistake cannot cancel itself out.

const FILL = 0xaa;

/** A buffer of `size` bytes that are all FILL, so untouched bytes are recognisable. */
const dirty = (size: number): Buffer => Buffer.alloc(size, FILL);

const ATTR: Attr = {
  ino: 0x0102030405060708n,
  size: 0x1122334455667788n,
  blocks: 4242n,
  atimeNs: 1_700_000_000_123_456_789n,
  mtimeNs: 1_600_000_001_000_000_002n,
  ctimeNs: 1_500_000_002_999_999_999n,
  mode: 0o100644,
  nlink: 3,
  uid: 1000,
  gid: 2000,
  rdev: 0x0801,
  blksize: 4096,
};

interface DecodedAttr {
  ino: bigint;
  size: bigint;
  blocks: bigint;
  atime: bigint;
  mtime: bigint;
  ctime: bigint;
  atimensec: number;
  mtimensec: number;
  ctimensec: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
  flags: number;
}

/** fuse_attr 88: ino,size,blocks,atime,mtime,ctime u64@0; atimensec..flags u32@48. Times signed. */
function readAttr(buf: Buffer, at: number): DecodedAttr {
  return {
    ino: buf.readBigUInt64LE(at + 0),
    size: buf.readBigUInt64LE(at + 8),
    blocks: buf.readBigUInt64LE(at + 16),
    atime: buf.readBigInt64LE(at + 24),
    mtime: buf.readBigInt64LE(at + 32),
    ctime: buf.readBigInt64LE(at + 40),
    atimensec: buf.readUInt32LE(at + 48),
    mtimensec: buf.readUInt32LE(at + 52),
    ctimensec: buf.readUInt32LE(at + 56),
    mode: buf.readUInt32LE(at + 60),
    nlink: buf.readUInt32LE(at + 64),
    uid: buf.readUInt32LE(at + 68),
    gid: buf.readUInt32LE(at + 72),
    rdev: buf.readUInt32LE(at + 76),
    blksize: buf.readUInt32LE(at + 80),
    flags: buf.readUInt32LE(at + 84),
  };
}

const ATTR_DECODED: DecodedAttr = {
  ino: 0x0102030405060708n,
  size: 0x1122334455667788n,
  blocks: 4242n,
  atime: 1_700_000_000n,
  mtime: 1_600_000_001n,
  ctime: 1_500_000_002n,
  atimensec: 123_456_789,
  mtimensec: 2,
  ctimensec: 999_999_999,
  mode: 0o100644,
  nlink: 3,
  uid: 1000,
  gid: 2000,
  rdev: 0x0801,
  blksize: 4096,
  flags: 0,
};

describe('writeAttr', () => {
  it('puts every fuse_attr field at its documented offset and leaves the rest alone', () => {
    const buf = dirty(8 + 88 + 8);
    writeAttr(buf, 8, ATTR);
    expect(readAttr(buf, 8)).toEqual(ATTR_DECODED);
    // flags (u32@84) is written as 0 even over dirty memory; nothing outside the 88 bytes changes
    expect(buf.subarray(0, 8)).toEqual(Buffer.alloc(8, FILL));
    expect(buf.subarray(96)).toEqual(Buffer.alloc(8, FILL));
  });

  it('writes the exact little-endian bytes of ino and mode', () => {
    const buf = Buffer.alloc(88);
    writeAttr(buf, 0, ATTR);
    expect([...buf.subarray(0, 8)]).toEqual([0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01]);
    // 0o100644 = 0x81a4
    expect([...buf.subarray(60, 64)]).toEqual([0xa4, 0x81, 0x00, 0x00]);
  });

  it.each([
    // [nanoseconds since the epoch, seconds (signed), nanoseconds]
    [0n, 0n, 0],
    [1n, 0n, 1],
    [999_999_999n, 0n, 999_999_999],
    [1_000_000_000n, 1n, 0],
    [1_700_000_000_500_000_000n, 1_700_000_000n, 500_000_000],
    // before the epoch: seconds round down, nanoseconds stay in [0, 1e9)
    [-1n, -1n, 999_999_999],
    [-1_000_000_000n, -1n, 0],
    [-1_500_000_000n, -2n, 500_000_000],
    [-3_000_000_001n, -4n, 999_999_999],
    [-86_400_000_000_000n, -86_400n, 0],
  ])('encodes time %p ns as %p s + %p ns in atime, mtime and ctime', (ns, sec, nsec) => {
    const buf = dirty(88);
    writeAttr(buf, 0, { ...ATTR, atimeNs: ns, mtimeNs: ns, ctimeNs: ns });
    const a = readAttr(buf, 0);
    expect([a.atime, a.mtime, a.ctime]).toEqual([sec, sec, sec]);
    expect([a.atimensec, a.mtimensec, a.ctimensec]).toEqual([nsec, nsec, nsec]);
    // seconds * 1e9 + nanoseconds gives the original time back
    expect(a.mtime * 1_000_000_000n + BigInt(a.mtimensec)).toBe(ns);
  });

  it('stores a pre-epoch second count as its two-complement u64', () => {
    const buf = Buffer.alloc(88);
    writeAttr(buf, 0, { ...ATTR, atimeNs: -1_500_000_000n });
    expect(buf.readBigUInt64LE(24)).toBe(2n ** 64n - 2n);
    expect(buf.readUInt32LE(48)).toBe(500_000_000);
  });
});

describe('entryOut', () => {
  it('is 128 bytes: nodeid, generation 0, validities, then fuse_attr at 40', () => {
    const buf = entryOut(0x12345678, ATTR, { entryMs: 1500, attrMs: 250 });
    expect(buf.length).toBe(128);
    expect(buf.readBigUInt64LE(0)).toBe(0x12345678n);
    expect(buf.readBigUInt64LE(8)).toBe(0n);
    expect(buf.readBigUInt64LE(16)).toBe(1n); // entry_valid
    expect(buf.readBigUInt64LE(24)).toBe(0n); // attr_valid
    expect(buf.readUInt32LE(32)).toBe(500_000_000); // entry_valid_nsec
    expect(buf.readUInt32LE(36)).toBe(250_000_000); // attr_valid_nsec
    expect(readAttr(buf, 40)).toEqual(ATTR_DECODED);
  });

  it('encodes nodeid 0 (a negative lookup) with its TTL', () => {
    const buf = entryOut(0, ATTR, { entryMs: 5000, attrMs: 0 });
    expect(buf.readBigUInt64LE(0)).toBe(0n);
    expect(buf.readBigUInt64LE(16)).toBe(5n);
    expect(buf.readUInt32LE(32)).toBe(0);
  });

  it.each([
    // [milliseconds, seconds, nanoseconds]
    [0, 0n, 0],
    [1, 0n, 1_000_000],
    [999, 0n, 999_000_000],
    [1000, 1n, 0],
    [1001, 1n, 1_000_000],
    [86_400_000, 86_400n, 0],
    [2 ** 33 + 7, BigInt(Math.floor((2 ** 33 + 7) / 1000)), ((2 ** 33 + 7) % 1000) * 1_000_000],
  ])('turns a validity of %p ms into %p s + %p ns', (ms, sec, nsec) => {
    const entry = entryOut(2, ATTR, { entryMs: ms, attrMs: ms });
    expect([entry.readBigUInt64LE(16), entry.readUInt32LE(32)]).toEqual([sec, nsec]);
    expect([entry.readBigUInt64LE(24), entry.readUInt32LE(36)]).toEqual([sec, nsec]);
    const attr = attrOut(ATTR, ms);
    expect([attr.readBigUInt64LE(0), attr.readUInt32LE(8)]).toEqual([sec, nsec]);
  });
});

describe('attrOut', () => {
  it('is 104 bytes: attr_valid, attr_valid_nsec at 8, zero padding, fuse_attr at 16', () => {
    const buf = attrOut(ATTR, 3250);
    expect(buf.length).toBe(104);
    expect(buf.readBigUInt64LE(0)).toBe(3n);
    expect(buf.readUInt32LE(8)).toBe(250_000_000);
    expect(buf.readUInt32LE(12)).toBe(0);
    expect(readAttr(buf, 16)).toEqual(ATTR_DECODED);
  });
});

describe('openOut', () => {
  it.each([
    // [fh, open flags, backing id]
    [7, 0, undefined],
    [2 ** 40 + 5, OpenFlag.KEEP_CACHE | OpenFlag.CACHE_DIR, undefined],
    [1, OpenFlag.PASSTHROUGH, 12],
    [Number.MAX_SAFE_INTEGER, OpenFlag.DIRECT_IO | OpenFlag.PASSTHROUGH, 0x7fffffff],
  ])('fh %p, flags %p, backing id %p: fh u64@0, open_flags u32@8, backing_id i32@12', (fh, flags, backing) => {
    const buf = backing === undefined ? openOut(fh, flags) : openOut(fh, flags, backing);
    expect(buf.length).toBe(16);
    expect(buf.readBigUInt64LE(0)).toBe(BigInt(fh));
    expect(buf.readUInt32LE(8)).toBe(flags);
    expect(buf.readInt32LE(12)).toBe(backing ?? 0);
  });

  it('keeps the documented FOPEN bit values', () => {
    expect(OpenFlag).toEqual({ DIRECT_IO: 1, KEEP_CACHE: 2, CACHE_DIR: 8, PASSTHROUGH: 0x80 });
  });
});

describe('statfsOut', () => {
  it('is 80 bytes: five u64 counts, then bsize, namelen, frsize u32 at 40, zero spare', () => {
    const buf = statfsOut({
      blocks: 0x1_0000_0001n,
      bfree: 2n,
      bavail: 3n,
      files: 0x7fff_ffff_ffff_ffffn,
      ffree: 5n,
      bsize: 4096,
      namelen: 255,
      frsize: 512,
    });
    expect(buf.length).toBe(80);
    expect([0, 8, 16, 24, 32].map((at) => buf.readBigUInt64LE(at))).toEqual([
      0x1_0000_0001n,
      2n,
      3n,
      0x7fff_ffff_ffff_ffffn,
      5n,
    ]);
    expect([40, 44, 48].map((at) => buf.readUInt32LE(at))).toEqual([4096, 255, 512]);
    expect(buf.subarray(52)).toEqual(Buffer.alloc(28));
  });
});

describe('direntSize and direntPlusSize', () => {
  it.each([
    // [name bytes, dirent size = align8(24 + n), direntplus size = align8(152 + n)]
    [0, 24, 152],
    [1, 32, 160],
    [7, 32, 160],
    [8, 32, 160],
    [9, 40, 168],
    [16, 40, 168],
    [17, 48, 176],
    [255, 280, 408],
  ])('a %p-byte name takes %p bytes in READDIR and %p in READDIRPLUS', (n, plain, plus) => {
    expect(direntSize(n)).toBe(plain);
    expect(direntPlusSize(n)).toBe(plus);
    expect(plain % 8).toBe(0);
    expect(plus % 8).toBe(0);
  });
});

/** fuse_dirent: ino,off u64@0; namelen,type u32@16; name@24. */
function readDirent(buf: Buffer, at: number): { ino: bigint; off: bigint; type: number; name: Buffer } {
  const namelen = buf.readUInt32LE(at + 16);
  return {
    ino: buf.readBigUInt64LE(at),
    off: buf.readBigUInt64LE(at + 8),
    type: buf.readUInt32LE(at + 20),
    name: buf.subarray(at + 24, at + 24 + namelen),
  };
}

describe('writeDirent', () => {
  it.each([
    // [name, padded record size]
    ['a', 32],
    ['abcdefgh', 32],
    ['abcdefghi', 40],
    ['.', 32],
    ['name with spaces\n', 48],
  ])('writes %j as a %p-byte record with zero padding', (name, size) => {
    const bytes = Buffer.from(name, 'latin1');
    const buf = dirty(16 + size + 16);
    const end = writeDirent(buf, 16, 0xabcdef0123n, 77, 8, bytes);
    expect(end).toBe(16 + size);
    expect(readDirent(buf, 16)).toEqual({ ino: 0xabcdef0123n, off: 77n, type: 8, name: bytes });
    expect(buf.subarray(16 + 24 + bytes.length, end)).toEqual(Buffer.alloc(size - 24 - bytes.length));
    expect(buf.subarray(0, 16)).toEqual(Buffer.alloc(16, FILL));
    expect(buf.subarray(end)).toEqual(Buffer.alloc(16, FILL));
  });

  it('copies arbitrary name bytes and chains records back to back', () => {
    const names = [Buffer.from([0xff, 0xfe, 0x00, 0x80]), Buffer.from('é', 'utf8'), Buffer.from('x'.repeat(255))];
    const buf = dirty(1024);
    let at = 0;
    const starts: number[] = [];
    names.forEach((name, i) => {
      starts.push(at);
      at = writeDirent(buf, at, BigInt(100 + i), i + 1, 4, name);
    });
    expect(starts).toEqual([0, 32, 64]);
    expect(at).toBe(64 + 280);
    names.forEach((name, i) => {
      expect(readDirent(buf, starts[i] ?? -1)).toEqual({ ino: BigInt(100 + i), off: BigInt(i + 1), type: 4, name });
    });
  });
});

describe('writeDirentPlus', () => {
  const valid = { entryMs: 2500, attrMs: 1000 };

  it('writes an entry_out followed by a dirent whose name starts at 152', () => {
    const name = Buffer.from('file.txt\xff', 'latin1');
    const buf = dirty(8 + 168 + 8);
    const end = writeDirentPlus(buf, 8, 42, ATTR, valid, 9, name);
    expect(end).toBe(8 + 168);
    expect(buf.readBigUInt64LE(8)).toBe(42n); // nodeid
    expect(buf.readBigUInt64LE(8 + 8)).toBe(0n); // generation
    expect(buf.readBigUInt64LE(8 + 16)).toBe(2n);
    expect(buf.readBigUInt64LE(8 + 24)).toBe(1n);
    expect(buf.readUInt32LE(8 + 32)).toBe(500_000_000);
    expect(buf.readUInt32LE(8 + 36)).toBe(0);
    expect(readAttr(buf, 8 + 40)).toEqual(ATTR_DECODED);
    // the dirent carries the attr's ino and the file type (mode >> 12: 8 = regular file)
    expect(readDirent(buf, 8 + 128)).toEqual({ ino: ATTR.ino, off: 9n, type: 8, name });
    expect(buf.subarray(8 + 152, 8 + 152 + name.length)).toEqual(name);
    expect(buf.subarray(8 + 152 + name.length, end)).toEqual(Buffer.alloc(168 - 152 - name.length));
    expect(buf.subarray(0, 8)).toEqual(Buffer.alloc(8, FILL));
    expect(buf.subarray(end)).toEqual(Buffer.alloc(8, FILL));
  });

  it.each([
    [0o040755, 4],
    [0o100600, 8],
    [0o120777, 10],
    [0o020666, 2],
    [0o060660, 6],
    [0o010644, 1],
    [0o140755, 12],
  ])('gives mode %o the dirent type %p', (mode, type) => {
    const buf = Buffer.alloc(160);
    writeDirentPlus(buf, 0, 3, { ...ATTR, mode }, valid, 1, Buffer.from('n'));
    expect(buf.readUInt32LE(128 + 20)).toBe(type);
    expect(buf.readUInt32LE(40 + 60)).toBe(mode);
  });

  it('leaves the entry_out zeroed for nodeId 0 ("." and "..") but still writes the dirent', () => {
    const dir = { ...ATTR, ino: 5n, mode: 0o040755 };
    const buf = dirty(160 + 160);
    let at = writeDirentPlus(buf, 0, 0, dir, valid, 1, Buffer.from('.'));
    at = writeDirentPlus(buf, at, 0, dir, valid, 2, Buffer.from('..'));
    expect(at).toBe(320);
    for (const [start, name, off] of [
      [0, '.', 1n],
      [160, '..', 2n],
    ] as const) {
      expect(buf.subarray(start, start + 128)).toEqual(Buffer.alloc(128));
      expect(readDirent(buf, start + 128)).toEqual({ ino: 5n, off, type: 4, name: Buffer.from(name) });
      expect(buf.subarray(start + 152 + name.length, start + 160)).toEqual(Buffer.alloc(8 - name.length));
    }
  });
});

describe('outHeader', () => {
  it.each([
    // [unique, error, length]
    [2n, 0, 16],
    [0x10n, -2, 16],
    [(1n << 63n) | 4n, -511, 16 + 128],
    [0n, 3, 40], // a notification: unique 0, error = the notify code
  ])('unique %p, error %p, length %p: len u32@0, error i32@4, unique u64@8', (unique, error, length) => {
    const buf = outHeader(unique, error, length);
    expect(buf.length).toBe(16);
    expect(buf.readUInt32LE(0)).toBe(length);
    expect(buf.readInt32LE(4)).toBe(error);
    expect(buf.readBigUInt64LE(8)).toBe(unique);
  });

  it('writes a negative errno as two-complement bytes', () => {
    expect([...outHeader(2n, -2, 16).subarray(4, 8)]).toEqual([0xfe, 0xff, 0xff, 0xff]);
  });
});
