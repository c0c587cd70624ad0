/**
 * What it takes to turn the tree at one root into the tree at another: the diff both ends agree on.
 * Only directories whose node hashes differ are descended into.
 */
import {
  sameEntry,
  type DirEntry,
  type Entry,
  type FileEntry,
  type Hash,
  type NodeSet,
  type SymlinkEntry,
} from './manifest.js';

export interface ApplyPlan {
  /** Paths (files, symlinks, directories) that go to the quarantine. */
  removes: string[];
  /** Directories to create, parents first. */
  mkdirs: string[];
  /** Files and symlinks whose content is (re)built and renamed into place. */
  writes: { path: string; entry: FileEntry | SymlinkEntry }[];
  /** Files whose content is unchanged but whose mode or mtime changed. */
  touches: { path: string; entry: FileEntry }[];
  /** Directories whose mode/mtime is set after all content, deepest first. */
  dirMeta: { path: string; entry: DirEntry }[];
}

function dirEntries(nodes: NodeSet, hash: Hash | undefined): Map<string, Entry> {
  if (hash === undefined) return new Map();
  const node = nodes.get(hash);
  if (node.type !== 'dir') throw new Error(`manifest node ${hash} is not a directory`);
  return new Map(node.entries.map((e) => [e.name, e]));
}

function sameContent(a: FileEntry, b: FileEntry): boolean {
  return a.sizeBytes === b.sizeBytes && JSON.stringify(a.chunks ?? a.blocks) === JSON.stringify(b.chunks ?? b.blocks);
}

export function planApply(nodes: NodeSet, from: Hash | undefined, to: Hash): ApplyPlan {
  const plan: ApplyPlan = { removes: [], mkdirs: [], writes: [], touches: [], dirMeta: [] };
  const visit = (oldHash: Hash | undefined, newHash: Hash, prefix: string) => {
    if (oldHash === newHash) return;
    const olds = dirEntries(nodes, oldHash);
    const news = dirEntries(nodes, newHash);
    for (const [name, entry] of news) {
      const path = prefix ? `${prefix}/${name}` : name;
      const old = olds.get(name);
      if (entry.type === 'dir') {
        if (old && old.type !== 'dir') plan.removes.push(path);
        if (!old || old.type !== 'dir') plan.mkdirs.push(path);
        visit(old?.type === 'dir' ? old.node : undefined, entry.node, path);
        if (!old || !sameEntry(old, entry)) plan.dirMeta.push({ path, entry });
        continue;
      }
      if (old && sameEntry(old, entry)) continue;
      if (old?.type === 'dir') plan.removes.push(path);
      if (entry.type === 'file' && old?.type === 'file' && sameContent(old, entry)) plan.touches.push({ path, entry });
      else plan.writes.push({ path, entry });
    }
    for (const name of olds.keys()) if (!news.has(name)) plan.removes.push(prefix ? `${prefix}/${name}` : name);
  };
  visit(from, to, '');
  plan.dirMeta.sort((a, b) => b.path.split('/').length - a.path.split('/').length);
  return plan;
}
