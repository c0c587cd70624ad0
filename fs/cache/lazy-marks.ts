/**
 * What a cached tree records on its backing files, in extended attributes (`trusted.kmesh.*`, which
 * the mount hides), so the state lives and dies with each file and survives restarts and renames:
 *
 * - a directory not yet filled from the manifest: `trusted.kmesh.dir` {n: its node, m: 0, t: mtime};
 *   once filled, m: 1 (n then says which version of it the entries came from);
 * - a file whose bytes are not all here: `trusted.kmesh.lazy` {k: its presence file, d: the node of
 *   the directory it came from, n: its name there, s: size}. The presence file
 *   (`<state>/lazy/<k>`) has one byte per chunk, 1 once the chunk is written. A file with every
 *   chunk here keeps the mark with c: 1 (it opens with passthrough, and eviction may punch its bytes
 *   out again); a file written here loses the mark: local data is never fetched into or evicted.
 */
import { ErrnoError, getxattr, removexattr, setxattr } from '../libc.js';
import type { Hash } from '../../sync/engine/manifest.js';

const DIR_MARK = 'trusted.kmesh.dir';
const LAZY_MARK = 'trusted.kmesh.lazy';
const ENODATA = 61;
const ENOENT = 2;

export interface DirMark {
  /** The manifest node of this directory. */
  n: Hash;
  /** 1 once its entries are in the backing tree. */
  m: 0 | 1;
  /** Its mtime (ms) in the manifest, set again after filling it. */
  t: number;
}

export interface LazyMark {
  k: string;
  d: Hash;
  /** The name in that directory node (UTF-8, as manifests carry names). */
  n: string;
  s: number;
  /** Its mtime (ms) at the origin, put back after each write of fetched chunks. */
  t: number;
  /** 1 once every chunk is here: it opens with passthrough, and eviction may give the bytes back. */
  c?: 1;
}

function read<T>(path: string, name: string): T | undefined {
  try {
    const value = getxattr(path, name, 4096);
    return JSON.parse((value as Buffer).toString('utf8')) as T;
  } catch (err) {
    if (err instanceof ErrnoError && (err.errno === ENODATA || err.errno === ENOENT)) return undefined;
    throw err;
  }
}

const write = (path: string, name: string, value: unknown): void =>
  setxattr(path, name, Buffer.from(JSON.stringify(value)), 0);

function remove(path: string, name: string): void {
  try {
    removexattr(path, name);
  } catch (err) {
    if (!(err instanceof ErrnoError && (err.errno === ENODATA || err.errno === ENOENT))) throw err;
  }
}

export const readDirMark = (path: string): DirMark | undefined => read<DirMark>(path, DIR_MARK);
export const writeDirMark = (path: string, mark: DirMark): void => write(path, DIR_MARK, mark);
export const readLazyMark = (path: string): LazyMark | undefined => read<LazyMark>(path, LAZY_MARK);
/** As readLazyMark, and undefined for any failure (a path that is no longer a file). */
export function readLazyMarkQuietly(path: string): LazyMark | undefined {
  try {
    return readLazyMark(path);
  } catch {
    return undefined;
  }
}
export const writeLazyMark = (path: string, mark: LazyMark): void => write(path, LAZY_MARK, mark);
export const removeLazyMark = (path: string): void => remove(path, LAZY_MARK);
