/**
 * The paths a Kmesh spec may name, checked one way wherever they are used (the CRD's CEL rules in
 * common.ts, the operator, the CSI node plugin): host directories of local instances, which must
 * lie below a root the cluster admin allows and must not overlap another instance's, and access
 * points inside an instance's filesystem, which are never its root nor Kmesh's own state. These
 * checks are lexical; what a host's symlinks make of a path is checked where the path is resolved
 * (docs/security.md says where).
 */
import { Reasons } from './conditions.js';
import type { KmeshInstance } from './generated/types.js';

/** Kmesh's own state inside an instance's filesystem (sync state, snapshots); no access point may touch it. */
export const STATE_PATH = '/.kmesh';

/** Why `path` is not a normalised absolute path (`/a/b`: no `.`, `..` or empty segments, no control characters), or undefined. */
export function pathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'is not an absolute path';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f]/.test(path)) return 'holds a control character';
  if (path === '/') return undefined;
  const segments = path.slice(1).split('/');
  if (segments.includes('')) return "has an empty segment ('//' or a trailing '/')";
  if (segments.some((s) => s === '.' || s === '..')) return "has a '.' or '..' segment";
  return undefined;
}

/** Whether normalised `path` is `root` or below it. */
export const within = (path: string, root: string): boolean =>
  root === '/' || path === root || path.startsWith(`${root}/`);

/** Whether normalised `a` and `b` are the same directory or one holds the other. */
export const overlaps = (a: string, b: string): boolean => within(a, b) || within(b, a);

/** Why an access point `path` (DataFlow or VirtualCopy spec.path) cannot hold user data, or undefined. */
export function accessPointProblem(path: string): string | undefined {
  const problem = pathProblem(path);
  if (problem) return problem;
  if (path === '/') return "is the filesystem root, which holds every other access point and Kmesh's own state";
  if (within(path, STATE_PATH)) return `is Kmesh's own state (${STATE_PATH})`;
  return undefined;
}

/** Where a local instance's directory sits: the allowed root that holds it and the path below that root. */
export interface HostPlacement {
  root: string;
  /** Relative to `root`, never empty. */
  subPath: string;
}

/**
 * The allowed root that holds `path` (the deepest, if roots nest), or why there is none. A root
 * itself is refused: an instance there would hold every other instance below it.
 */
export function placeLocalPath(path: string, roots: readonly string[]): HostPlacement | { problem: string } {
  const allowed = `allowed: directories below ${roots.length ? roots.join(', ') : '(none: the operator was given no --local-roots)'}`;
  const problem = pathProblem(path);
  if (problem) return { problem: `spec.backend.local.path ${JSON.stringify(path)} ${problem}; ${allowed}` };
  const root = roots.filter((r) => within(path, r) && path !== r).sort((a, b) => b.length - a.length)[0];
  if (!root) return { problem: `spec.backend.local.path ${path} is not below an allowed root; ${allowed}` };
  return { root, subPath: path.slice(root === '/' ? 1 : root.length + 1) };
}

/** Why `roots` cannot be the allowed roots (each a normalised absolute path, not `/`), or undefined. */
export function localRootsProblem(roots: readonly string[]): string | undefined {
  for (const root of roots) {
    const problem = pathProblem(root);
    if (problem) return `${JSON.stringify(root)} ${problem}`;
    if (root === '/') return '"/" would allow every host directory';
  }
  return undefined;
}

/**
 * The allowed roots from a comma-separated flag value (the chart's localRoots, as the operator and
 * the CSI node plugin take it); throws naming `flag` when one is not a normalised absolute path
 * other than `/`.
 */
export function parseLocalRoots(flag: string, text: string): string[] {
  const roots = text
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const problem = localRootsProblem(roots);
  if (problem) throw new Error(`--${flag}: ${problem}; each root must be a normalised absolute path other than /`);
  return roots;
}

/**
 * Why a local instance's directory may not be used: not below an allowed root (`PathNotAllowed`)
 * or an older instance's (`PathConflict`); undefined when it may. What the operator refuses and the
 * CSI node plugin refuses again.
 */
export function localPathRefusal(
  instance: KmeshInstance,
  all: readonly KmeshInstance[],
  roots: readonly string[],
): { reason: string; message: string } | undefined {
  const placed = placeLocalPath(instance.spec.backend.local?.path ?? '', roots);
  if ('problem' in placed) return { reason: Reasons.PathNotAllowed, message: placed.problem };
  const conflict = localPathConflict(instance, all, roots);
  return conflict ? { reason: Reasons.PathConflict, message: conflict } : undefined;
}

const localPath = (instance: KmeshInstance): string | undefined =>
  (instance.spec.backend.type ?? 'local') === 'local' ? instance.spec.backend.local?.path : undefined;

/** Whether two instances may share a host: both pinned to different nodes never do. */
const sameHost = (a: KmeshInstance, b: KmeshInstance): boolean => {
  const [x, y] = [a.spec.backend.local?.nodeName, b.spec.backend.local?.nodeName];
  return !x || !y || x === y;
};

/** Older first; the same instant goes by namespace and name, so every reader picks the same one. */
const older = (a: KmeshInstance, b: KmeshInstance): boolean => {
  const [ta, tb] = [a.metadata.creationTimestamp ?? '', b.metadata.creationTimestamp ?? ''];
  if (ta !== tb) return ta < tb;
  return `${a.metadata.namespace}/${a.metadata.name}` < `${b.metadata.namespace}/${b.metadata.name}`;
};

/**
 * Why `instance`'s local directory cannot be its own: an older instance (in any namespace) already
 * holds it, or a directory around or inside it on the same node. Reading it would read that
 * instance's data. Undefined when the directory is its own (or it is not a local instance).
 */
export function localPathConflict(
  instance: KmeshInstance,
  others: readonly KmeshInstance[],
  roots: readonly string[],
): string | undefined {
  const path = localPath(instance);
  if (path === undefined) return undefined;
  for (const other of others) {
    const otherPath = localPath(other);
    if (otherPath === undefined || other.metadata.uid === instance.metadata.uid) continue;
    if ('problem' in placeLocalPath(otherPath, roots)) continue; // refused itself, so it holds nothing
    if (overlaps(path, otherPath) && sameHost(instance, other) && older(other, instance)) {
      return `spec.backend.local.path ${path} overlaps ${otherPath} of KmeshInstance ${other.metadata.namespace}/${other.metadata.name}; each instance needs a directory of its own`;
    }
  }
  return undefined;
}
