import { describe, expect, it } from '@jest/globals';
import { ErrnoError } from './libc.js';
import { NodeTable, type FsNode, type NodeRecord } from './nodes.js';

const ROOT = '/srv/backing';

const table = (): NodeTable => new NodeTable(ROOT, 'd:1');

/** The errno `fn` throws (failing the test if it returns or throws something else). */
function errnoOf(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ErrnoError);
    return (err as ErrnoError).errno;
  }
  throw new Error('expected an ErrnoError');
}

describe('NodeTable', () => {
  it('starts with the root as node 1 at the backing root', () => {
    const nodes = table();
    expect(nodes.root.id).toBe(1);
    expect(nodes.get(1)).toBe(nodes.root);
    expect(nodes.path(nodes.root)).toBe(ROOT);
    expect(nodes.relative(nodes.root)).toBe('');
    expect(nodes.childPath(nodes.root, 'a')).toBe(`${ROOT}/a`);
    expect(nodes.size).toBe(1);
    expect(errnoOf(() => nodes.get(2))).toBe(2);
  });

  it('gives remembered names new ids, paths under their parent and one lookup per remember()', () => {
    const nodes = table();
    const dir = nodes.remember(nodes.root, 'dir', 'd:2');
    const file = nodes.remember(dir, 'file', 'd:3');
    expect([dir.id, file.id]).toEqual([2, 3]);
    expect(nodes.get(3)).toBe(file);
    expect(nodes.path(file)).toBe(`${ROOT}/dir/file`);
    expect(nodes.relative(file)).toBe('dir/file');
    expect(nodes.childPath(dir, 'other')).toBe(`${ROOT}/dir/other`);
    expect(file.lookups).toBe(1);
    expect(nodes.remember(dir, 'file', 'd:3')).toBe(file);
    expect(file.lookups).toBe(2);
    expect(file.links).toHaveLength(1);
    expect(nodes.size).toBe(3);
  });

  it('maps a second name of the same inode (a hard link) to the same node, the path keeping the first', () => {
    const nodes = table();
    const dir = nodes.remember(nodes.root, 'dir', 'd:2');
    const a = nodes.remember(nodes.root, 'a', 'd:9');
    const b = nodes.remember(dir, 'b', 'd:9');
    expect(b).toBe(a);
    expect(a.lookups).toBe(2);
    expect(a.links.map((l) => l.name)).toEqual(['a', 'b']);
    expect(nodes.path(a)).toBe(`${ROOT}/a`);
    expect(dir.children.get('b')).toBe(a);
    expect(nodes.root.children.get('a')).toBe(a);
  });

  it('uses another link once the first is unlinked, and fails with ENOENT once none is left', () => {
    const nodes = table();
    const dir = nodes.remember(nodes.root, 'dir', 'd:2');
    const a = nodes.remember(nodes.root, 'a', 'd:9');
    nodes.remember(dir, 'b', 'd:9');
    nodes.unlinked(nodes.root, 'a', false);
    expect(nodes.path(a)).toBe(`${ROOT}/dir/b`);
    expect(nodes.root.children.has('a')).toBe(false);
    // the inode still has a name, so it still identifies the node
    expect(nodes.remember(nodes.root, 'c', 'd:9')).toBe(a);

    nodes.unlinked(dir, 'b', false);
    nodes.unlinked(nodes.root, 'c', true);
    expect(a.links).toEqual([]);
    expect(errnoOf(() => nodes.path(a))).toBe(2);
    expect(errnoOf(() => nodes.relative(a))).toBe(2);
    expect(errnoOf(() => nodes.childPath(a, 'x'))).toBe(2);
    // still known by id while the kernel holds references
    expect(nodes.get(a.id)).toBe(a);
  });

  it('ignores unlinked() of a name it never saw', () => {
    const nodes = table();
    const a = nodes.remember(nodes.root, 'a', 'd:9');
    nodes.unlinked(nodes.root, 'other', true);
    expect(nodes.path(a)).toBe(`${ROOT}/a`);
    expect(nodes.remember(nodes.root, 'a', 'd:9')).toBe(a);
  });

  it('gives a new file that reuses an unlinked inode number a new node id (ids are never reused)', () => {
    const nodes = table();
    const old = nodes.remember(nodes.root, 'a', 'd:9');
    nodes.unlinked(nodes.root, 'a', true);
    const fresh = nodes.remember(nodes.root, 'a', 'd:9');
    expect(fresh).not.toBe(old);
    expect(fresh.id).toBe(old.id + 1);
    expect(fresh.lookups).toBe(1);
    expect(nodes.path(fresh)).toBe(`${ROOT}/a`);
    expect(errnoOf(() => nodes.path(old))).toBe(2);
    // forgetting the old node leaves the new one reachable by inode
    expect(nodes.forget(old.id, 1)).toBe(old);
    expect(nodes.remember(nodes.root, 'b', 'd:9')).toBe(fresh);
    // ids keep counting up even after nodes are forgotten
    nodes.forget(fresh.id, 2);
    expect(nodes.remember(nodes.root, 'z', 'd:9').id).toBe(fresh.id + 1);
  });

  it('replaces a stale node when a name now belongs to another inode', () => {
    const nodes = table();
    const old = nodes.remember(nodes.root, 'a', 'd:9');
    const other = nodes.remember(nodes.root, 'a', 'd:10');
    expect(other).not.toBe(old);
    expect(nodes.root.children.get('a')).toBe(other);
    expect(old.links).toEqual([]);
    expect(errnoOf(() => nodes.path(old))).toBe(2);
  });

  describe('renamed', () => {
    it('moves a node to another directory and name, and its descendants with it', () => {
      const nodes = table();
      const src = nodes.remember(nodes.root, 'src', 'd:2');
      const dst = nodes.remember(nodes.root, 'dst', 'd:3');
      const sub = nodes.remember(src, 'sub', 'd:4');
      const file = nodes.remember(sub, 'f', 'd:5');
      nodes.renamed(src, 'sub', dst, 'moved', true);
      expect(nodes.path(sub)).toBe(`${ROOT}/dst/moved`);
      expect(nodes.path(file)).toBe(`${ROOT}/dst/moved/f`);
      expect(src.children.has('sub')).toBe(false);
      expect(dst.children.get('moved')).toBe(sub);
      expect(sub.id).toBe(4);
      expect(nodes.remember(dst, 'moved', 'd:4')).toBe(sub);
    });

    it('detaches the previous occupant of the target name; a new file with its inode gets a new id', () => {
      const nodes = table();
      const a = nodes.remember(nodes.root, 'a', 'd:9');
      const b = nodes.remember(nodes.root, 'b', 'd:10');
      nodes.renamed(nodes.root, 'a', nodes.root, 'b', true);
      expect(nodes.path(a)).toBe(`${ROOT}/b`);
      expect(nodes.root.children.get('b')).toBe(a);
      expect(nodes.root.children.has('a')).toBe(false);
      expect(b.links).toEqual([]);
      expect(errnoOf(() => nodes.path(b))).toBe(2);
      const reused = nodes.remember(nodes.root, 'c', 'd:10');
      expect(reused).not.toBe(b);
      expect(reused.id).toBeGreaterThan(b.id);
    });

    it('keeps a replaced hard-linked file reachable through its other name', () => {
      const nodes = table();
      const a = nodes.remember(nodes.root, 'a', 'd:9');
      const b = nodes.remember(nodes.root, 'b', 'd:10');
      nodes.remember(nodes.root, 'b2', 'd:10');
      nodes.renamed(nodes.root, 'a', nodes.root, 'b', false);
      expect(nodes.path(a)).toBe(`${ROOT}/b`);
      expect(nodes.path(b)).toBe(`${ROOT}/b2`);
      expect(nodes.remember(nodes.root, 'b3', 'd:10')).toBe(b);
    });

    it('moves the renamed link of a hard-linked file only', () => {
      const nodes = table();
      const dir = nodes.remember(nodes.root, 'dir', 'd:2');
      const f = nodes.remember(nodes.root, 'one', 'd:9');
      nodes.remember(nodes.root, 'two', 'd:9');
      nodes.renamed(nodes.root, 'one', dir, 'uno', true);
      expect(f.links.map((l) => [l.parent.id, l.name])).toEqual([
        [2, 'uno'],
        [1, 'two'],
      ]);
      expect(nodes.path(f)).toBe(`${ROOT}/dir/uno`);
    });

    it('detaches the target even when the source name was never looked up', () => {
      const nodes = table();
      const b = nodes.remember(nodes.root, 'b', 'd:10');
      nodes.renamed(nodes.root, 'unknown', nodes.root, 'b', true);
      expect(nodes.root.children.has('b')).toBe(false);
      expect(errnoOf(() => nodes.path(b))).toBe(2);
    });
  });

  it('exchanged() swaps two names, across directories', () => {
    const nodes = table();
    const d1 = nodes.remember(nodes.root, 'd1', 'd:2');
    const d2 = nodes.remember(nodes.root, 'd2', 'd:3');
    const x = nodes.remember(d1, 'x', 'd:4');
    const y = nodes.remember(d2, 'y', 'd:5');
    const inX = nodes.remember(x, 'inner', 'd:6');
    nodes.exchanged(d1, 'x', d2, 'y');
    expect(nodes.path(x)).toBe(`${ROOT}/d2/y`);
    expect(nodes.path(y)).toBe(`${ROOT}/d1/x`);
    expect(nodes.path(inX)).toBe(`${ROOT}/d2/y/inner`);
    expect(d1.children.get('x')).toBe(y);
    expect(d2.children.get('y')).toBe(x);
    expect([x.id, y.id]).toEqual([4, 5]);
  });

  it('exchanged() with one side never looked up moves the known one', () => {
    const nodes = table();
    const x = nodes.remember(nodes.root, 'x', 'd:4');
    nodes.exchanged(nodes.root, 'x', nodes.root, 'y');
    expect(nodes.path(x)).toBe(`${ROOT}/y`);
    expect(nodes.root.children.has('x')).toBe(false);
    expect(nodes.root.children.get('y')).toBe(x);
  });

  describe('forget', () => {
    it('removes a node only when its lookups reach 0', () => {
      const nodes = table();
      const a = nodes.remember(nodes.root, 'a', 'd:9');
      nodes.remember(nodes.root, 'a', 'd:9');
      nodes.remember(nodes.root, 'a', 'd:9');
      expect(a.lookups).toBe(3);
      expect(nodes.forget(a.id, 2)).toBeUndefined();
      expect(a.lookups).toBe(1);
      expect(nodes.get(a.id)).toBe(a);
      expect(nodes.root.children.get('a')).toBe(a);

      expect(nodes.forget(a.id, 1)).toBe(a);
      expect(errnoOf(() => nodes.get(a.id))).toBe(2);
      expect(nodes.root.children.has('a')).toBe(false);
      expect(nodes.size).toBe(1);
      // a later lookup of the same file makes a new node
      const again = nodes.remember(nodes.root, 'a', 'd:9');
      expect(again.id).toBeGreaterThan(a.id);
    });

    it('drops every name of a hard-linked node', () => {
      const nodes = table();
      const dir = nodes.remember(nodes.root, 'dir', 'd:2');
      const a = nodes.remember(nodes.root, 'a', 'd:9');
      nodes.remember(dir, 'b', 'd:9');
      expect(nodes.forget(a.id, 2)).toBe(a);
      expect(nodes.root.children.has('a')).toBe(false);
      expect(dir.children.has('b')).toBe(false);
    });

    it('keeps an unlinked node until forgotten', () => {
      const nodes = table();
      const a = nodes.remember(nodes.root, 'a', 'd:9');
      nodes.unlinked(nodes.root, 'a', true);
      expect(nodes.get(a.id)).toBe(a);
      expect(nodes.forget(a.id, 1)).toBe(a);
      expect(nodes.size).toBe(1);
    });

    it('never forgets the root and ignores unknown ids', () => {
      const nodes = table();
      expect(nodes.forget(1, 1000)).toBeUndefined();
      expect(nodes.get(1)).toBe(nodes.root);
      expect(nodes.root.lookups).toBe(1);
      expect(nodes.forget(12345, 1)).toBeUndefined();
      expect(nodes.size).toBe(1);
    });
  });

  it.each([
    ['\xff\xfe'],
    ['with space'],
    ['new\nline'],
    ['tab\tand\rcr'],
    [Buffer.from('日本語', 'utf8').toString('latin1')],
    ['\x01\x7f\x80'],
  ])('keeps the bytes of name %j in paths', (name) => {
    const nodes = table();
    const dir = nodes.remember(nodes.root, name, 'd:2');
    const file: FsNode = nodes.remember(dir, name, 'd:3');
    expect(nodes.relative(file)).toBe(`${name}/${name}`);
    const path = nodes.path(file);
    expect(path).toBe(`${ROOT}/${name}/${name}`);
    const bytes = Buffer.from(name, 'latin1');
    expect(Buffer.from(path, 'latin1')).toEqual(
      Buffer.concat([Buffer.from(`${ROOT}/`), bytes, Buffer.from('/'), bytes]),
    );
    expect(dir.children.get(name)).toBe(file);
  });
});

