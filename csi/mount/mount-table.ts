/**
 * The kernel's mount table (/proc/self/mountinfo): the truth about what is mounted, so a restarted
 * plugin knows what it staged and published without remembering it.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

/** Answers whether a path is a mount point right now. */
export interface MountTable {
  isMountPoint(path: string): Promise<boolean>;
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040 ...). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Mount points listed in mountinfo `text` (field 5 of each line). */
export function parseMountPoints(text: string): string[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => unescape(line.split(' ')[4] ?? ''));
}

export const procMountTable: MountTable = {
  async isMountPoint(path) {
    const target = resolve(path);
    return parseMountPoints(await readFile('/proc/self/mountinfo', 'utf8')).includes(target);
  },
};

/** Mount points at or below `dir`, deepest first (the order to unmount them in). */
export async function mountPointsUnder(dir: string): Promise<string[]> {
  const root = resolve(dir);
  const points = parseMountPoints(await readFile('/proc/self/mountinfo', 'utf8')).filter(
    (p) => p === root || p.startsWith(`${root}/`),
  );
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}
