/**
 * The node table: which kernel node id stands for which file of the backing tree. A node is found by
 * its names (parent + name; a hard-linked file has several) and by its backing inode, so a second
 * name of the same file maps to the same node. Node ids are never reused, so the kernel's
 * (nodeid, generation) pair stays unique with generation 0. A node lives while the kernel holds
 * lookup references to it (FORGET drops them), even after its last name is gone.
 */
import { ErrnoError } from './libc.js';
import { ROOT_ID } from './abi.js';

const ENOENT = 2;

export interface Link {
  parent: FsNode;
  name: string;
}

export class FsNode {
  lookups = 0;
  /** Names of this node we know of; the first is the one its path uses. Empty once unlinked. */
  links: Link[] = [];
  /** Children by name (directories only); only names the kernel has looked up. */
  readonly children = new Map<string, FsNode>();
  /** Backing descriptors of the open file handles on this node (they outlive its names). */
  readonly openFds = new Set<number>();
  /** Its passthrough backing file while any handle is open. */
  backing: { id: number; refs: number } | undefined;

  constructor(
    readonly id: number,
    /** Backing identity: `${dev}:${ino}`. */
    public inoKey: string,
  ) {}
}

export class NodeTable {
  private nextId = ROOT_ID + 1;
  private readonly byId = new Map<number, FsNode>();
  private readonly byIno = new Map<string, FsNode>();
  readonly root: FsNode;

  constructor(
    private readonly rootPath: string,
    rootInoKey: string,
  ) {
    this.root = new FsNode(ROOT_ID, rootInoKey);
    this.root.lookups = 1; // the kernel never forgets the root
    this.byId.set(ROOT_ID, this.root);
    this.byIno.set(rootInoKey, this.root);
  }

  get size(): number {
    return this.byId.size;
  }

  get(nodeId: number): FsNode {
    const node = this.byId.get(nodeId);
    if (!node) throw new ErrnoError(ENOENT, `node ${nodeId} is not known`);
    return node;
  }

  /** The node's path relative to the root ('' for the root), as latin1; ENOENT once unlinked. */
  relative(node: FsNode): string {
    if (node === this.root) return '';
    const parts: string[] = [];
    let current: FsNode = node;
    while (current !== this.root) {
      const link = current.links[0];
      if (!link) throw new ErrnoError(ENOENT, 'the file was removed');
      parts.push(link.name);
      current = link.parent;
    }
    return parts.reverse().join('/');
  }

  /** Absolute backing path of a node (latin1). */
  path(node: FsNode): string {
    const rel = this.relative(node);
    return rel === '' ? this.rootPath : `${this.rootPath}/${rel}`;
  }

  /** Absolute backing path of `name` in directory `parent` (latin1). */
  childPath(parent: FsNode, name: string): string {
    return `${this.path(parent)}/${name}`;
  }

  /**
   * Records that the kernel now holds one more reference to `name` in `parent`, whose backing
   * identity is `inoKey`; returns its node (the existing one for a known inode).
   */
  remember(parent: FsNode, name: string, inoKey: string): FsNode {
    const named = parent.children.get(name);
    let node = this.byIno.get(inoKey);
    if (named && named !== node) this.detach(named, parent, name);
    if (!node) {
      node = new FsNode(this.nextId++, inoKey);
      this.byId.set(node.id, node);
      this.byIno.set(inoKey, node);
    }
    if (!node.links.some((l) => l.parent === parent && l.name === name)) {
      node.links.push({ parent, name });
      parent.children.set(name, node);
    }
    node.lookups++;
    return node;
  }

  /** The kernel dropped `count` references. */
  forget(nodeId: number, count: number): FsNode | undefined {
    const node = this.byId.get(nodeId);
    if (!node || node === this.root) return undefined;
    node.lookups -= count;
    if (node.lookups > 0) return undefined;
    for (const link of [...node.links]) this.detach(node, link.parent, link.name);
    this.byId.delete(nodeId);
    if (this.byIno.get(node.inoKey) === node) this.byIno.delete(node.inoKey);
    return node;
  }

  /**
   * `name` in `parent` was removed. When it was the file's last name, the inode number may be
   * reused by a new file, so it no longer identifies this node.
   */
  unlinked(parent: FsNode, name: string, lastLink: boolean): void {
    const node = parent.children.get(name);
    if (!node) return;
    this.detach(node, parent, name);
    if (lastLink && this.byIno.get(node.inoKey) === node) this.byIno.delete(node.inoKey);
  }

  /** `name` in `parent` is now `newName` in `newParent` (replacing whatever was there). */
  renamed(parent: FsNode, name: string, newParent: FsNode, newName: string, replacedLastLink: boolean): void {
    const node = parent.children.get(name);
    this.unlinked(newParent, newName, replacedLastLink);
    if (!node) return;
    const link = node.links.find((l) => l.parent === parent && l.name === name);
    parent.children.delete(name);
    if (link) {
      link.parent = newParent;
      link.name = newName;
    }
    newParent.children.set(newName, node);
  }

  /** Two names swapped (RENAME_EXCHANGE). */
  exchanged(parent: FsNode, name: string, newParent: FsNode, newName: string): void {
    const a = parent.children.get(name);
    const b = newParent.children.get(newName);
    parent.children.delete(name);
    newParent.children.delete(newName);
    const relink = (node: FsNode | undefined, from: [FsNode, string], to: [FsNode, string]): void => {
      if (!node) return;
      const link = node.links.find((l) => l.parent === from[0] && l.name === from[1]);
      if (link) [link.parent, link.name] = to;
      to[0].children.set(to[1], node);
    };
    relink(a, [parent, name], [newParent, newName]);
    relink(b, [newParent, newName], [parent, name]);
  }

  private detach(node: FsNode, parent: FsNode, name: string): void {
    node.links = node.links.filter((l) => !(l.parent === parent && l.name === name));
    if (parent.children.get(name) === node) parent.children.delete(name);
  }
}
