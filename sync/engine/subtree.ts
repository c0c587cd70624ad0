/**
 * What a peer with `paths` sees of a version: only those subtrees, and the directories that lead
 * to them (with their own metadata, but no other entries). The result is an ordinary version with
 * its own root, so the peer applies it like any other: what lies outside the paths is not sent,
 * and is removed at the peer if it was there. Unchanged subtrees keep their node hashes, so a
 * change outside the paths gives the same root and the peer is not contacted for it.
 */
import { NodeSet, type Entry, type Hash } from './manifest.js';
import type { TreeVersion } from './scan.js';

/** name → the rest of the paths below it, or WHOLE when everything below is visible. */
type PathTrie = Map<string, PathTrie | typeof WHOLE>;
const WHOLE = Symbol('whole subtree');

/** Builds the trie of `paths` (absolute, '/'-separated); undefined when one of them is the root. */
function trieOf(paths: string[]): PathTrie | undefined {
  const trie: PathTrie = new Map();
  for (const path of paths) {
    const parts = path.split('/').filter((p) => p !== '');
    if (!parts.length) return undefined;
    let level = trie;
    for (const [i, part] of parts.entries()) {
      const below = level.get(part);
      if (below === WHOLE) break; // a shorter path already covers it
      if (i === parts.length - 1) {
        level.set(part, WHOLE);
        break;
      }
      const next: PathTrie = below ?? (new Map() as PathTrie);
      level.set(part, next);
      level = next;
    }
  }
  return trie;
}

/**
 * The view of `version` holding only `paths` (unset or empty, or one of them the root: the version
 * itself). Works on a scanned version (TreeVersion) as on a published one (root and nodes).
 */
export function subtreeVersion<V extends Pick<TreeVersion, 'root' | 'nodes'>>(
  version: V,
  paths: string[] | undefined,
): V {
  const trie = paths?.length ? trieOf(paths) : undefined;
  if (!trie) return version;
  const nodes = new NodeSet();
  for (const [hash, bytes] of version.nodes.bytes) nodes.addEncoded(bytes, hash);
  const filter = (dir: Hash, visible: PathTrie): Hash => {
    const node = nodes.get(dir);
    if (node.type !== 'dir') throw new Error(`manifest node ${dir} is not a directory`);
    const entries: Entry[] = [];
    for (const entry of node.entries) {
      const below = visible.get(entry.name);
      if (below === undefined) continue;
      if (below === WHOLE) entries.push(entry);
      else if (entry.type === 'dir') entries.push({ ...entry, node: filter(entry.node, below) });
      // a file or symlink where a path goes on below it: not visible
    }
    return nodes.add({ v: 1, type: 'dir', entries });
  };
  return { ...version, root: filter(version.root, trie), nodes };
}
