/**
 * A directory laid out and updated the way the kubelet keeps a mounted Secret: the files live in a
 * timestamped directory, `..data` links to it, and each key is a link through `..data`. An update
 * writes a new timestamped directory and renames a new `..data` link over the old one, so a reader
 * sees the old files or the new ones, never a mix (the kubelet's atomic writer does the same).
 */
import { mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

let generation = 0;

/** Writes `files` (key → content) as the Secret's new content in `dir`, replacing the previous one atomically. */
export function updateSecretVolume(dir: string, files: Record<string, string | Buffer>, mode = 0o440): void {
  mkdirSync(dir, { recursive: true });
  let previous: string | undefined;
  try {
    previous = readlinkSync(join(dir, '..data'));
  } catch {
    // first write
  }
  const version = `..${new Date().toISOString().replace(/[-:.]/g, '_')}.${process.pid}.${++generation}`;
  mkdirSync(join(dir, version));
  for (const [key, content] of Object.entries(files)) writeFileSync(join(dir, version, key), content, { mode });
  symlinkSync(version, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const key of Object.keys(files)) {
    try {
      symlinkSync(join('..data', key), join(dir, key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  if (previous) rmSync(join(dir, previous), { recursive: true, force: true });
}
