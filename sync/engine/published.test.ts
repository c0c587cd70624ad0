import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chunkHash, Chunker } from './chunker.js';
import { walk } from './manifest.js';
import { chunkLocations, publishedRootOf, reachableNodes, readPublished, writePublished } from './published.js';
import { scanTree } from './scan.js';
import { subtreeVersion } from './subtree.js';
import { TreeIndex } from './tree-index.js';

const chunker = new Chunker({ minBytes: 1024, avgBytes: 4096, maxBytes: 16 * 1024 });

describe('published versions', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kmesh-published-'));
    for (const d of ['tree/models/v1', 'tree/data/shared', 'tree/data/private'])
      mkdirSync(join(dir, d), { recursive: true });
    const big = randomBytes(600 * 1024); // past 64 chunks: its list is in chunk-list nodes
    writeFileSync(join(dir, 'tree/models/v1/weights.bin'), big);
    writeFileSync(join(dir, 'tree/models/copy.bin'), big.subarray(0, 40_000)); // shares its first chunks
    writeFileSync(join(dir, 'tree/data/shared/a.csv'), randomBytes(20_000));
    writeFileSync(join(dir, 'tree/data/private/secret.csv'), randomBytes(30_000));
    writeFileSync(join(dir, 'tree/empty'), '');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const scan = () => scanTree(join(dir, 'tree'), { index: new TreeIndex(), chunker, site: 'east' });

  it('locates every chunk where the scan found it, and each location holds that chunk', async () => {
    const version = await scan();
    const locations = chunkLocations(version.nodes, version.root);
    expect(locations).toEqual(version.locations);
    for (const [hash, at] of locations) {
      const bytes = readFileSync(join(dir, 'tree', at.path)).subarray(at.offset, at.offset + at.sizeBytes);
      expect(chunkHash(bytes)).toBe(hash);
    }
    expect([...walk(version.nodes, version.root)].some(({ entry }) => entry.type === 'file' && entry.blocks)).toBe(
      true,
    );
  });

  it("restricts a peer's view to its paths: nodes and chunks outside them are not reachable", async () => {
    const version = await scan();
    const view = subtreeVersion(version, ['/data/shared']);
    const nodes = reachableNodes(view.nodes, view.root);
    expect(nodes.has(view.root)).toBe(true);
    expect(nodes.has(version.root)).toBe(false);
    const dirNode = (path: string) =>
      [...walk(version.nodes, version.root)].find((e) => e.path === path && e.entry.type === 'dir')!.entry;
    expect(nodes.has((dirNode('data/shared') as { node: string }).node)).toBe(true);
    expect(nodes.has((dirNode('data/private') as { node: string }).node)).toBe(false);
    expect(nodes.has((dirNode('models') as { node: string }).node)).toBe(false);
    // Every node of the full version, including the chunk lists of the big file.
    expect(reachableNodes(version.nodes, version.root).size).toBe(version.nodes.bytes.size);
    expect([...chunkLocations(view.nodes, view.root).values()].map((at) => at.path)).toEqual(
      expect.arrayContaining(['data/shared/a.csv']),
    );
    expect(new Set([...chunkLocations(view.nodes, view.root).values()].map((at) => at.path))).toEqual(
      new Set(['data/shared/a.csv']),
    );
  });

  it('writes a version that reads back whole, its root readable from the head of the file', async () => {
    const version = await scan();
    const file = join(dir, 'published.json');
    expect(publishedRootOf(file)).toBeUndefined();
    writePublished(file, version);
    expect(publishedRootOf(file)).toBe(version.root);
    const back = readPublished(file);
    expect(back.root).toBe(version.root);
    expect(back.nodes.toRecord()).toEqual(version.nodes.toRecord());
    writeFileSync(file, JSON.stringify({ root: 'nope', nodes: {} }));
    expect(publishedRootOf(file)).toBeUndefined();
    expect(() => readPublished(file)).toThrow(/is not a published version/);
  });
});
