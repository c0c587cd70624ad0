import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { StatusError } from '../../lib/errors.js';
import { Chunker } from '../engine/chunker.js';
import { entryChunks, walk, type FileEntry } from '../engine/manifest.js';
import { writePublished } from '../engine/published.js';
import { scanTree } from '../engine/scan.js';
import { TreeIndex } from '../engine/tree-index.js';
import { Published } from './published.js';
import type { ServedDataFlow } from './sites.js';

const chunker = new Chunker({ minBytes: 1024, avgBytes: 4096, maxBytes: 16 * 1024 });

/** The StatusError `fn` throws (or rejects with), as code and details. */
async function failure(fn: () => unknown): Promise<{ code: number; details: string }> {
  try {
    await fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StatusError);
    return { code: (error as StatusError).code, details: (error as StatusError).details };
  }
  throw new Error('did not fail');
}

describe('the published versions a gateway serves', () => {
  let dir: string;
  let tree: string;
  let served: ServedDataFlow;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kmesh-gw-published-'));
    tree = join(dir, 'tree');
    for (const d of ['models', 'data']) mkdirSync(join(tree, d), { recursive: true });
    writeFileSync(join(tree, 'models/w.bin'), randomBytes(50_000));
    writeFileSync(join(tree, 'data/a.csv'), randomBytes(10_000));
    served = {
      name: 'ns/flow',
      treeDir: tree,
      stateDir: join(dir, 'gw'),
      deletedRetentionMs: 0,
      peers: [{ name: 'west', direction: 'push' }],
      encryption: 'none',
      publishedFile: join(dir, 'published.json'),
    };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const index = new TreeIndex();
  const publish = async () => {
    const version = await scanTree(tree, { index, chunker, site: 'east' });
    writePublished(served.publishedFile!, version);
    return version;
  };
  const chunksOf = (version: Awaited<ReturnType<typeof publish>>, path: string) =>
    entryChunks(
      [...walk(version.nodes, version.root)].find((e) => e.path === path)!.entry as FileEntry,
      version.nodes,
    ).map(([hash]) => hash);

  it('says why there is nothing to read: no publishedFile, or nothing published yet', async () => {
    const published = new Published();
    expect(await failure(() => published.view({ ...served, publishedFile: undefined }, undefined))).toMatchObject({
      code: status.FAILED_PRECONDITION,
      details: expect.stringContaining('publishes no version for reads'),
    });
    expect(await failure(() => published.view(served, undefined))).toMatchObject({
      code: status.FAILED_PRECONDITION,
      details: expect.stringContaining('nothing published yet'),
    });
  });

  it('serves checked chunks of the version, refuses a changed one, and loads a new version when the file changes', async () => {
    const published = new Published();
    const first = await publish();
    const view = published.view(served, undefined);
    expect(view.root).toBe(first.root);
    expect(published.view(served, undefined)).toBe(view); // built once per version
    const reader = view.reader();
    try {
      const [hash] = chunksOf(first, 'data/a.csv');
      expect((await reader.read(hash!)).length).toBeGreaterThan(0);
      writeFileSync(join(tree, 'data/a.csv'), randomBytes(10_000));
      expect(await failure(() => reader.read(hash!))).toMatchObject({
        code: status.NOT_FOUND,
        details: expect.stringContaining(`chunk ${hash} changed since version ${first.root}; read the new version`),
      });
      rmSync(join(tree, 'models/w.bin'));
      expect((await failure(() => reader.read(chunksOf(first, 'models/w.bin')[0]!))).details).toMatch(
        /changed since version/,
      );
    } finally {
      await reader.close();
    }
    const second = await publish();
    utimesSync(served.publishedFile!, new Date(), new Date(Date.now() + 5000)); // a new mtime even on a coarse clock
    const next = published.view(served, undefined);
    expect(next.root).toBe(second.root);
    expect(next.root).not.toBe(first.root);
    // The old view (an open session's) keeps its version.
    expect(view.node(first.root)).toBeDefined();
  });

  it('gives a peer with paths its own root, and nothing outside them', async () => {
    const version = await publish();
    const published = new Published();
    const view = published.view(served, ['/models']);
    expect(view.root).not.toBe(version.root);
    expect(await failure(() => view.node(version.root))).toMatchObject({
      code: status.NOT_FOUND,
      details: expect.stringContaining(`manifest node ${version.root} is not in version ${view.root}`),
    });
    const [outside] = chunksOf(version, 'data/a.csv');
    expect((await failure(() => view.location(outside!))).details).toContain(`chunk ${outside} is not in version`);
    const reader = view.reader();
    try {
      await expect(reader.read(chunksOf(version, 'models/w.bin')[0]!)).resolves.toBeInstanceOf(Buffer);
    } finally {
      await reader.close();
    }
  });
});
