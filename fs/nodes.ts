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

/**
 * A change to the table's structure, as the node log keeps it (lookup counts are not logged):
 * r: name `name` in `parent` is node `id` (new node or new link); o: node `id` exists with no name;
 * f: node dropped; u: name removed; m: name moved; x: names swapped; b/c: a passthrough open of
 * node `id` with backing file `backingId` began / ended; d/e: an open served without passthrough
 * began / ended.
 */
export type NodeRecord =
  | ['r', parent: number, name: string, inoKey: string, id: number]
  | ['o', id: number, inoKey: string]
  | ['f', id: number]
  | ['u', parent: number, name: string, lastLink: boolean]
  | ['m', parent: number, name: string, newParent: number, newName: string, replacedLastLink: boolean]
  | ['x', parent: number, name: string, newParent: number, newName: string]
  | ['b', id: number, backingId: number]
  | ['c', id: number]
  | ['d', id: number]
  | ['e', id: number];

/** Where the table's changes go, so a server started again on the same connection can rebuild it. */
export interface NodeLog {
  write(record: NodeRecord): void;
}

/** Lookup count given to nodes rebuilt from a log: the real counts are unknown, so they are never dropped. */
const REBUILT_LOOKUPS = 2 ** 30;

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
  /** Open handles served without passthrough: while any is open, no open may use passthrough (the kernel refuses to mix). */
  directOpens = 0;
  /** It lost its last name while open and has a hidden link instead (not counted in its nlink). */
  hidden = false;
  /** Opens without passthrough made by servers before this one and not yet released (from the log). */
  earlierDirectOpens = 0;
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
  /** Receives every structural change (fs/node-log.ts); none while replaying. */
  log: NodeLog | undefined;

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
  remember(parent: FsNode, name: string, inoKey: string, id?: number): FsNode {
    const named = parent.children.get(name);
    let node = this.byIno.get(inoKey);
    if (named && named !== node) this.detach(named, parent, name);
    if (!node) {
      node = this.create(inoKey, id);
    }
    if (!node.links.some((l) => l.parent === parent && l.name === name)) {
      node.links.push({ parent, name });
      parent.children.set(name, node);
      this.log?.write(['r', parent.id, name, inoKey, node.id]);
    }
    node.lookups++;
    return node;
  }

  private create(inoKey: string, id?: number): FsNode {
    const node = new FsNode(id ?? this.nextId++, inoKey);
    this.nextId = Math.max(this.nextId, node.id + 1);
    this.byId.set(node.id, node);
    this.byIno.set(inoKey, node);
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
    this.log?.write(['f', nodeId]);
    return node;
  }

  /**
   * `name` in `parent` was removed. When it was the file's last name, the inode number may be
   * reused by a new file, so it no longer identifies this node.
   */
  unlinked(parent: FsNode, name: string, lastLink: boolean): void {
    const node = parent.children.get(name);
    if (!node) return;
    this.log?.write(['u', parent.id, name, lastLink]);
    this.detach(node, parent, name);
    if (lastLink && this.byIno.get(node.inoKey) === node) this.byIno.delete(node.inoKey);
  }

  /** `name` in `parent` is now `newName` in `newParent` (replacing whatever was there). */
  renamed(parent: FsNode, name: string, newParent: FsNode, newName: string, replacedLastLink: boolean): void {
    const node = parent.children.get(name);
    const log = this.log;
    this.log = undefined; // one record for the whole move
    try {
      this.unlinked(newParent, newName, replacedLastLink);
    } finally {
      this.log = log;
    }
    log?.write(['m', parent.id, name, newParent.id, newName, replacedLastLink]);
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
    this.log?.write(['x', parent.id, name, newParent.id, newName]);
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

  /** An open served without passthrough began / ended (logged so a server taking over knows it). */
  directOpened(node: FsNode): void {
    this.log?.write(['d', node.id]);
  }

  directReleased(node: FsNode): void {
    this.log?.write(['e', node.id]);
  }

  /** Nodes with a passthrough backing file open. */
  *withBacking(): Generator<FsNode> {
    for (const node of this.byId.values()) if (node.backing) yield node;
  }

  /** A passthrough open of `node` with backing file `id` began. */
  backingOpened(node: FsNode, id: number): void {
    if (node.backing) node.backing.refs++;
    else node.backing = { id, refs: 1 };
    this.log?.write(['b', node.id, id]);
  }

  /** A passthrough open ended; returns the backing id to close when it was the last. */
  backingReleased(node: FsNode): number | undefined {
    if (!node.backing) return undefined;
    this.log?.write(['c', node.id]);
    if (--node.backing.refs > 0) return undefined;
    const id = node.backing.id;
    node.backing = undefined;
    return id;
  }

  /**
   * Rebuilds the table from a log written by an earlier server on the same connection. Nodes
   * keep their ids; since their lookup counts are unknown they are kept for good.
   */
  replay(records: Iterable<NodeRecord>): void {
    const log = this.log;
    this.log = undefined;
    try {
      for (const r of records) this.apply(r);
    } finally {
      this.log = log;
    }
    for (const node of this.byId.values()) node.lookups = REBUILT_LOOKUPS;
  }

  private apply(r: NodeRecord): void {
    const node = (id: number): FsNode | undefined => this.byId.get(id);
    switch (r[0]) {
      case 'r': {
        const parent = node(r[1]);
        if (parent) this.remember(parent, r[2], r[3], this.byId.has(r[4]) ? undefined : r[4]);
        return;
      }
      case 'o':
        if (!this.byId.has(r[1])) this.create(r[2], r[1]);
        return;
      case 'f':
        this.forget(r[1], Infinity);
        return;
      case 'u': {
        const parent = node(r[1]);
        if (parent) this.unlinked(parent, r[2], r[3]);
        return;
      }
      case 'm': {
        const [from, to] = [node(r[1]), node(r[3])];
        if (from && to) this.renamed(from, r[2], to, r[4], r[5]);
        return;
      }
      case 'x': {
        const [from, to] = [node(r[1]), node(r[3])];
        if (from && to) this.exchanged(from, r[2], to, r[4]);
        return;
      }
      case 'b': {
        const n = node(r[1]);
        if (n) this.backingOpened(n, r[2]);
        return;
      }
      case 'c': {
        const n = node(r[1]);
        if (n) this.backingReleased(n);
        return;
      }
      case 'd': {
        const n = node(r[1]);
        if (n) n.earlierDirectOpens++;
        return;
      }
      case 'e': {
        const n = node(r[1]);
        if (n && n.earlierDirectOpens > 0) n.earlierDirectOpens--;
        return;
      }
    }
  }

  /** The records that rebuild the table as it is now (to compact a log). */
  snapshot(): NodeRecord[] {
    const out: NodeRecord[] = [];
    const written = new Set<FsNode>([this.root]);
    const queue: FsNode[] = [this.root];
    for (let dir = queue.shift(); dir; dir = queue.shift()) {
      for (const [name, child] of dir.children) {
        out.push(['r', dir.id, name, child.inoKey, child.id]);
        if (!written.has(child)) {
          written.add(child);
          queue.push(child);
        }
      }
    }
    for (const node of this.byId.values()) {
      if (!written.has(node)) out.push(['o', node.id, node.inoKey]);
      for (let i = 0; i < (node.backing?.refs ?? 0); i++) out.push(['b', node.id, node.backing!.id]);
      for (let i = 0; i < node.earlierDirectOpens + node.directOpens; i++) out.push(['d', node.id]);
    }
    return out;
  }

  private detach(node: FsNode, parent: FsNode, name: string): void {
    node.links = node.links.filter((l) => !(l.parent === parent && l.name === name));
    if (parent.children.get(name) === node) parent.children.delete(name);
  }
}