describe('NodeTable log and replay (a server taking over the connection)', () => {
  /** Every path the table knows, by node id. */
  const paths = (nodes: NodeTable, ids: number[]): Record<number, string> =>
    Object.fromEntries(ids.map((id) => [id, nodes.relative(nodes.get(id))]));

  function busyTable(): { nodes: NodeTable; records: NodeRecord[]; ids: number[] } {
    const nodes = table();
    const records: NodeRecord[] = [];
    nodes.log = { write: (r) => records.push(r) };
    const a = nodes.remember(nodes.root, 'a', 'd:2');
    const b = nodes.remember(a, 'b', 'd:3');
    const f = nodes.remember(b, 'f', 'd:4');
    nodes.remember(a, 'f-link', 'd:4'); // a hard link of f
    const g = nodes.remember(nodes.root, 'g', 'd:5');
    const gone = nodes.remember(nodes.root, 'gone', 'd:6');
    nodes.renamed(a, 'b', nodes.root, 'b2', true);
    nodes.unlinked(nodes.root, 'gone', true);
    nodes.forget(gone.id, 1);
    nodes.exchanged(nodes.root, 'g', nodes.root, 'a');
    nodes.backingOpened(f, 7);
    nodes.backingOpened(f, 7);
    nodes.backingReleased(f);
    return { nodes, records, ids: [a.id, b.id, f.id, g.id] };
  }

  it('rebuilds the same ids, names, hard links and passthrough references from the log', () => {
    const { nodes, records, ids } = busyTable();
    const rebuilt = table();
    rebuilt.replay(records);
    expect(paths(rebuilt, ids)).toEqual(paths(nodes, ids));
    expect(paths(rebuilt, ids)).toEqual({ [ids[0]!]: 'g', [ids[1]!]: 'b2', [ids[2]!]: 'b2/f', [ids[3]!]: 'a' });
    expect(
      rebuilt
        .get(ids[2]!)
        .links.map((l) => l.name)
        .sort(),
    ).toEqual(['f', 'f-link']);
    expect(rebuilt.get(ids[2]!).backing).toEqual({ id: 7, refs: 1 });
    expect(() => rebuilt.get(6)).toThrow(ErrnoError); // forgotten before the crash
    // Lookup counts are unknown after a crash: the kernel's FORGETs must never drop a rebuilt node.
    expect(rebuilt.forget(ids[0]!, 1000)).toBeUndefined();
    // New ids continue after the old ones.
    expect(rebuilt.remember(rebuilt.root, 'new', 'd:99').id).toBeGreaterThan(Math.max(...ids, 6));
  });

  it('compacts to a snapshot that rebuilds the same table', () => {
    const { nodes, ids } = busyTable();
    const rebuilt = table();
    rebuilt.replay(nodes.snapshot());
    expect(paths(rebuilt, ids)).toEqual(paths(nodes, ids));
    expect(rebuilt.get(ids[2]!).backing).toEqual({ id: 7, refs: 1 });
    expect(nodes.snapshot().length).toBeLessThan(busyTable().records.length + 1);
  });

  it('logs nothing while replaying, and one record per move', () => {
    const { records } = busyTable();
    const rebuilt = table();
    const again: NodeRecord[] = [];
    rebuilt.log = { write: (r) => again.push(r) };
    rebuilt.replay(records);
    expect(again).toEqual([]);
    expect(records.filter((r) => r[0] === 'm')).toHaveLength(1);
    expect(records.filter((r) => r[0] === 'u')).toHaveLength(1);
  });
});
