/**
 * Copies a tree as it is: content, modes, owners and modification times (to the millisecond, so a
 * scan of the copy gives the source's manifest). A file is cloned where the filesystem can share
 * its blocks (reflink) and copied otherwise. A read-only copy (a snapshot) may instead hard-link a
 * file of an older snapshot that still matches; a writable copy never does, since a write to it
 * would change the older snapshot too. Sockets, FIFOs and devices are not data and are left out,
 * as a scan leaves them out.
 */
import {
  chownSync,
  constants,
  copyFileSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readlinkSync,
  symlinkSync,
  utimesSync,
  chmodSync,
  type Stats,
} from 'node:fs';
import { listNames } from '../engine/names.js';
import { join } from 'node:path';
import { fsyncPath } from '../../lib/durable.js';
import { timeOf } from '../engine/staging.js';

export interface CopyStats {
  files: number;
  bytes: number;
  /** Files hard-linked from `linkFrom` instead of copied. */
  linkedFiles: number;
  linkedBytes: number;
}

export interface CopyOptions {
  /** An older read-only copy whose unchanged files are hard-linked instead of copied. */
  linkFrom?: string;
}

/** The same file as far as a quick check can tell: size, time, mode and owner (rsync's test). */
function matches(a: Stats, b: Stats): boolean {
  return (
    a.size === b.size &&
    Math.trunc(a.mtimeMs) === Math.trunc(b.mtimeMs) &&
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid
  );
}

/** Access and modification times for utimes, exact to the millisecond a manifest records. */
const timesOf = (st: Stats): [number, number] => [timeOf(Math.trunc(st.atimeMs)), timeOf(Math.trunc(st.mtimeMs))];

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** Copies the tree at `from` into `to`, which must not exist yet. Durable when it returns. */
export function copyTree(from: string, to: string, options: CopyOptions = {}): CopyStats {
  const stats: CopyStats = { files: 0, bytes: 0, linkedFiles: 0, linkedBytes: 0 };

  const copyDir = (rel: string, st: Stats): void => {
    const target = join(to, rel);
    mkdirSync(target);
    // Names that are not UTF-8 are in no manifest, so no snapshot or copy holds them (sync/engine/names.ts).
    for (const name of listNames(join(from, rel)).names.sort()) {
      const child = rel ? `${rel}/${name}` : name;
      const source = join(from, child);
      const dest = join(to, child);
      const cst = lstatSync(source);
      if (cst.isDirectory()) {
        copyDir(child, cst);
      } else if (cst.isFile()) {
        stats.files++;
        stats.bytes += cst.size;
        const older = options.linkFrom ? join(options.linkFrom, child) : undefined;
        const ost = older ? lstatOrUndefined(older) : undefined;
        if (older && ost?.isFile() && matches(cst, ost)) {
          linkSync(older, dest);
          stats.linkedFiles++;
          stats.linkedBytes += cst.size;
          continue;
        }
        copyFileSync(source, dest, constants.COPYFILE_FICLONE);
        chownSync(dest, cst.uid, cst.gid);
        chmodSync(dest, cst.mode & 0o7777); // after chown, which clears set-id bits
        utimesSync(dest, ...timesOf(cst));
        fsyncPath(dest);
      } else if (cst.isSymbolicLink()) {
        symlinkSync(readlinkSync(source), dest);
        lchownSync(dest, cst.uid, cst.gid);
        lutimesSync(dest, ...timesOf(cst));
      }
    }
    // Last, since creating the entries above changed the directory's time.
    chownSync(target, st.uid, st.gid);
    chmodSync(target, st.mode & 0o7777);
    utimesSync(target, ...timesOf(st));
    fsyncPath(target);
  };

  const root = lstatSync(from);
  if (!root.isDirectory()) throw new Error(`${from} is not a directory`);
  copyDir('', root);
  return stats;
}
