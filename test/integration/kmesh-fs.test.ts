/**
 * The Kmesh filesystem (fs/) through a real FUSE mount, served by `kmesh fs mount` in a process of
 * its own, with kernel passthrough and without (`--no-passthrough`: every byte goes through the
 * server): go-fuse's POSIX tests; random operations on odd names, applied to the mount and to a
 * plain directory, which must give the same outcome one by one and the same trees (the backing
 * directory too); the change journal; a server killed with SIGKILL or stopped with SIGSTOP; a
 * sparse file; permission checks for other users.
 *
 * Seeds: KMESH_FAULT_SEEDS="3,17" replays given seeds; KMESH_FAULT_RUNS=N runs N random ones
 * (default 6). A failing run prints its seed. KMESH_FS_CRASHES=1 also kills the server alone
 * (kill -9) before a few of the random operations, and its supervisor starts another on the same
 * connection: the outcomes must not change.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { randomInt } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  closeSync,
  fchmodSync,
  fstatSync,
  ftruncateSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  renameSync,
  rmdirSync,
  statSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
  type BigIntStats,
} from 'node:fs';
import { join } from 'node:path';
import { readJournal, type ChangeOp, type ChangeRecord } from '../../fs/journal.js';
import * as libc from '../../fs/libc.js';
import { toolPath } from '../../hack/tools.js';
import { eventually } from '../support/eventually.js';
import { SeededRandom } from '../support/fault-tree.js';
import { byBytes, errnoName, fsListing, isMounted, KmeshFs, run, showName, under } from '../support/kmesh-fs.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const OPS_PER_SEED = 150;

function seeds(): number[] {
  const given = process.env['KMESH_FAULT_SEEDS'];
  if (given) return given.split(',').map((s) => Number(s.trim()));
  return Array.from({ length: Number(process.env['KMESH_FAULT_RUNS'] ?? 6) }, () => randomInt(1, 1_000_000));
}
const SEEDS = seeds();
const CRASHES = process.env['KMESH_FS_CRASHES'] === '1';
/** Kills in one run of random operations: the supervisor gives up after more than 10 a minute. */
const MAX_CRASHES = 5;

const MODES = [
  { mode: 'passthrough', passthrough: true },
  { mode: 'no passthrough', passthrough: false },
];

