import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PUBLISHED_FILE_NAME } from '../../api/sync-config/gateway.js';
import { loggerFor } from '../../lib/logging.js';
import type { ChangeBatch, ChangeFeed } from '../engine/change-feed.js';
import { readPublished } from '../engine/published.js';
import { parseWorkerConfig } from '../config.js';
import { nextPassDelayMs, Worker } from './worker.js';

/** A feed the test scripts: each poll returns the next batch; commits are counted. */
class ScriptedFeed implements ChangeFeed {
  commits = 0;
  constructor(private readonly batches: Omit<ChangeBatch, 'commit'>[]) {}
  poll(): Promise<ChangeBatch> {
    const next = this.batches.shift() ?? { paths: new Set<string>() };
    return Promise.resolve({ ...next, commit: () => Promise.resolve(void this.commits++) });
  }
}

describe('sync worker with a change feed', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kmesh-worker-'));
    mkdirSync(join(dir, 'tree'));
    writeFileSync(join(dir, 'tree/a'), 'one');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const config = () =>
    parseWorkerConfig(
      `dataFlow: ns/flow\nsite: east\ntreeDir: ${join(dir, 'tree')}\nstateDir: ${join(dir, 'state')}\n`,
    );

  it('scans on the first pass and when the feed reports paths or asks for a rescan, and not otherwise', async () => {
    const feed = new ScriptedFeed([
      { rescan: 'first pass', paths: new Set() },
      { paths: new Set() },
      { paths: new Set(['b']) },
      { paths: new Set() },
    ]);
    const worker = new Worker(config(), loggerFor('test-worker'), undefined, feed);
    expect(await worker.pass()).toBe(true);
    const first = worker.status();
    expect(first.transfer.files).toBe(1);

    writeFileSync(join(dir, 'tree/b'), 'two'); // not reported by the feed yet: not seen
    await worker.pass();
    expect(worker.status().scannedAt).toBe(first.scannedAt);
    expect(worker.status().transfer.files).toBe(1);

    await worker.pass(); // the feed now names b
    expect(worker.status().transfer.files).toBe(2);
    expect(worker.status().root).not.toBe(first.root);
    expect(feed.commits).toBe(3);
  });
});

describe('the published version', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kmesh-worker-'));
    mkdirSync(join(dir, 'tree'));
    writeFileSync(join(dir, 'tree/a'), 'one');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is written after a scan that changed the root, and only then', async () => {
    const config = parseWorkerConfig(
      `dataFlow: ns/flow\nsite: east\ntreeDir: ${join(dir, 'tree')}\nstateDir: ${join(dir, 'state')}\n`,
    );
    const file = join(dir, 'state', PUBLISHED_FILE_NAME);
    const worker = new Worker(config, loggerFor('test-worker'));
    await worker.pass();
    const first = readPublished(file);
    expect(first.root).toBe(worker.status().root);
    const written = statSync(file);
    await worker.pass(); // scanned again, same root: not written again
    expect(statSync(file).ino).toBe(written.ino);
    writeFileSync(join(dir, 'tree/b'), 'two');
    await worker.pass();
    expect(readPublished(file).root).toBe(worker.status().root);
    expect(readPublished(file).root).not.toBe(first.root);
    // A restarted worker knows what it published: the same root is not written again.
    const inode = statSync(file).ino;
    await new Worker(config, loggerFor('test-worker')).pass();
    expect(statSync(file).ino).toBe(inode);
  });
});

describe('the wait between passes', () => {
  it('is the interval after a good pass, and doubles from 0.5 s up to the interval after failed ones', () => {
    expect(nextPassDelayMs(true, 3, 10_000)).toBe(10_000);
    expect([0, 1, 2, 3, 4, 5].map((failures) => nextPassDelayMs(false, failures, 10_000))).toEqual([
      500, 1000, 2000, 4000, 8000, 10_000,
    ]);
  });
});
