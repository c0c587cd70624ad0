/**
 * Paths on the node, kept inside their root. `inside` joins lexically (defence in depth after
 * volume ID parsing); `directoryWithin` resolves symlinks, because the node plugin mounts what it
 * finds on the host: a symlink an application wrote into its volume must never lead a bind mount
 * out of the instance's directory, nor an instance's directory out of the allowed roots
 * (docs/security.md).
 */
import { mkdir, realpath, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { failedPrecondition, internal, invalidArgument } from '../lib/errors.js';

/** `base` joined with `parts` (leading slashes ignored); refuses a result outside `base`. */
export function inside(base: string, ...parts: string[]): string {
  const root = resolve(base);
  const path = resolve(root, ...parts.map((p) => p.replace(/^\/+/, '')));
  if (path !== root && !path.startsWith(root + sep)) throw invalidArgument(`path ${parts.join('/')} leaves ${root}`);
  return path;
}

const isWithin = (path: string, root: string): boolean =>
  path === root || path.startsWith(root === sep ? root : root + sep);

/** The deepest ancestor of `path` (or itself) that exists, lexically, and its real path. */
async function deepestExisting(path: string): Promise<{ at: string; real: string }> {
  for (let at = resolve(path); ; at = dirname(at)) {
    try {
      return { at, real: await realpath(at) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || at === dirname(at)) throw error;
    }
  }
}

/**
 * The real path of directory `path` (absolute), created if missing, which must lie within the real
 * path of one of `roots`: FAILED_PRECONDITION naming `what` when a symlink leads it out. Missing
 * parts are created one at a time below the checked existing part, and the whole is checked again.
 */
export async function directoryWithin(path: string, roots: readonly string[], what: string): Promise<string> {
  const realRoots = (await Promise.all(roots.map((r) => realpath(r).catch(() => undefined)))).filter(
    (r): r is string => r !== undefined,
  );
  const check = (real: string): string => {
    if (!realRoots.some((root) => isWithin(real, root)))
      throw failedPrecondition(
        `${what} ${path} resolves to ${real}, outside ${roots.join(', ')}: refusing to mount it`,
      );
    return real;
  };
  const existing = await deepestExisting(path);
  let at = check(existing.real);
  for (const part of relative(existing.at, resolve(path)).split(sep).filter(Boolean)) {
    at = join(at, part);
    await mkdir(at).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
  const real = check(
    await realpath(path).catch((error: NodeJS.ErrnoException) => {
      throw failedPrecondition(
        `${what} ${path} does not resolve to a directory (${error.code ?? error.message}): refusing to mount it`,
      );
    }),
  );
  if (!(await stat(real)).isDirectory()) throw failedPrecondition(`${what} ${path} is not a directory`);
  return real;
}

/** Device and inode of `path`: what a bind mount of it shows at its target. */
export async function identity(path: string): Promise<string> {
  const { dev, ino } = await stat(path);
  return `${dev}:${ino}`;
}

/** Throws INTERNAL when `target` does not show `expected` (a path swapped for a symlink between check and mount). */
export async function assertMountOf(target: string, expected: string, what: string): Promise<void> {
  const found = await identity(target);
  if (found !== expected) throw internal(`${what}: ${target} shows ${found}, not the checked directory ${expected}`);
}
