/**
 * A digest of a directory tree that shares no code with the sync engine: every path below the root
 * with its type, mode, mtime (whole milliseconds) and content hash or symlink target. Two trees
 * are equal for a sync test when their listings are equal.
 */
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { join } from 'node:path';

export function treeListing(root: string, options: { dirMtimes?: boolean } = {}): string[] {
  const out: string[] = [];
  const visit = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, path));
      const mode = (st.mode & 0o7777).toString(8);
      const mtime = Math.trunc(st.mtimeMs);
      if (st.isDirectory()) {
        out.push(`d ${path} ${mode}${options.dirMtimes ? ` ${mtime}` : ''}`);
        visit(path);
      } else if (st.isSymbolicLink()) {
        out.push(`l ${path} -> ${readlinkSync(join(root, path))}`);
      } else if (st.isFile()) {
        const digest = fileDigest(join(root, path));
        out.push(`f ${path} ${mode} ${mtime} ${st.size} ${digest}`);
      }
    }
  };
  visit('');
  return out;
}

/** SHA-256 of a file's content (hex). */
export function fileDigest(path: string | Buffer): string {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  const fd = openSync(path, 'r');
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}