/** `ok`, or the error code a call failed with. */
function codeOf(call: () => unknown): string {
  try {
    call();
    return 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

/** The journal says `path` may have changed: a `write` record, or an `open` (for writing) of it. */
const mayHaveChanged = (records: ChangeRecord[], path: string): boolean =>
  records.some((r) => r.path === path && (r.op === 'write' || r.op === 'open'));

interface Expected {
  op: ChangeOp | ChangeOp[];
  path: string;
  to?: string;
  size?: number;
}

/** `expected` occur in `records` in this order (other records may come between). */
function expectInOrder(records: ChangeRecord[], expected: Expected[]): void {
  let at = 0;
  for (const want of expected) {
    const ops = Array.isArray(want.op) ? want.op : [want.op];
    const matches = (r: ChangeRecord): boolean =>
      ops.includes(r.op) &&
      r.path === want.path &&
      (want.to === undefined || r.to === want.to) &&
      (want.size === undefined || r.size === want.size);
    while (at < records.length && !matches(records[at]!)) at++;
    if (at === records.length) {
      throw new Error(
        `journal: no ${JSON.stringify(want)} after the records before it; the journal:\n` +
          records.map((r) => JSON.stringify({ ...r, t: undefined })).join('\n'),
      );
    }
    at++;
  }
}

// ---- differential operations ------------------------------------------------------------------

/** Names the random operations use: spaces, a newline, unicode, a leading dash, bytes that are not UTF-8. */
const NAMES: Buffer[] = ['a', 'b', 'with space', 'new\nline', 'é', '日本', '-dash'].map((s) => Buffer.from(s));
NAMES.push(Buffer.from([0x66, 0xff, 0xfe]));

const SLASH = Buffer.from('/');
const XATTR_NAMES = ['user.a', 'user.b', 'user.a-longer-name'];
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const RENAME_NOREPLACE = 1;
const RENAME_EXCHANGE = 2;

/** Descriptors the ops keep open across others (renames, unlinks, ...), per tree. */
const HELD_SLOTS = 3;
type Held = (number | undefined)[];

interface Op {
  /** For messages. */
  text: string;
  /** Does it under `root` and returns what to compare besides success (or throws). */
  apply(root: string, held: Held): unknown;
}

/** The outcome of an op to compare: `ok`, `ok <value>` or `error <code>`. */
function outcome(op: Op, root: string, held: Held): string {
  try {
    const value = op.apply(root, held);
    return value === undefined ? 'ok' : `ok ${typeof value === 'string' ? value : JSON.stringify(value)}`;
  } catch (err) {
    if (err instanceof libc.ErrnoError) return `error ${errnoName(err.errno)}`;
    const code = (err as NodeJS.ErrnoException).code;
    if (code) return `error ${code}`;
    throw err;
  }
}

/** Relative paths in `root` (not following symlinks), sorted, with whether each is a directory. */
function existing(root: string): { rel: Buffer; dir: boolean }[] {
  const out: { rel: Buffer; dir: boolean }[] = [];
  const visit = (rel: Buffer | undefined): void => {
    for (const name of readdirSync(rel ? under(root, rel) : root, { encoding: 'buffer' }).sort(byBytes)) {
      const path = rel ? Buffer.concat([rel, SLASH, name]) : name;
      const dir = lstatSync(under(root, path)).isDirectory();
      out.push({ rel: path, dir });
      if (dir) visit(path);
    }
  };
  visit(undefined);
  return out;
}

const describeStat = (st: BigIntStats): string => {
  const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
  // A directory's size is the backing filesystem's business.
  const size = st.isDirectory() ? '' : ` size=${st.size}`;
  return `${type} mode=${(st.mode & 0o7777n).toString(8)} nlink=${st.nlink}${size}`;
};

const digest = (data: Buffer): string => `${data.length}B:${data.toString('base64').slice(0, 24)}`;

/** One random operation, on paths that mostly exist in the reference tree `ref`. */
function randomOp(random: SeededRandom, ref: string): Op {
  const entries = existing(ref);
  const dirs = entries.filter((e) => e.dir);
  const chance = (p: number): boolean => random.int(0, 1000) < p * 1000;
  const randomPath = (): Buffer => {
    const depth = random.pick([1, 1, 2, 2, 3]);
    const parts = Array.from({ length: depth }, () => random.pick(NAMES));
    return Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [SLASH, p])));
  };
  const path = (): Buffer => {
    if (entries.length > 0 && chance(0.55)) return random.pick(entries).rel;
    if (dirs.length > 0 && chance(0.6)) return Buffer.concat([random.pick(dirs).rel, SLASH, random.pick(NAMES)]);
    return chance(0.7) ? random.pick(NAMES) : randomPath();
  };
  const p = path();
  const at = (root: string): Buffer => under(root, p);
  const latin1 = (root: string): string => at(root).toString('latin1');
  const shown = showName(p);
  const offset = (): number => (chance(0.2) ? random.int(MiB, 4 * MiB) : random.int(0, 12_000));
  const mode = (): number => random.pick([0o644, 0o600, 0o755, 0o700, 0o444, 0o640, 0o000, 0o1777, 0o2755]);
  const kinds: [number, () => Op][] = [
    [
      4,
      () => {
        const flags = random.pick(['w', 'wx', 'a', 'w+']);
        const m = random.pick([0o644, 0o600, 0o755, 0o640]);
        const data = random.bytes(random.int(0, 5000));
        return {
          text: `open(${shown}, ${flags}, ${m.toString(8)}) + write ${data.length} B`,
          apply: (root) => {
            const fd = openSync(at(root), flags, m);
            try {
              return writeSync(fd, data);
            } finally {
              closeSync(fd);
            }
          },
        };
      },
    ],
    [
      4,
      () => {
        const [data, position] = [random.bytes(random.int(1, 3000)), offset()];
        return {
          text: `pwrite(${shown}, ${data.length} B at ${position})`,
          apply: (root) => {
            const fd = openSync(at(root), 'r+');
            try {
              return writeSync(fd, data, 0, data.length, position);
            } finally {
              closeSync(fd);
            }
          },
        };
      },
    ],
    [
      2,
      () => {
        const data = random.bytes(random.int(0, 3000));
        return { text: `append(${shown}, ${data.length} B)`, apply: (root) => appendFileSync(at(root), data) };
      },
    ],
    [
      2,
      () => {
        const size = chance(0.3) ? 0 : offset();
        return { text: `truncate(${shown}, ${size})`, apply: (root) => truncateSync(at(root), size) };
      },
    ],
    [
      4,
      () => {
        const m = random.pick([0o755, 0o700, 0o777]);
        return { text: `mkdir(${shown}, ${m.toString(8)})`, apply: (root) => mkdirSync(at(root), m) };
      },
    ],
    [1, () => ({ text: `rmdir(${shown})`, apply: (root) => rmdirSync(at(root)) })],
    [2, () => ({ text: `unlink(${shown})`, apply: (root) => unlinkSync(at(root)) })],
    [
      3,
      () => {
        const to = path();
        return {
          text: `rename(${shown}, ${showName(to)})`,
          apply: (root) => renameSync(at(root), under(root, to)),
        };
      },
    ],
    [
      1,
      () => {
        const [to, flags] = [path(), random.pick([RENAME_NOREPLACE, RENAME_EXCHANGE])];
        return {
          text: `renameat2(${shown}, ${showName(to)}, ${flags === RENAME_EXCHANGE ? 'EXCHANGE' : 'NOREPLACE'})`,
          apply: (root) => libc.renameat2(latin1(root), under(root, to).toString('latin1'), flags),
        };
      },
    ],
    [
      2,
      () => {
        const to = path();
        return { text: `link(${shown}, ${showName(to)})`, apply: (root) => linkSync(at(root), under(root, to)) };
      },
    ],
    [
      2,
      () => {
        // Relative and never through '..': it resolves inside each tree alike.
        const target = chance(0.5) && entries.length > 0 ? random.pick(entries).rel : random.pick(NAMES);
        return {
          text: `symlink(${showName(target)}, ${shown})`,
          apply: (root) => symlinkSync(target, at(root)),
        };
      },
    ],
    [
      2,
      () => {
        const m = mode();
        return { text: `chmod(${shown}, ${m.toString(8)})`, apply: (root) => chmodSync(at(root), m) };
      },
    ],
    [
      1,
      () => {
        const [atime, mtime] = [random.int(1e9, 2e9), random.int(1e9, 2e9)];
        return {
          text: `utimes(${shown}, ${atime}, ${mtime})`,
          apply: (root) => {
            utimesSync(at(root), atime, mtime);
            return statSync(at(root), { bigint: true }).mtimeNs.toString();
          },
        };
      },
    ],
    [
      1,
      () => {
        const [atime, mtime] = [random.int(1e9, 2e9), random.int(1e9, 2e9)];
        return {
          text: `lutimes(${shown}, ${atime}, ${mtime})`,
          apply: (root) => {
            lutimesSync(at(root), atime, mtime);
            return lstatSync(at(root), { bigint: true }).mtimeNs.toString();
          },
        };
      },
    ],
    [
      2,
      () => {
        const [name, value] = [random.pick(XATTR_NAMES), random.bytes(random.int(0, 200))];
        const flags = random.pick([0, 0, XATTR_CREATE, XATTR_REPLACE]);
        return {
          text: `lsetxattr(${shown}, ${name}, ${value.length} B, flags ${flags})`,
          apply: (root) => libc.setxattr(latin1(root), name, value, flags),
        };
      },
    ],
    [
      1,
      () => {
        const name = random.pick(XATTR_NAMES);
        return { text: `lremovexattr(${shown}, ${name})`, apply: (root) => libc.removexattr(latin1(root), name) };
      },
    ],
    [
      1,
      () => {
        const name = random.pick(XATTR_NAMES);
        return {
          text: `lgetxattr(${shown}, ${name})`,
          apply: (root) => {
            const size = libc.getxattr(latin1(root), name, 0) as number;
            return size === 0 ? '' : (libc.getxattr(latin1(root), name, size) as Buffer).toString('hex');
          },
        };
      },
    ],
    [
      4,
      () => {
        const [position, length] = [offset(), random.int(0, 16 * KiB)];
        return {
          text: `pread(${shown}, ${length} B at ${position})`,
          apply: (root) => {
            const fd = openSync(at(root), 'r');
            try {
              const buf = Buffer.alloc(length);
              return digest(buf.subarray(0, readSync(fd, buf, 0, length, position)));
            } finally {
              closeSync(fd);
            }
          },
        };
      },
    ],
    [
      2,
      () => ({
        text: `stat + lstat(${shown})`,
        apply: (root) => {
          const l = describeStat(lstatSync(at(root), { bigint: true }));
          let s: string;
          try {
            s = describeStat(statSync(at(root), { bigint: true }));
          } catch (err) {
            s = `error ${(err as NodeJS.ErrnoException).code}`;
          }
          return `${l} / ${s}`;
        },
      }),
    ],
    [
      1,
      () => ({
        text: `readdir(${shown})`,
        apply: (root) => readdirSync(at(root), { encoding: 'buffer' }).sort(byBytes).map(showName).join(' '),
      }),
    ],
    [
      1,
      () => ({
        text: `readlink(${shown})`,
        apply: (root) => showName(readlinkSync(at(root), { encoding: 'buffer' })),
      }),
    ],
  ];
  // Through a descriptor held open while other ops rename or remove its file.
  const slot = random.int(0, HELD_SLOTS);
  const withHeld =
    (what: (fd: number) => unknown) =>
    (_root: string, held: Held): unknown => {
      const fd = held[slot];
      return fd === undefined ? 'nothing held' : what(fd);
    };
  kinds.push(
    [
      2,
      () => {
        const flags = random.pick(['r', 'r+', 'w+', 'a+']);
        return {
          text: `hold ${slot}: open(${shown}, ${flags})`,
          apply: (root, held) => {
            const fd = openSync(at(root), flags);
            if (held[slot] !== undefined) closeSync(held[slot]);
            held[slot] = fd;
          },
        };
      },
    ],
    [
      2,
      () => {
        const [data, position] = [random.bytes(random.int(1, 3000)), offset()];
        return {
          text: `held ${slot}: pwrite(${data.length} B at ${position})`,
          apply: withHeld((fd) => writeSync(fd, data, 0, data.length, position)),
        };
      },
    ],
    [
      1,
      () => {
        const [position, length] = [offset(), random.int(0, 16 * KiB)];
        return {
          text: `held ${slot}: pread(${length} B at ${position})`,
          apply: withHeld((fd) => {
            const buf = Buffer.alloc(length);
            return digest(buf.subarray(0, readSync(fd, buf, 0, length, position)));
          }),
        };
      },
    ],
    [
      1,
      () => {
        const [mode, position, length] = [random.pick([0, 1, 3]), offset(), random.int(1, 64 * KiB)];
        const name = ['plain', 'KEEP_SIZE', 'PUNCH_HOLE|KEEP_SIZE'][mode === 3 ? 2 : mode];
        return {
          text: `held ${slot}: fallocate(${name}, ${position}, ${length})`,
          apply: withHeld((fd) => libc.fallocate(fd, mode, BigInt(position), BigInt(length))),
        };
      },
    ],
    [
      1,
      () => ({ text: `held ${slot}: fstat`, apply: withHeld((fd) => describeStat(fstatSync(fd, { bigint: true }))) }),
    ],
    [
      1,
      () => {
        const size = offset();
        return { text: `held ${slot}: ftruncate(${size})`, apply: withHeld((fd) => ftruncateSync(fd, size)) };
      },
    ],
    [
      1,
      () => {
        const m = mode();
        return { text: `held ${slot}: fchmod(${m.toString(8)})`, apply: withHeld((fd) => fchmodSync(fd, m)) };
      },
    ],
    [
      1,
      () => ({
        text: `held ${slot}: close`,
        apply: (_root, held) => {
          const fd = held[slot];
          held[slot] = undefined;
          if (fd !== undefined) closeSync(fd);
        },
      }),
    ],
  );
  let pick = random.int(
    0,
    kinds.reduce((n, [weight]) => n + weight, 0),
  );
  for (const [weight, make] of kinds) {
    if (pick < weight) return make();
    pick -= weight;
  }
  throw new Error('unreachable');
}

