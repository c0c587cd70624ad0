/**
 * Serving a backing tree on a mount point: mount, start the session, and take it down again.
 * The process that calls this must not use the mount itself (fs/session.ts).
 */
import { FuseSession, type SessionOptions } from './session.js';
import { BackingTree } from './backing-tree.js';
import { mountFuse, unmountFuse } from './device.js';
import { ChangeJournal } from './journal.js';
import type { Logger } from '../lib/logging.js';

export interface MountOptions extends SessionOptions {
  /** Directory whose contents the mount shows. */
  root: string;
  mountpoint: string;
  /** Change journal file; no journal when unset. */
  journal?: string;
  /** First column of /proc/mounts (default `kmesh`). */
  source?: string;
  log: Logger;
}

export interface MountedTree {
  session: FuseSession;
  tree: BackingTree;
  journal: ChangeJournal | undefined;
  /** Detaches the mount and waits until the session has ended. */
  unmount(): Promise<void>;
}

export async function mountBackingTree(options: MountOptions): Promise<MountedTree> {
  // The kernel has applied the caller's umask to every mode it sends; ours must not apply twice.
  process.umask(0);
  const journal = options.journal ? new ChangeJournal(options.journal) : undefined;
  const tree = new BackingTree({ root: options.root, journal, log: options.log });
  const fd = await mountFuse(options.mountpoint, options.source ?? 'kmesh');
  const session = new FuseSession(fd, tree, options.log, options);
  session.start();
  void session.closed.then(() => journal?.close());
  return {
    session,
    tree,
    journal,
    unmount: async () => {
      await unmountFuse(options.mountpoint);
      await session.closed;
    },
  };
}
