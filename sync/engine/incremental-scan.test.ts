import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Chunker } from './chunker.js';
import { scanTree, type TreeVersion } from './scan.js';
import { TreeIndex } from './tree-index.js';

const chunker = new Chunker({ minBytes: 1024, avgBytes: 4096, maxBytes: 16384 });
const SEEDS = Number(process.env['KMESH_FAULT_RUNS'] ?? 12);

/** mulberry32: a small seeded PRNG, so a failing seed can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const cloneIndex = (index: TreeIndex): TreeIndex =>
  new TreeIndex(new Map([...index.records].map(([k, v]) => [k, { ...v }])));

function summary(v: TreeVersion) {
  return {
    root: v.root,
    files: [...v.files.keys()].sort(),
    nodes: [...v.nodes.bytes.keys()].sort(),
    stats: { files: v.stats.files, dirs: v.stats.dirs, logicalBytes: v.stats.logicalBytes },
    chunks: [...v.locations.keys()].sort(),
  };
}

describe('incremental scan (a change feed names what changed)', () => {
  let top: string;
  let tree: string;

  beforeEach(() => {
    top = mkdtempSync(join(tmpdir(), 'kmesh-incremental-'));
    tree = join(top, 'tree');
    mkdirSync(tree);
  });
  afterEach(() => rmSync(top, { recursive: true, force: true }));

  /** Every directory and file of the tree, relative. */
  function listing(): { dirs: string[]; files: string[] } {
    const dirs: string[] = [];
    const files: string[] = [];
    const walk = (rel: string) => {
      for (const d of readdirSync(join(tree, rel), { withFileTypes: true })) {
        const path = rel ? `${rel}/${d.name}` : d.name;
        if (d.isDirectory()) {
          dirs.push(path);
          walk(path);
        } else files.push(path);
      }
    };
    walk('');
    return { dirs, files };
  }

  it.each(Array.from({ length: SEEDS }, (_, i) => i + 1))(
    'seed %i: equals a full scan after random changes, and reads only what changed',
    async (seed) => {
      const random = prng(seed);
      const pick = <T>(items: T[]): T | undefined => items[Math.floor(random() * items.length)];
      const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
      for (let d = 0; d < 6; d++) {
        const dir = `d${d}/sub${d % 2}`;
        mkdirSync(join(tree, dir), { recursive: true });
        for (let f = 0; f < 5; f++) writeFileSync(join(tree, dir, `f${f}`), bytes(Math.floor(random() * 20000)));
      }
      writeFileSync(join(tree, 'top'), bytes(100));
      const index = new TreeIndex();
      const v1 = await scanTree(tree, { index, chunker, site: 'a' });

      const changed = new Set<string>();
      const touched = new Set<string>(); // files whose content changed: an incremental scan must read them
      for (let step = 0; step < 1 + Math.floor(random() * 6); step++) {
        const { dirs, files } = listing();
        const op = Math.floor(random() * 7);
        const file = pick(files);
        const dir = pick(dirs);
        if (op === 0 && file) {
          writeFileSync(join(tree, file), bytes(Math.floor(random() * 20000)));
          changed.add(file);
          touched.add(file);
        } else if (op === 1 && dir) {
          const path = `${dir}/new${step}`;
          writeFileSync(join(tree, path), bytes(3000));
          changed.add(path);
          touched.add(path);
        } else if (op === 2 && file) {
          rmSync(join(tree, file));
          changed.add(file);
        } else if (op === 3 && dir && !existsSync(join(tree, `moved${step}`))) {
          renameSync(join(tree, dir), join(tree, `moved${step}`));
          changed.add(dir).add(`moved${step}`);
        } else if (op === 4 && dir) {
          chmodSync(join(tree, dir), 0o750);
          changed.add(dir);
        } else if (op === 5 && dir) {
          symlinkSync('../top', join(tree, dir, `link${step}`));
          changed.add(`${dir}/link${step}`);
        } else if (op === 6 && dir) {
          mkdirSync(join(tree, dir, `nd${step}`));
          writeFileSync(join(tree, dir, `nd${step}`, 'x'), bytes(500));
          changed.add(`${dir}/nd${step}`);
          touched.add(`${dir}/nd${step}/x`);
        }
      }

      const fullIndex = cloneIndex(index);
      const incremental = await scanTree(tree, { index, chunker, site: 'a', since: { previous: v1, changed } });
      const full = await scanTree(tree, { index: fullIndex, chunker, site: 'a' });
      expect(summary(incremental)).toEqual(summary(full));
      expect([...index.records.keys()].sort()).toEqual([...fullIndex.records.keys()].sort());
      // The same files needed reading (written ones, and those under a new name), and every file written was read.
      expect(incremental.stats.readBytes).toBe(full.stats.readBytes);
      const writtenBytes = [...touched].reduce(
        (n, p) => n + (existsSync(join(tree, p)) ? statSync(join(tree, p)).size : 0),
        0,
      );
      expect(incremental.stats.readBytes).toBeGreaterThanOrEqual(writtenBytes);
    },
  );

  it('with nothing changed, lists only the root and takes every subtree from the previous version', async () => {
    mkdirSync(join(tree, 'a/b'), { recursive: true });
    writeFileSync(join(tree, 'a/b/f'), 'x'.repeat(5000));
    const index = new TreeIndex();
    const v1 = await scanTree(tree, { index, chunker, site: 'a' });
    // Change a file behind the feed's back: a scan that reuses a/ must not see it.
    writeFileSync(join(tree, 'a/b/f'), 'y'.repeat(5000));
    const v2 = await scanTree(tree, { index, chunker, site: 'a', since: { previous: v1, changed: new Set() } });
    expect(v2.root).toBe(v1.root);
    expect(v2.stats.readFiles).toBe(0);
    expect(v2.files.get('a/b/f')).toEqual(v1.files.get('a/b/f'));
  });
});
