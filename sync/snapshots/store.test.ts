import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { snapshotMain } from './main.js';
import {
  contentManifest,
  materializeCopy,
  readSnapshotRecord,
  removeTree,
  snapshotTree,
  takeSnapshot,
} from './store.js';

describe('snapshots and virtual copies on a filesystem', () => {
  let top: string;
  let tree: string;
  let snapshots: string;
  const big = randomBytes(600 * 1024);

  beforeEach(() => {
    top = mkdtempSync(join(tmpdir(), 'kmesh-snapshots-'));
    tree = join(top, 'dataflows', 'shared');
    snapshots = join(top, '.kmesh', 'snapshots', 'ns', 'shared');
    mkdirSync(join(tree, 'volumes', 'pv-1'), { recursive: true });
    writeFileSync(join(tree, 'volumes', 'pv-1', 'hello.txt'), 'hello from the writer\n');
    writeFileSync(join(tree, 'big.bin'), big);
    writeFileSync(join(tree, 'big-again.bin'), big); // the same chunks: counted once
    writeFileSync(join(tree, 'script.sh'), '#!/bin/sh\n');
    chmodSync(join(tree, 'script.sh'), 0o750);
    symlinkSync('volumes/pv-1/hello.txt', join(tree, 'latest'));
    utimesSync(join(tree, 'volumes'), new Date('2026-01-02T03:04:05.678Z'), new Date('2026-01-02T03:04:05.678Z'));
  });
  afterEach(() => rmSync(top, { recursive: true, force: true }));

  it('takes a snapshot whose root is the tree’s, and counts shared chunks once', async () => {
    const live = await contentManifest(tree);
    const record = await takeSnapshot({ tree, into: join(snapshots, 'first'), snapshot: 'ns/first' });
    expect(record).toMatchObject({ snapshot: 'ns/first', rootHash: live.root, fileCount: 4, linkedFiles: 0 });
    expect(record.previous).toBeUndefined();
    expect(record.logicalBytes).toBe(2 * big.length + 22 + 10);
    expect(record.uniqueBytes).toBe(big.length + 22 + 10);
    const kept = snapshotTree(join(snapshots, 'first'));
    expect(readFileSync(join(kept, 'volumes', 'pv-1', 'hello.txt'), 'utf8')).toBe('hello from the writer\n');
    expect(statSync(join(kept, 'script.sh')).mode & 0o7777).toBe(0o750);
    expect(readlinkSync(join(kept, 'latest'))).toBe('volumes/pv-1/hello.txt');
    expect(Math.trunc(statSync(join(kept, 'volumes')).mtimeMs)).toBe(
      Math.trunc(statSync(join(tree, 'volumes')).mtimeMs),
    );
    expect(readSnapshotRecord(join(snapshots, 'first'))).toEqual(record);
  });

  it('shares unchanged files with the previous snapshot and counts only new chunks as unique', async () => {
    const first = await takeSnapshot({
      tree,
      into: join(snapshots, 'first'),
      snapshot: 'ns/first',
      now: () => new Date('2026-11-01T00:00:00Z'),
    });
    writeFileSync(join(tree, 'volumes', 'pv-1', 'hello.txt'), 'changed after the first snapshot\n');
    writeFileSync(join(tree, 'new.txt'), 'new\n');
    const second = await takeSnapshot({
      tree,
      into: join(snapshots, 'second'),
      snapshot: 'ns/second',
      now: () => new Date('2026-11-02T00:00:00Z'),
    });
    expect(second.previous).toBe('ns/first');
    expect(second.rootHash).not.toBe(first.rootHash);
    expect(second.rootHash).toBe((await contentManifest(tree)).root);
    expect(second.linkedFiles).toBe(3); // big.bin, big-again.bin, script.sh
    expect(second.uniqueBytes).toBe('changed after the first snapshot\n'.length + 'new\n'.length);
    const inode = (snapshot: string, path: string) =>
      lstatSync(join(snapshotTree(join(snapshots, snapshot)), path)).ino;
    expect(inode('second', 'big.bin')).toBe(inode('first', 'big.bin'));
    expect(inode('second', 'volumes/pv-1/hello.txt')).not.toBe(inode('first', 'volumes/pv-1/hello.txt'));
    expect(readFileSync(join(snapshotTree(join(snapshots, 'first')), 'volumes', 'pv-1', 'hello.txt'), 'utf8')).toBe(
      'hello from the writer\n',
    );
  });

  it('is idempotent, and finishes over what an interrupted run left', async () => {
    mkdirSync(join(snapshots, '.first.partial', 'tree'), { recursive: true });
    writeFileSync(join(snapshots, '.first.partial', 'tree', 'half-written'), 'x');
    const record = await takeSnapshot({ tree, into: join(snapshots, 'first'), snapshot: 'ns/first' });
    expect(existsSync(join(snapshots, '.first.partial'))).toBe(false);
    expect(existsSync(join(snapshotTree(join(snapshots, 'first')), 'half-written'))).toBe(false);
    writeFileSync(join(tree, 'later.txt'), 'after the snapshot\n');
    expect(await takeSnapshot({ tree, into: join(snapshots, 'first'), snapshot: 'ns/first' })).toEqual(record);
  });

  it('materializes a writable copy with the snapshot’s root that shares no file with it', async () => {
    const record = await takeSnapshot({ tree, into: join(snapshots, 'first'), snapshot: 'ns/first' });
    const copy = join(top, 'virtualcopies', 'restored');
    const made = await materializeCopy({
      from: snapshotTree(join(snapshots, 'first')),
      into: copy,
      expectRoot: record.rootHash,
    });
    expect(made).toEqual({ rootHash: record.rootHash, fileCount: 4, logicalBytes: record.logicalBytes });
    writeFileSync(join(copy, 'big.bin'), 'overwritten in the copy');
    expect(readFileSync(join(snapshotTree(join(snapshots, 'first')), 'big.bin'))).toEqual(big);
    expect((await materializeCopy({ from: snapshotTree(join(snapshots, 'first')), into: copy })).rootHash).not.toBe(
      record.rootHash,
    );
  });

  it('refuses a copy whose content is not the expected root', async () => {
    await expect(
      materializeCopy({ from: tree, into: join(top, 'virtualcopies', 'c'), expectRoot: 'f'.repeat(64) }),
    ).rejects.toThrow(/not its source's f{64}/);
  });

  it('removes a snapshot and a partial one, and removing again is fine', async () => {
    await takeSnapshot({ tree, into: join(snapshots, 'first'), snapshot: 'ns/first' });
    mkdirSync(join(snapshots, '.first.partial'));
    removeTree(join(snapshots, 'first'));
    expect(existsSync(join(snapshots, 'first'))).toBe(false);
    expect(existsSync(join(snapshots, '.first.partial'))).toBe(false);
    expect(() => removeTree(join(snapshots, 'first'))).not.toThrow();
  });

  it('kmesh snapshot reports its outcome in the result file, and names a bad argument', async () => {
    const result = join(top, 'termination-log');
    const reported = () => JSON.parse(readFileSync(result, 'utf8')) as { error?: string };
    expect(
      await snapshotMain([
        'take',
        '--tree',
        tree,
        '--into',
        join(snapshots, 'cli'),
        '--name',
        'ns/cli',
        '--result',
        result,
      ]),
    ).toBe(0);
    expect(JSON.parse(readFileSync(result, 'utf8'))).toMatchObject({ snapshot: 'ns/cli', fileCount: 4 });
    expect(await snapshotMain(['take', '--into', join(snapshots, 'x'), '--name', 'ns/x', '--result', result])).toBe(2);
    expect(JSON.parse(readFileSync(result, 'utf8'))).toEqual({ error: '--tree is required' });
    expect(await snapshotMain(['copy', '--from', 'relative', '--into', join(top, 'c'), '--result', result])).toBe(2);
    expect(reported().error).toMatch(/--from must be an absolute path/);
    expect(
      await snapshotMain([
        'take',
        '--tree',
        join(top, 'missing'),
        '--into',
        join(snapshots, 'y'),
        '--name',
        'ns/y',
        '--result',
        result,
      ]),
    ).toBe(1);
    expect(reported().error).toMatch(/missing/);
    expect(existsSync(join(snapshots, 'y'))).toBe(false);
  });
});
