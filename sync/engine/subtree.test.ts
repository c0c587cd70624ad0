import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Chunker } from './chunker.js';
import { walk } from './manifest.js';
import { scanTree } from './scan.js';
import { subtreeVersion } from './subtree.js';
import { TreeIndex } from './tree-index.js';

describe('subtreeVersion (per-peer paths)', () => {
  const scan = async (dir: string) => scanTree(dir, { index: new TreeIndex(), chunker: new Chunker(), site: 'east' });
  const listing = (version: Awaited<ReturnType<typeof scan>>) =>
    [...walk(version.nodes, version.root)].map((e) => `${e.entry.type[0]} ${e.path}`);

  it('keeps only the named subtrees and the directories leading to them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kmesh-subtree-'));
    try {
      for (const d of ['models/v1', 'models/v2', 'data/shared/x', 'data/private', 'logs'])
        mkdirSync(join(dir, d), { recursive: true });
      for (const f of [
        'models/v1/w.bin',
        'models/v2/w.bin',
        'data/shared/x/a.csv',
        'data/private/secret.csv',
        'data/top.csv',
        'logs/today.log',
        'readme.md',
      ])
        writeFileSync(join(dir, f), f);
      const version = await scan(dir);
      const view = subtreeVersion(version, [
        '/models',
        '/data/shared',
        '/data/shared/x',
        '/readme.md/nothing',
        '/absent',
      ]);
      expect(listing(view)).toEqual([
        'd data',
        'd data/shared',
        'd data/shared/x',
        'f data/shared/x/a.csv',
        'd models',
        'd models/v1',
        'f models/v1/w.bin',
        'd models/v2',
        'f models/v2/w.bin',
      ]);
      expect(view.locations).toBe(version.locations); // chunks are served from the same files

      expect(subtreeVersion(version, undefined)).toBe(version);
      expect(subtreeVersion(version, ['/'])).toBe(version);

      // A change outside the paths leaves the peer's root as it was; one inside changes it.
      writeFileSync(join(dir, 'logs/today.log'), 'more');
      const outside = await scan(dir);
      expect(outside.root).not.toBe(version.root);
      expect(subtreeVersion(outside, ['/models', '/data/shared']).root).toBe(view.root);
      writeFileSync(join(dir, 'models/v1/w.bin'), 'new weights');
      expect(subtreeVersion(await scan(dir), ['/models', '/data/shared']).root).not.toBe(view.root);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
