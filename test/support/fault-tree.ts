/**
 * Trees that are hard to sync, made from a seed so a failing run can be replayed: big files built
 * from repeated 8 MiB regions (dedup within and across files), a sparse file, small files of
 * 0–300 KB in nested directories with awkward names (spaces, unicode, 200 characters), empty
 * directories and symlinks (dangling, to a directory). `mutate` then edits, renames, deletes and
 * turns files into directories and back, the second round a sync must also survive.
 */
import { createCipheriv, createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

/** A deterministic source of numbers and bytes (AES-CTR keystream keyed by the seed). */
export class SeededRandom {
  private readonly cipher;
  private pool: Buffer = Buffer.alloc(0);
  private at = 0;

  constructor(readonly seed: number) {
    const key = createHash('sha256').update(`kmesh-fault-tree-${seed}`).digest();
    this.cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  }

  bytes(n: number): Buffer {
    return this.cipher.update(Buffer.alloc(n));
  }

  /** An integer in [min, max). */
  int(min: number, max: number): number {
    if (this.at + 4 > this.pool.length) {
      this.pool = this.bytes(4096);
      this.at = 0;
    }
    const v = this.pool.readUInt32BE(this.at);
    this.at += 4;
    return min + (v % Math.max(1, max - min));
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length)]!;
  }
}

const MiB = 1024 * 1024;
const REGION_BYTES = 8 * MiB;
const NAME_PARTS = [
  'plain',
  'with space',
  'ünïcödé',
  '数据',
  'emoji-🚀',
  'dots.in.name',
  "quote'd",
  'semi;colon',
  '#hash',
  '-dash',
  'new\nline',
  'back\\slash',
  'e\u0301 (decomposed)',
  '\u00e9 (composed)',
  'tab\tand star*',
];

export interface FaultTreeOptions {
  /** Bytes of big files (made of repeated regions); the unique data is about half of it. */
  bigBytes: number;
  smallFiles: number;
  /** Apparent size of the sparse file. */
  sparseBytes: number;
}

/** Writes the tree under `dir` (created); returns the unique bytes it holds, roughly. */
export function populateFaultTree(dir: string, random: SeededRandom, options: FaultTreeOptions): number {
  mkdirSync(dir, { recursive: true });
  const regions = Array.from({ length: Math.max(2, Math.ceil(options.bigBytes / REGION_BYTES / 2)) }, () =>
    random.bytes(REGION_BYTES),
  );
  let unique = regions.length * REGION_BYTES;
  // Big files: sequences of shared regions, some cut at odd offsets so chunk boundaries differ.
  let left = options.bigBytes;
  for (let i = 0; left > 0; i++) {
    const size = Math.min(left, random.int(REGION_BYTES, 3 * REGION_BYTES));
    const fd = openSync(join(dir, `big ${i}.bin`), 'w');
    try {
      for (let done = 0; done < size;) {
        const region = random.pick(regions);
        const skew = random.int(0, 4096);
        const n = Math.min(size - done, REGION_BYTES - skew);
        writeSync(fd, region, skew, n);
        done += n;
      }
    } finally {
      closeSync(fd);
    }
    left -= size;
  }
  // A sparse file: a few islands of data in a large hole, and a hole at the end.
  const sparse = openSync(join(dir, 'sparse.img'), 'w');
  try {
    ftruncateSync(sparse, options.sparseBytes);
    for (let k = 0; k < 4; k++) {
      const island = random.bytes(random.int(1, 256 * 1024));
      writeSync(sparse, island, 0, island.length, random.int(0, options.sparseBytes - island.length - MiB));
      unique += island.length;
    }
  } finally {
    closeSync(sparse);
  }
  // Small files in nested directories with awkward names.
  const dirs = [
    '',
    'a',
    'a/b c',
    'a/b c/ünï',
    'deep/er/and/deeper/still',
    'x'.repeat(200),
    `${'y'.repeat(120)}/数据 ${'z'.repeat(60)}`,
  ];
  for (const d of dirs) mkdirSync(join(dir, d), { recursive: true });
  for (let i = 0; i < options.smallFiles; i++) {
    const size = random.int(0, 10) === 0 ? 0 : random.int(1, random.int(0, 4) === 0 ? 300 * 1024 : 4096);
    const name = `${random.pick(NAME_PARTS)} ${i}${i % 7 === 0 ? `-${'n'.repeat(180)}` : ''}.dat`;
    writeFileSync(join(dir, random.pick(dirs), name), random.bytes(size));
    unique += size;
  }
  for (const empty of ['empty', 'a/empty too', 'deep/empty/nested']) mkdirSync(join(dir, empty), { recursive: true });
  symlinkSync('does/not/exist', join(dir, 'dangling link'));
  symlinkSync('a/b c', join(dir, 'link to dir'));
  symlinkSync('../big 0.bin', join(dir, 'a', 'link to file'));
  chmodSync(join(dir, 'a'), 0o750);
  chmodSync(join(dir, 'big 0.bin'), 0o600);
  return unique;
}

