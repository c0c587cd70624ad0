import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChangeJournal } from '../../fs/journal.js';
import { JournalFeed } from './journal-feed.js';

describe('change feed from the Kmesh filesystem journals', () => {
  let top: string;
  let dir: string;
  let clock: number;
  let feed: JournalFeed;

  beforeEach(() => {
    top = mkdtempSync(join(tmpdir(), 'kmesh-journal-feed-'));
    dir = join(top, 'journals');
    mkdirSync(dir);
    clock = 1_000_000;
    feed = new JournalFeed({ dir, stateFile: join(top, 'feed.json'), fullScanEveryMs: 60_000, now: () => clock });
  });
  afterEach(() => rmSync(top, { recursive: true, force: true }));

  /** Polls, commits, and returns what the batch said. */
  async function pass(): Promise<{ rescan?: string; paths: string[] }> {
    const batch = await feed.poll();
    await batch.commit();
    return { ...(batch.rescan ? { rescan: batch.rescan } : {}), paths: [...batch.paths].sort() };
  }

  it('scans in full first, then names only what the journals recorded since the last pass', async () => {
    const journal = new ChangeJournal(join(dir, 'node-a.log'));
    journal.record('mount', '');
    journal.record('create', 'a/new');
    expect((await pass()).rescan).toMatch(/first pass/);
    expect(await pass()).toEqual({ paths: [] });
    journal.record('mkdir', 'b');
    journal.record('rename', 'a/new', { to: 'b/new' });
    journal.record('unlink', 'c');
    expect(await pass()).toEqual({ paths: ['a/new', 'b', 'b/new', 'c'] });
    expect(await pass()).toEqual({ paths: [] });
    journal.close();
  });

  it('keeps a file open for writing in every batch until it is closed, following renames', async () => {
    const journal = new ChangeJournal(join(dir, 'node-a.log'));
    await pass();
    journal.record('open', 'logs/app.log', { handle: 7 });
    expect((await pass()).paths).toEqual(['logs/app.log']);
    // Written through passthrough: nothing is recorded, but it may still be changing.
    expect((await pass()).paths).toEqual(['logs/app.log']);
    journal.record('rename', 'logs', { to: 'old-logs' });
    expect((await pass()).paths).toEqual(['logs', 'old-logs', 'old-logs/app.log']);
    journal.record('close', 'old-logs/app.log', { handle: 7, ranges: [[0, 10]] });
    expect((await pass()).paths).toEqual(['old-logs/app.log']);
    expect((await pass()).paths).toEqual([]);
    journal.close();
  });

  it('does not lose records when a pass fails (nothing committed)', async () => {
    const journal = new ChangeJournal(join(dir, 'node-a.log'));
    await pass();
    journal.record('create', 'x');
    const failed = await feed.poll(); // the pass using it fails: no commit
    expect([...failed.paths]).toEqual(['x']);
    journal.record('create', 'y');
    expect((await pass()).paths).toEqual(['x', 'y']);
    journal.close();
  });

  it('asks for a full scan when a tree is mounted again, a journal is new or rotated, and periodically', async () => {
    const a = new ChangeJournal(join(dir, 'node-a.log'));
    await pass();
    a.record('open', 'f', { handle: 1 });
    await pass();
    a.record('mount', '');
    const remount = await pass();
    expect(remount.rescan).toMatch(/mounted again/);
    expect(remount.paths).toEqual([]); // handles of the old mount are gone
    const b = new ChangeJournal(join(dir, 'node-b.log'));
    b.record('create', 'g');
    expect((await pass()).rescan).toMatch(/new journal node-b\.log/);
    // Rotation: the file is replaced by a new one (another inode).
    const rotated = new ChangeJournal(join(dir, 'node-b.log'), 1);
    rotated.record('create', 'h');
    rotated.record('create', 'i');
    expect((await pass()).rescan).toMatch(/rotated/);
    expect(await pass()).toEqual({ paths: [] });
    clock += 60_000;
    expect((await pass()).rescan).toMatch(/periodic/);
    for (const j of [a, b, rotated]) j.close();
  });

  it('leaves a record being written for the next pass, and ignores other files', async () => {
    const file = join(dir, 'node-a.log');
    writeFileSync(join(dir, 'notes.txt'), 'not a journal');
    await pass();
    appendFileSync(file, '{"t":1,"op":"create","path":"done"}\n{"t":2,"op":"create","pa');
    // The file is new to the feed: a full scan, and the complete record is a hint too.
    const first = await pass();
    expect(first.paths).toEqual(['done']);
    appendFileSync(file, 'th":"later"}\n');
    expect((await pass()).paths).toEqual(['later']);
  });

  it('has nothing to say when no tree is mounted yet (no journal directory)', async () => {
    rmSync(dir, { recursive: true });
    await pass();
    expect(await pass()).toEqual({ paths: [] });
  });
});
