import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { treeListing } from '../../test/support/tree-hash.js';
import { Chunker } from './chunker.js';
import { LocalSession } from './local-session.js';
import { chunkReader, pushVersion } from './push.js';
import { Receiver } from './receiver.js';
import { scanTree } from './scan.js';
import { TreeIndex } from './tree-index.js';

const chunker = new Chunker({ minBytes: 4096, avgBytes: 16384, maxBytes: 65536 });

describe('sync engine (in-process)', () => {
  let top: string;
  let src: string;
  let dst: string;
  let state: string;
  let index: TreeIndex;
  let now: number;

  beforeEach(() => {
    top = mkdtempSync(join(tmpdir(), 'kmesh-engine-'));
    src = join(top, 'src');
    dst = join(top, 'dst');
    state = join(top, 'state');
    mkdirSync(src);
    index = new TreeIndex();
    now = 1_000_000;
  });
  afterEach(() => rmSync(top, { recursive: true, force: true }));

  const receiver = () => new Receiver({ treeDir: dst, stateDir: state, deletedRetentionMs: 60_000, now: () => now });

  async function sync(r = receiver()) {
    const version = await scanTree(src, { index, chunker, site: 'a' });
    const reader = chunkReader(src, version);
    const result = await pushVersion(version, new LocalSession(r), reader);
    await reader.close();
    r.close();
    return { version, result };
  }

  function populate() {
    mkdirSync(join(src, 'dir/sub'), { recursive: true });
    writeFileSync(join(src, 'small.txt'), 'hello');
    writeFileSync(join(src, 'empty'), '');
    writeFileSync(join(src, 'dir/big.bin'), randomBytes(3 * 1024 * 1024));
    writeFileSync(join(src, 'dir/sub/copy.bin'), readFileSync(join(src, 'dir/big.bin')));
    symlinkSync('dir/big.bin', join(src, 'link'));
    chmodSync(join(src, 'small.txt'), 0o640);
    utimesSync(join(src, 'small.txt'), 1_600_000_000, 1_600_000_000.123);
  }

  it('copies a tree byte for byte with modes, mtimes and symlinks, deduping repeated content', async () => {
    populate();
    const { result } = await sync();
    expect(treeListing(dst)).toEqual(treeListing(src));
    // copy.bin repeats big.bin: its chunks travel once.
    expect(result.bytesSent).toBeLessThan(3.2 * 1024 * 1024);
    expect(result.bytesSent).toBeGreaterThan(3 * 1024 * 1024);
  });

  it('sends small files from what the scan read, and consistent with the manifest even if a file changes before it is sent', async () => {
    writeFileSync(join(src, 'a.txt'), 'as scanned');
    writeFileSync(join(src, 'big.bin'), randomBytes(2 * 1024 * 1024)); // over one chunk: read again from the file
    const version = await scanTree(src, { index, chunker, site: 'a' });
    expect([...version.held.values()].map((b) => b.toString())).toEqual(['as scanned']);
    writeFileSync(join(src, 'a.txt'), 'changed after the scan');
    const r = receiver();
    const reader = chunkReader(src, version);
    await pushVersion(version, new LocalSession(r), reader);
    await reader.close();
    r.close();
    expect(readFileSync(join(dst, 'a.txt'), 'utf8')).toBe('as scanned'); // the version the manifest names, never a mix
    expect(readFileSync(join(dst, 'big.bin'))).toEqual(readFileSync(join(src, 'big.bin')));
    await sync();
    expect(readFileSync(join(dst, 'a.txt'), 'utf8')).toBe('changed after the scan');
  });

  it('a second pass with no change reads no file and sends nothing', async () => {
    populate();
    await sync();
    const { version, result } = await sync();
    expect(version.stats.readFiles).toBe(0);
    expect(result.unchanged).toBe(true);
  });

  it('propagates edits, renames, deletes and type changes; deletions go to the quarantine until retention ends', async () => {
    populate();
    await sync();
    const big = join(src, 'dir/big.bin');
    const data = readFileSync(big);
    data.fill(7, 1024 * 1024, 1024 * 1024 + 100); // small overwrite in the middle
    writeFileSync(big, data);
    renameSync(join(src, 'dir/sub'), join(src, 'moved'));
    rmSync(join(src, 'small.txt'));
    rmSync(join(src, 'link'));
    mkdirSync(join(src, 'link')); // a symlink becomes a directory
    writeFileSync(join(src, 'link/inner'), 'x');
    now += 1000;
    const { result } = await sync();
    expect(treeListing(dst)).toEqual(treeListing(src));
    expect(result.bytesSent).toBeLessThan(200 * 1024); // the overwrite, not the file; the rename costs nothing
    const quarantine = join(state, 'quarantine');
    expect(readdirSync(quarantine)).toHaveLength(1);
    expect(existsSync(join(quarantine, String(now), 'small.txt'))).toBe(true);
    now += 60_000;
    writeFileSync(join(src, 'new'), 'y');
    await sync();
    expect(readdirSync(quarantine)).toEqual([]); // the old one is purged, and this pass removed nothing
  });

  it('receives a tree of many small files (more than it keeps open at once)', async () => {
    for (let d = 0; d < 5; d++) {
      mkdirSync(join(src, `d${d}`));
      for (let i = 0; i < 400; i++) writeFileSync(join(src, `d${d}`, `f${i}`), `${d}/${i} `.repeat(i));
    }
    await sync();
    expect(treeListing(dst)).toEqual(treeListing(src));
  });

  it('keeps a sparse file sparse at the destination', async () => {
    const sparse = join(src, 'sparse');
    writeFileSync(sparse, 'head');
    truncateSync(sparse, 256 * 1024 * 1024);
    await sync();
    expect(treeListing(dst)).toEqual(treeListing(src));
    expect(statSync(join(dst, 'sparse')).blocks * 512).toBeLessThan(1024 * 1024);
  });

  it('finishes an interrupted commit from its journal when the receiver restarts', async () => {
    populate();
    await sync();
    writeFileSync(join(src, 'small.txt'), 'changed');
    rmSync(join(src, 'empty'));
    const version = await scanTree(src, { index, chunker, site: 'a' });
    const r = receiver();
    const session = new LocalSession(r);
    // Stage everything, then simulate a crash right after the journal was written.
    (r as unknown as { finish: () => void }).finish = () => {
      throw new Error('crash');
    };
    const reader = chunkReader(src, version);
    await expect(pushVersion(version, session, reader)).rejects.toThrow('crash');
    await reader.close();
    r.close();
    expect(existsSync(join(state, 'journal.json'))).toBe(true);
    const restarted = receiver();
    expect(restarted.root).toBe(version.root);
    expect(treeListing(dst)).toEqual(treeListing(src));
    restarted.close();
  });

  it('drops a staging of the version it already applied when it restarts (stopped just after a commit)', async () => {
    populate();
    const version = await scanTree(src, { index, chunker, site: 'a' });
    const r = receiver();
    type Inner = { stageFor: (...args: unknown[]) => { close: () => void } | undefined };
    const inner = r as unknown as Inner;
    const stageFor = inner.stageFor.bind(r);
    // Stop in the commit after current.json is written, before the staging is removed.
    inner.stageFor = (...args) => {
      const staging = stageFor(...args);
      if (staging)
        staging.close = () => {
          throw new Error('stopped');
        };
      return staging;
    };
    const reader = chunkReader(src, version);
    await expect(pushVersion(version, new LocalSession(r), reader)).rejects.toThrow('stopped');
    await reader.close();
    expect([existsSync(join(state, 'tmp')), existsSync(join(state, 'journal.json'))]).toEqual([true, false]);
    const restarted = receiver();
    expect(restarted.root).toBe(version.root);
    expect(existsSync(join(state, 'tmp'))).toBe(false);
    expect(treeListing(dst)).toEqual(treeListing(src));
    restarted.close();
  });

  /** A session that drops the link after `chunksBeforeCut` chunks have been sent. */
  function cutAfter(r: Receiver, chunksBeforeCut: number): LocalSession {
    const session = new LocalSession(r);
    let left = chunksBeforeCut;
    const send = session.sendChunks.bind(session);
    session.sendChunks = async (hashes, read) => {
      const now = hashes.slice(0, Math.max(0, left));
      left -= now.length;
      await send(now, read);
      if (now.length < hashes.length) throw new Error('link cut');
    };
    return session;
  }

  it.each([0, 1, 5, 40])(
    'after a pass cut short (%i chunks in), the next pass offers every chunk the receiver lacks and commits in one go',
    async (chunksBeforeCut) => {
      populate();
      for (let i = 0; i < 20; i++) writeFileSync(join(src, `dir/f${i}`), randomBytes(20_000 + i * 3000));
      const version = await scanTree(src, { index, chunker, site: 'a' });
      const r = receiver();
      const reader = chunkReader(src, version);
      await expect(pushVersion(version, cutAfter(r, chunksBeforeCut), reader)).rejects.toThrow('link cut');
      // Every node arrived in the cut pass, yet none counts as held: the chunks below them were not all sent.
      expect(r.missingNodes([version.root])).toEqual([version.root]);
      const planned: [number, number][] = [];
      const commits: boolean[] = [];
      const session = new LocalSession(r);
      const commit = session.commit.bind(session);
      session.commit = async (root) => {
        const result = await commit(root);
        commits.push(result.applied);
        return result;
      };
      await pushVersion(version, session, reader, {
        planned: (offered, missing) => void planned.push([offered, missing]),
      });
      await reader.close();
      r.close();
      expect(commits).toEqual([true]);
      for (const [offered, missing] of planned) expect(missing).toBeLessThanOrEqual(offered);
      expect(treeListing(dst)).toEqual(treeListing(src));
    },
  );

  it('a receiver restarted after a cut pass resumes its staging and is asked only for what it lacks', async () => {
    populate();
    const version = await scanTree(src, { index, chunker, site: 'a' });
    const first = receiver();
    const reader = chunkReader(src, version);
    await expect(pushVersion(version, cutAfter(first, 3), reader)).rejects.toThrow('link cut');
    first.close();
    const restarted = receiver();
    const sent: number[] = [];
    await pushVersion(version, new LocalSession(restarted), reader, { sent: (bytes) => void sent.push(bytes) });
    await reader.close();
    restarted.close();
    expect(treeListing(dst)).toEqual(treeListing(src));
    const total = sent.reduce((a, b) => a + b, 0);
    // 3 MiB of unique data, of which 3 chunks (at most 64 KiB each) were already there.
    expect(total).toBeLessThanOrEqual(3 * 1024 * 1024 + 5 + 3 * 65536 - 3 * 4096);
  });

  it('never salvages a zero chunk from past the end of a sparse staged file as data', async () => {
    // A file of zeros then data: the zero chunks are marked without a write, so until the data
    // arrives the temp file is shorter than their offsets.
    writeFileSync(join(src, 'holes.img'), Buffer.concat([Buffer.alloc(512 * 1024), randomBytes(200_000)]));
    const version = await scanTree(src, { index, chunker, site: 'a' });
    const r = receiver();
    const reader = chunkReader(src, version);
    await expect(pushVersion(version, cutAfter(r, 1), reader)).rejects.toThrow('link cut');
    // The sender's tree changes before the next pass: the staging is abandoned and salvaged.
    writeFileSync(join(src, 'other'), 'x');
    const next = await scanTree(src, { index, chunker, site: 'a' });
    const nextReader = chunkReader(src, next);
    await pushVersion(next, new LocalSession(r), nextReader);
    await reader.close();
    await nextReader.close();
    r.close();
    expect(treeListing(dst)).toEqual(treeListing(src));
  });

  it('syncs odd names byte for byte, and leaves out (and reports) a name that is not UTF-8 while the rest syncs', async () => {
    const odd = [
      'new\nline',
      'back\\slash',
      'star*?',
      'x'.repeat(255),
      ' leading space',
      'trailing space ',
      '-dash',
      'tab\there',
      'e\u0301',
      '\u00e9',
      '.hidden',
      '..dots',
      '数据 🚀',
    ];
    for (const name of odd) writeFileSync(join(src, name), name);
    symlinkSync('new\nline', join(src, 'link to odd'));
    const bad = Buffer.concat([Buffer.from(`${src}/latin1-`), Buffer.from([0xe9, 0xff]), Buffer.from('.txt')]);
    writeFileSync(bad, 'not UTF-8');
    const { version } = await sync();
    expect(version.stats.skippedNames).toBe(1);
    expect(version.stats.skippedExamples).toEqual(['latin1-\\xe9\\xff.txt']);
    const names = (dir: string) =>
      readdirSync(dir, { encoding: 'buffer' })
        .map((n) => n.toString('hex'))
        .sort();
    expect(names(dst)).toEqual(names(src).filter((n) => n !== bad.subarray(src.length + 1).toString('hex')));
    rmSync(bad); // the listing below reads names as text
    expect(treeListing(dst)).toEqual(treeListing(src));
  });

  it('refuses a manifest node that does not match its hash, and changes nothing', () => {
    populate();
    const r = receiver();
    expect(() => r.putNode('0'.repeat(64), Buffer.from('{"v":1,"type":"dir","entries":[]}'))).toThrow(
      /does not match its hash/,
    );
    expect(() =>
      r.putNode('0'.repeat(64), Buffer.from('{"v":1,"type":"dir","entries":[{"type":"file","name":"../x"}]}')),
    ).toThrow();
    r.close();
    expect(readdirSync(dst)).toEqual([]);
  });
});