/** Every regular file below `dir` (relative paths), sorted. */
function filesUnder(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(dir, path));
    if (st.isDirectory()) out.push(...filesUnder(dir, path));
    else if (st.isFile()) out.push(path);
  }
  return out;
}

/**
 * A second round of changes: edits in place (middle, append, truncate), renames across
 * directories, deletes, a file that becomes a directory, a directory that becomes a file, a
 * mode change and a symlink pointed elsewhere. Returns what it did, for a failure message.
 */
export function mutateFaultTree(dir: string, random: SeededRandom): string[] {
  const done: string[] = [];
  // The fixed changes below own these paths; the random ones take from the rest.
  const files = filesUnder(dir).filter(
    (p) => p !== 'sparse.img' && p !== 'big 0.bin' && !p.startsWith('deep/er/') && !p.startsWith('a/empty too'),
  );
  const take = () => files.splice(random.int(0, files.length), 1)[0]!;
  for (let i = 0; i < 5 && files.length > 8; i++) {
    const path = take();
    const fd = openSync(join(dir, path), 'r+');
    try {
      const patch = random.bytes(random.int(1, 64 * 1024));
      writeSync(fd, patch, 0, patch.length, random.int(0, Math.max(1, lstatSync(join(dir, path)).size)));
    } finally {
      closeSync(fd);
    }
    done.push(`edit ${path}`);
  }
  for (let i = 0; i < 5 && files.length > 8; i++) {
    const path = take();
    const to = `a/b c/renamed ${i} ${path.split('/').pop()!.slice(0, 40)}`;
    renameSync(join(dir, path), join(dir, to));
    done.push(`rename ${path} -> ${to}`);
  }
  for (let i = 0; i < 5 && files.length > 8; i++) {
    const path = take();
    rmSync(join(dir, path));
    done.push(`delete ${path}`);
  }
  const becomesDir = take();
  rmSync(join(dir, becomesDir));
  mkdirSync(join(dir, becomesDir));
  writeFileSync(join(dir, becomesDir, 'inside'), random.bytes(1000));
  done.push(`file -> dir ${becomesDir}`);
  rmSync(join(dir, 'a/empty too'), { recursive: true });
  writeFileSync(join(dir, 'a/empty too'), random.bytes(5000));
  done.push('dir -> file a/empty too');
  rmSync(join(dir, 'deep/er'), { recursive: true });
  done.push('delete deep/er');
  const big = join(dir, 'big 0.bin');
  const fd = openSync(big, 'r+');
  try {
    const tail = random.bytes(3 * MiB);
    writeSync(fd, tail, 0, tail.length, lstatSync(big).size);
  } finally {
    closeSync(fd);
  }
  done.push('append 3 MiB to big 0.bin');
  chmodSync(join(dir, 'a'), 0o700);
  rmSync(join(dir, 'link to dir'));
  symlinkSync('deep', join(dir, 'link to dir'));
  utimesSync(join(dir, 'empty'), new Date(1_600_000_000_000), new Date(1_600_000_000_000));
  done.push('chmod a, retarget link to dir, touch empty');
  return done;
}
