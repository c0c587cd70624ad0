import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingSystem } from '../../test/support/commands.js';
import { LustreChangelogFeed, parseChangelog } from './change-feed.js';

// Recorded from `lfs changelog` (Lustre 2.15 manual format): mkdir, create, close, rename, unlink.
const RECORDED = `1 02MKDIR 15:15:21.977666834 2026.11.21 0x0 t=[0x200000402:0x1:0x0] j=mkdir.500 ef=0xf u=500:500 nid=10.0.0.1@tcp p=[0x200000007:0x1:0x0] models
2 01CREAT 15:15:36.687592024 2026.11.21 0x0 t=[0x200000402:0x2:0x0] j=cp.500 ef=0xf u=500:500 nid=10.0.0.1@tcp p=[0x200000402:0x1:0x0] weights.bin
3 11CLOSE 15:15:36.690000000 2026.11.21 0x42 t=[0x200000402:0x2:0x0] j=cp.500 ef=0xf u=500:500 nid=10.0.0.1@tcp
4 08RENME 15:15:41.305116815 2026.11.21 0x0 t=[0:0x0:0x0] j=mv.500 ef=0xf u=500:500 nid=10.0.0.1@tcp p=[0x200000402:0x1:0x0] v2.bin s=[0x200000402:0x2:0x0] sp=[0x200000402:0x1:0x0] weights.bin
5 06UNLNK 15:15:46.468790091 2026.11.21 0x1 t=[0x200000402:0x3:0x0] j=rm.500 ef=0xf u=500:500 nid=10.0.0.1@tcp p=[0x200000403:0x1:0x0] elsewhere.txt
`;

const FID2PATH = `[0x200000007:0x1:0x0] dataflows/ml
[0x200000402:0x1:0x0] dataflows/ml/models
[0x200000402:0x2:0x0] dataflows/ml/models/v2.bin
[0x200000403:0x1:0x0] dataflows/other
`;

const ok = (stdout: string) => [{ code: 0, stdout, stderr: '', timedOut: false }];

describe('Lustre changelog change feed', () => {
  let dir: string;
  let system: RecordingSystem;
  let feed: LustreChangelogFeed;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kmesh-feed-'));
    system = new RecordingSystem();
    feed = new LustreChangelogFeed({
      runner: system.runner,
      mount: '/mnt/kmfs',
      mdts: ['kmfs-MDT0000'],
      user: 'cl1',
      treePrefix: '/dataflows/ml',
      cursorFile: join(dir, 'cursors.json'),
    });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('parses creates, closes, renames and unlinks', () => {
    const records = parseChangelog(RECORDED);
    expect(records.map((r) => [r.index, r.type])).toEqual([
      [1, 'MKDIR'],
      [2, 'CREAT'],
      [3, 'CLOSE'],
      [4, 'RENME'],
      [5, 'UNLNK'],
    ]);
    expect(records[3]).toMatchObject({
      parent: '0x200000402:0x1:0x0',
      name: 'v2.bin',
      sourceParent: '0x200000402:0x1:0x0',
      sourceName: 'weights.bin',
    });
    expect(records[2]).toEqual({ index: 3, type: 'CLOSE', target: '0x200000402:0x2:0x0' });
  });

  it('asks for a full scan on the first pass, then turns records into paths inside the DataFlow and clears them after the pass', async () => {
    system.scripted.set('lfs changelog kmfs-MDT0000 1', ok(RECORDED));
    const first = await feed.poll();
    expect(first.rescan).toMatch(/first pass on kmfs-MDT0000/);
    await first.commit();
    expect(system.calls).toContain('lfs changelog_clear kmfs-MDT0000 cl1 5');
    expect(JSON.parse(readFileSync(join(dir, 'cursors.json'), 'utf8'))).toEqual({ 'kmfs-MDT0000': 5 });

    const more = RECORDED.split('\n')
      .slice(0, 5)
      .map((l) => l.replace(/^(\d+)/, (n) => String(Number(n) + 5)))
      .join('\n');
    system.scripted.set('lfs changelog kmfs-MDT0000 6', ok(more));
    system.scripted.set('lfs fid2path', ok(FID2PATH));
    const second = await feed.poll();
    expect(second.rescan).toBeUndefined();
    expect([...second.paths].sort()).toEqual(['', 'models', 'models/v2.bin', 'models/weights.bin']);
    expect(system.calls).toContain(
      'lfs fid2path --print-fid /mnt/kmfs [0x200000402:0x1:0x0] [0x200000007:0x1:0x0] [0x200000402:0x2:0x0] [0x200000402:0x3:0x0] [0x200000403:0x1:0x0]',
    );
  });

  it('asks for a full scan when records were purged before it read them (a gap)', async () => {
    system.scripted.set('lfs changelog kmfs-MDT0000 1', ok(''));
    await (await feed.poll()).commit();
    system.scripted.set('lfs changelog kmfs-MDT0000 1', ok(RECORDED.split('\n').slice(2).join('\n')));
    expect((await feed.poll()).rescan).toMatch(/records 1–2 of kmfs-MDT0000 were purged/);
  });

  it('asks for a full scan when the changelog user is gone', async () => {
    system.scripted.set('lfs changelog kmfs-MDT0000 1', [
      { code: 22, stdout: '', stderr: 'lfs changelog: cannot access changelog: Invalid argument', timedOut: false },
    ]);
    const batch = await feed.poll();
    expect(batch.rescan).toMatch(
      /cannot read the changelog of kmfs-MDT0000 \(lfs changelog: cannot access changelog: Invalid argument\); is changelog user cl1 still registered/,
    );
  });

  it('has nothing to report when no record arrived', async () => {
    system.scripted.set('lfs changelog kmfs-MDT0000 1', ok(''));
    await (await feed.poll()).commit();
    system.scripted.set('lfs changelog kmfs-MDT0000 1', ok(''));
    const batch = await feed.poll();
    expect(batch.rescan).toBeUndefined();
    expect(batch.paths.size).toBe(0);
  });
});
