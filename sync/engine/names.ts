/**
 * Directory listings as the sync engine can use them. Manifests, stores and snapshots name
 * entries as UTF-8 text; a name whose bytes are not UTF-8 cannot be named that way (Node would
 * turn it into U+FFFD, which names no file), so every listing separates those out: the caller
 * leaves them alone and can report them. See sync/README.md#faults.
 */
import { isUtf8 } from 'node:buffer';
import { readdirSync } from 'node:fs';

export interface Listing {
  /** The names that are text, in no particular order. */
  names: string[];
  /** The names that are not UTF-8, as their bytes. */
  skipped: Buffer[];
}

/** Lists `dir`; a directory that is gone (deleted meanwhile) lists as empty. */
export function listNames(dir: string): Listing {
  let raw: Buffer[];
  try {
    raw = readdirSync(dir, { encoding: 'buffer' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { names: [], skipped: [] };
    throw error;
  }
  const listing: Listing = { names: [], skipped: [] };
  for (const name of raw) {
    if (isUtf8(name)) listing.names.push(name.toString('utf8'));
    else listing.skipped.push(name);
  }
  return listing;
}

/** `bytes` as text, or undefined when they are not UTF-8 (e.g. a symlink's target). */
export function textOf(bytes: Buffer): string | undefined {
  return isUtf8(bytes) ? bytes.toString('utf8') : undefined;
}

/** A name's bytes for a person: printable ASCII as it is, every other byte as \xNN. */
export function shownName(name: Buffer): string {
  let out = '';
  for (const byte of name) {
    out +=
      byte >= 0x20 && byte < 0x7f && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** An entry of a listing whose name is text, with its type from the listing. */
export interface NamedEntry {
  name: string;
  isFile: boolean;
  isDirectory: boolean;
}

/** Lists `dir` with entry types (no stat per entry); names that are not UTF-8 are left out. */
export function listEntries(dir: string): NamedEntry[] {
  const out: NamedEntry[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, encoding: 'buffer' })) {
    if (!isUtf8(entry.name)) continue;
    out.push({ name: entry.name.toString('utf8'), isFile: entry.isFile(), isDirectory: entry.isDirectory() });
  }
  return out;
}