// ---- tests ------------------------------------------------------------------------------------

describe('Kmesh filesystem (FUSE)', () => {
  const started: KmeshFs[] = [];

  afterEach(async () => {
    const results = await Promise.allSettled(started.splice(0).map((fs) => fs.stop()));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length) throw new Error(failed.map((r) => String(r.reason)).join('\n'));
  });

  describe.each(MODES)('$mode', ({ passthrough }) => {
    const mount = (logLevel?: string): Promise<KmeshFs> => KmeshFs.start({ passthrough, logLevel }, started);

    it('passes the go-fuse POSIX tests (fuse-posixtest)', async () => {
      const fs = await mount();
      const ran = await run(
        toolPath('fuse-posixtest'),
        // FcntlFlockLocksFile is broken upstream: it takes two POSIX locks from one process, which
        // never conflict, so it fails on any filesystem (plain ext4 too); go-fuse's own TestAll
        // leaves it out.
        ['-mount', fs.mountpoint, '-test.v', '-test.skip', 'POSIX/FcntlFlockLocksFile$'],
        { timeoutMs: 150_000 },
      );
      expect(ran.code === 0 && !ran.timedOut ? 'passed' : `${JSON.stringify(ran)}\n${ran.output}`).toBe('passed');
      // It really ran the tests.
      expect(ran.output).toContain('--- PASS: TestPOSIX/SymlinkReadlink');
      expect(ran.output).toContain('--- PASS: TestPOSIX/LseekHoleSeeksToEOF');
    }, 180_000);

    describe.each(SEEDS)('seed %i', (seed) => {
      const crashing = CRASHES ? ', with the server killed at random points' : '';
      it(`${OPS_PER_SEED} random operations give the same outcome as on a plain directory, and the same tree${crashing}`, async () => {
        const fs = await mount();
        const ref = join(fs.top, 'reference');
        mkdirSync(ref, { mode: 0o755 });
        const random = new SeededRandom(seed);
        // Its own sequence, so that a seed gives the same operations with and without crashes.
        const crashRandom = new SeededRandom(-seed);
        let crashes = 0;
        const history: string[] = [];
        const heldOnMount: Held = [];
        const heldOnRef: Held = [];
        try {
          for (let i = 0; i < OPS_PER_SEED; i++) {
            if (CRASHES && crashes < MAX_CRASHES && crashRandom.int(0, 100) < 3) {
              const [server] = fs.children();
              expect(server).toBeDefined();
              process.kill(server!, 'SIGKILL');
              crashes++;
              history.push(`${i}: kill -9 of the server`);
              await fs.answers();
            }
            const op = randomOp(random, ref);
            history.push(`${i}: ${op.text}`);
            const [onMount, onRef] = [outcome(op, fs.mountpoint, heldOnMount), outcome(op, ref, heldOnRef)];
            if (onMount !== onRef) {
              throw new Error(
                `seed ${seed} (KMESH_FAULT_SEEDS=${seed} replays it), op ${i}: ${op.text}\n` +
                  `  mount:     ${onMount}\n  reference: ${onRef}\nops so far:\n${history.slice(CRASHES ? 0 : -20).join('\n')}`,
              );
            }
          }
        } finally {
          for (const fd of [...heldOnMount, ...heldOnRef]) if (fd !== undefined) closeSync(fd);
        }
        const reference = fsListing(ref);
        expect(fsListing(fs.mountpoint)).toEqual(reference);
        // Everything lives in the backing tree.
        expect(fsListing(fs.backing)).toEqual(reference);
      });
    });

    it('journals every change in order, a write before the call returns', async () => {
      const fs = await mount();
      const m = (rel: string): string => join(fs.mountpoint, rel);
      const start = readJournal(fs.journal, 0).next;
      const since = (offset: number): ChangeRecord[] => readJournal(fs.journal, offset).records;

      mkdirSync(m('j'));
      writeFileSync(m('j/é'), 'hello');
      // writeFileSync has returned: the journal has the file and that it changed.
      expect(since(start)).toContainEqual(expect.objectContaining({ op: 'create', path: 'j/é' }));
      expect(mayHaveChanged(since(start), 'j/é')).toBe(true);

      const beforeWrite = readJournal(fs.journal, 0).next;
      const fd = openSync(m('j/é'), 'r+');
      try {
        expect(writeSync(fd, 'HE', 0)).toBe(2);
        // The write has returned and the file is still open: the journal already says it changed.
        expect(mayHaveChanged(since(beforeWrite), 'j/é')).toBe(true);
      } finally {
        closeSync(fd);
      }
      renameSync(m('j/é'), m('j/日本'));
      mkdirSync(m('j/d'));
      symlinkSync('../日本', m('j/d/s'));
      truncateSync(m('j/日本'), 2);
      linkSync(m('j/日本'), m('j/d/hard'));
      unlinkSync(m('j/日本'));
      chmodSync(m('j/d/hard'), 0o600);
      mkdirSync(m('j/e'));
      rmdirSync(m('j/e'));

      const records = since(start);
      expectInOrder(records, [
        { op: 'mkdir', path: 'j' },
        { op: 'create', path: 'j/é' },
        { op: ['write', 'open'], path: 'j/é' },
        { op: ['write', 'open'], path: 'j/é' },
        { op: 'rename', path: 'j/é', to: 'j/日本' },
        { op: 'mkdir', path: 'j/d' },
        { op: 'symlink', path: 'j/d/s' },
        { op: 'truncate', path: 'j/日本', size: 2 },
        { op: 'link', path: 'j/日本', to: 'j/d/hard' },
        { op: 'unlink', path: 'j/日本' },
        { op: 'attr', path: 'j/d/hard' },
        { op: 'mkdir', path: 'j/e' },
        { op: 'rmdir', path: 'j/e' },
      ]);
      // Nothing else was changed.
      expect(records.filter((r) => r.path !== '' && r.path !== 'j' && !r.path.startsWith('j/'))).toEqual([]);
      // Every handle opened for writing is closed again (RELEASE comes after close(2) returns).
      await eventually(() => {
        const open = new Set<number>();
        for (const r of since(start)) {
          if (r.op === 'open' && r.handle !== undefined) open.add(r.handle);
          if (r.op === 'close' && r.handle !== undefined) open.delete(r.handle);
        }
        expect([...open]).toEqual([]);
      });
    });

    it('after kill -9 of the server and its supervisor: new operations fail ENOTCONN, umount -l detaches it, the journal has every acknowledged write', async () => {
      const fs = await mount();
      const m = (rel: string): string => join(fs.mountpoint, rel);
      const files = ['f0', 'f1', 'with space', '日本', '-dash'];
      for (const [i, f] of files.entries()) writeFileSync(m(f), `content ${i}`);
      const fd = openSync(m('open.bin'), 'w');
      try {
        expect(writeSync(fd, 'acknowledged')).toBe(12);
        await fs.kill();
        expect(codeOf(() => statSync(m('f0')))).toBe('ENOTCONN');
        expect(codeOf(() => readFileSync(m('f1')))).toBe('ENOTCONN');
        expect(codeOf(() => readdirSync(fs.mountpoint))).toBe('ENOTCONN');
        expect(codeOf(() => writeFileSync(m('new'), 'x'))).toBe('ENOTCONN');
        expect(codeOf(() => mkdirSync(m('dir')))).toBe('ENOTCONN');
      } finally {
        // Its flush has no one to answer it; the descriptor goes either way.
        codeOf(() => closeSync(fd));
      }
      const ran = await fs.unmount(10_000);
      expect(ran).toMatchObject({ code: 0, timedOut: false });
      expect(isMounted(fs.mountpoint)).toBe(false);

      const records = readJournal(fs.journal, 0).records;
      for (const f of [...files, 'open.bin']) {
        expect(records).toContainEqual(expect.objectContaining({ op: 'create', path: f }));
        expect(mayHaveChanged(records, f)).toBe(true);
      }
      for (const [i, f] of files.entries()) expect(readFileSync(join(fs.backing, f), 'utf8')).toBe(`content ${i}`);
      expect(readFileSync(join(fs.backing, 'open.bin'), 'utf8')).toBe('acknowledged');
    });

    it('kill -9 of the server alone: the supervisor starts another on the same connection, files and open descriptors keep working', async () => {
      const fs = await mount();
      const m = (rel: string): string => join(fs.mountpoint, rel);
      mkdirSync(m('d'));
      writeFileSync(m('d/before'), 'before');
      const [server] = fs.children();
      expect(server).toBeDefined();
      const fd = openSync(m('d/held'), 'w+');
      try {
        expect(writeSync(fd, 'one ')).toBe(4);
        process.kill(server!, 'SIGKILL');
        // A new server answers; asked from another process, as this one must not wait on a dead one.
        await fs.answers();
        expect(fs.children()).not.toContain(server);
        expect(isMounted(fs.mountpoint)).toBe(true);
        expect(writeSync(fd, 'two')).toBe(3);
        const back = Buffer.alloc(16);
        expect(back.subarray(0, readSync(fd, back, 0, 16, 0)).toString()).toBe('one two');
      } finally {
        closeSync(fd);
      }
      expect(readFileSync(m('d/before'), 'utf8')).toBe('before');
      writeFileSync(m('d/after'), 'after');
      renameSync(m('d/after'), m('d/renamed'));
      expect(readdirSync(m('d')).sort()).toEqual(['before', 'held', 'renamed']);
      expect(readFileSync(join(fs.backing, 'd/held'), 'utf8')).toBe('one two');
      expect(readFileSync(join(fs.backing, 'd/renamed'), 'utf8')).toBe('after');
    });

    it.each(['unlinked before the restart', 'unlinked after it', 'renamed over before it'])(
      'kill -9 of the server alone: an open file with no name left (%s) keeps working, and leaves nothing behind',
      async (when) => {
        const fs = await mount();
        const m = (rel: string): string => join(fs.mountpoint, rel);
        const orphans = join(fs.top, 'state', 'orphans');
        const fd = openSync(m('scratch'), 'w+');
        try {
          expect(writeSync(fd, 'abc')).toBe(3);
          writeFileSync(m('other'), 'other');
          if (when === 'unlinked before the restart') unlinkSync(m('scratch'));
          if (when === 'renamed over before it') renameSync(m('other'), m('scratch'));
          const [server] = fs.children();
          process.kill(server!, 'SIGKILL');
          await fs.answers();
          if (when === 'unlinked after it') unlinkSync(m('scratch'));
          expect(writeSync(fd, 'def')).toBe(3);
          expect(fstatSync(fd).size).toBe(6);
          fchmodSync(fd, 0o600);
          ftruncateSync(fd, 2);
          const back = Buffer.alloc(8);
          expect(back.subarray(0, readSync(fd, back, 0, 8, 0)).toString()).toBe('ab');
        } finally {
          closeSync(fd);
        }
        // The hidden link that kept it reachable goes with the last close (RELEASE is asynchronous).
        await eventually(() => expect(readdirSync(orphans)).toEqual([]));
        expect(readdirSync(fs.backing).sort()).toEqual(
          when === 'unlinked after it' || when === 'unlinked before the restart' ? ['other'] : ['scratch'],
        );
      },
    );

    it('a stopped server (SIGSTOP) cannot hang umount -l; continued, its reads fail ENODEV and it exits', async () => {
      const fs = await mount('info');
      writeFileSync(join(fs.mountpoint, 'served'), 'yes');
      fs.signal('SIGSTOP');
      try {
        // Nothing in this process may touch the mount now: the request would wait for the server.
        const ran = await fs.unmount(10_000);
        expect(ran).toMatchObject({ code: 0, timedOut: false });
        expect(isMounted(fs.mountpoint)).toBe(false);
      } finally {
        fs.signal('SIGCONT');
      }
      expect(await fs.exit()).toEqual({ code: 0, signal: null });
      expect(fs.output).toMatch(/"reason":"ENODEV"/);
      expect(readFileSync(join(fs.backing, 'served'), 'utf8')).toBe('yes');
    });

    it('on SIGTERM detaches the mount itself, serves files still open until they close, then exits', async () => {
      const fs = await mount();
      const fd = openSync(join(fs.mountpoint, 'held'), 'w');
      try {
        fs.child.kill('SIGTERM');
        await eventually(() => expect(isMounted(fs.mountpoint)).toBe(false));
        expect(writeSync(fd, 'after detach')).toBe(12);
      } finally {
        closeSync(fd);
      }
      expect(await fs.exit()).toEqual({ code: 0, signal: null });
      expect(readFileSync(join(fs.backing, 'held'), 'utf8')).toBe('after detach');
    });

    it('a byte written at 1 GiB makes a sparse file: zeros in the hole, the right size, few blocks', async () => {
      const fs = await mount();
      const path = join(fs.mountpoint, 'sparse');
      const fd = openSync(path, 'w');
      try {
        expect(writeSync(fd, Buffer.from([0x5a]), 0, 1, GiB)).toBe(1);
      } finally {
        closeSync(fd);
      }
      for (const st of [statSync(path), statSync(join(fs.backing, 'sparse'))]) {
        expect(st.size).toBe(GiB + 1);
        expect(st.blocks * 512).toBeLessThanOrEqual(64 * KiB); // a block or two, not 1 GiB
      }
      const rd = openSync(path, 'r');
      try {
        const read = (position: number, length: number): Buffer => {
          const buf = Buffer.alloc(length, 0xee);
          return buf.subarray(0, readSync(rd, buf, 0, length, position));
        };
        for (const position of [0, 512 * MiB, GiB - MiB])
          expect(read(position, MiB).equals(Buffer.alloc(MiB))).toBe(true);
        expect(read(GiB - 2, 16)).toEqual(Buffer.from([0, 0, 0x5a]));
      } finally {
        closeSync(rd);
      }
    });

    it('checks permissions for other users (default_permissions, allow_other); what they create is theirs', async () => {
      const fs = await mount();
      const m = (rel: string): string => join(fs.mountpoint, rel);
      writeFileSync(m('secret'), 'root only', { mode: 0o600 });
      writeFileSync(m('public'), 'everyone', { mode: 0o644 });
      mkdirSync(m('shared'));
      chmodSync(m('shared'), 0o777);
      const asNobody = (...args: string[]) =>
        run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...args], { timeoutMs: 20_000 });

      const secret = await asNobody('cat', m('secret'));
      expect(secret.code).not.toBe(0);
      expect(secret.output).toMatch(/Permission denied/);
      expect(await asNobody('cat', m('public'))).toMatchObject({ code: 0, output: 'everyone' });
      const append = await asNobody('sh', '-c', 'echo more >> "$1"', 'sh', m('public'));
      expect(append.code).not.toBe(0);
      expect(append.output).toMatch(/Permission denied/);
      const inRoot = await asNobody('mkdir', m('mine'));
      expect(inRoot.code).not.toBe(0);
      expect(inRoot.output).toMatch(/Permission denied/);

      const made = await asNobody(
        'sh',
        '-c',
        'echo mine > "$1/file" && mkdir "$1/dir" && ln -s file "$1/link"',
        'sh',
        m('shared'),
      );
      expect(made).toMatchObject({ code: 0, output: '' });
      for (const name of ['file', 'dir', 'link']) {
        for (const root of [fs.backing, fs.mountpoint]) {
          expect(lstatSync(join(root, 'shared', name))).toMatchObject({ uid: 65534, gid: 65534 });
        }
      }
      expect(readFileSync(join(fs.backing, 'shared/file'), 'utf8')).toBe('mine\n');
      expect(lstatSync(join(fs.backing, 'secret'))).toMatchObject({ uid: 0, gid: 0, mode: 0o100600 });
    });
  });
});
