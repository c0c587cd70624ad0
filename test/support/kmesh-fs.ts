/**
 * The Kmesh filesystem (fs/) as a test runs it: `kmesh fs mount` in a process of its own (the
 * serving process must never touch its own mount), over a backing directory in a fresh temp
 * directory, with a change journal. The test process may use the mount freely. The server runs in
 * a process group of its own, and signals meant to crash or stop it go to the whole group: what
 * holds /dev/fuse is the server, however many processes it is made of. `stop()` always leaves
 * nothing behind: the mount detached (`umount -l`, which never waits on the server), the server
 * gone, the temp directory removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as libc from '../../fs/libc.js';
import { fileDigest } from './tree-hash.js';
import { REPO_ROOT } from '../../hack/tools.js';

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr, interleaved as they came. */
  output: string;
  /** Killed after the bound given to run(). */
  timedOut: boolean;
}

/** Runs a command to its end, killing it (SIGKILL) once `timeoutMs` have passed. */
export function run(
  command: string,
  args: string[],
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
    let output = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output, timedOut });
    });
  });
}

/** Resolves with `promise`, or rejects with `what` once `ms` have passed. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** /proc/self/mountinfo escapes space, tab, newline and backslash in paths as \ooo. */
const unescapeMountPath = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** The filesystem type mounted on `mountpoint` (the last mount there), or undefined. */
export function mountedType(mountpoint: string): string | undefined {
  let type: string | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    // id parent major:minor root mountpoint options [optional fields...] - type source super-options
    const fields = line.split(' ');
    if (fields.length < 5 || unescapeMountPath(fields[4]!) !== mountpoint) continue;
    type = fields[fields.indexOf('-') + 1];
  }
  return type;
}

export const isMounted = (mountpoint: string): boolean => mountedType(mountpoint) !== undefined;

export interface KmeshFsOptions {
  /** Kernel passthrough for reads and writes (false: `--no-passthrough`, every byte goes through the server). */
  passthrough: boolean;
  /** The server's KMESH_LOG_LEVEL (default: this process's, else `warn`). */
  logLevel?: string;
  /** Prefix of the temp directory. */
  prefix?: string;
  /** More `kmesh fs mount` flags. */
  args?: string[];
}

/** Bound on how long mounting, unmounting and a server's exit may take on a loaded machine. */
const BOUND_MS = 20_000;

export class KmeshFs {
  /** `kmesh fs mount`'s stdout (JSON logs) and stderr. */
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stopped = false;

  private constructor(
    /** The temp directory holding everything below; removed by stop(). */
    readonly top: string,
    readonly backing: string,
    readonly mountpoint: string,
    readonly journal: string,
    readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    // 'close': exited, and its output read to the end.
    this.exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  }

  /**
   * Starts `kmesh fs mount` on a new backing directory and waits until the mount is there. The new
   * instance goes into `started` first, so the caller's cleanup stops it even if mounting fails.
   */
  static async start(options: KmeshFsOptions, started: KmeshFs[]): Promise<KmeshFs> {
    const top = mkdtempSync(join(tmpdir(), options.prefix ?? 'kmesh-fstest-'));
    // Other users (the permission tests) must be able to reach the mount.
    chmodSync(top, 0o755);
    const [backing, mountpoint, journal] = [join(top, 'backing'), join(top, 'mnt'), join(top, 'journal')];
    mkdirSync(backing, { mode: 0o755 });
    mkdirSync(mountpoint);
    const args = [
      '--root',
      backing,
      '--mountpoint',
      mountpoint,
      '--journal',
      journal,
      '--state-dir',
      join(top, 'state'),
    ];
    if (!options.passthrough) args.push('--no-passthrough');
    args.push(...(options.args ?? []));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'cmd', 'kmesh.ts'), 'fs', 'mount', ...args],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, KMESH_LOG_LEVEL: options.logLevel ?? process.env['KMESH_LOG_LEVEL'] ?? 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true, // its own process group: see signal()
      },
    );
    const fs = new KmeshFs(top, backing, mountpoint, journal, child);
    started.push(fs);
    await fs.waitMounted();
    return fs;
  }

  /** Until the mount is there and answers (the server may start after the mount). */
  private async waitMounted(): Promise<void> {
    const deadline = Date.now() + BOUND_MS;
    let exit: unknown;
    void this.exited.then((e) => (exit = e));
    while (mountedType(this.mountpoint) !== 'fuse.kmesh') {
      if (exit) throw new Error(`kmesh fs mount exited (${JSON.stringify(exit)}) before mounting:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`kmesh fs mount did not mount within ${BOUND_MS} ms:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await this.answers();
  }

  /**
   * Waits until a stat of the mount point returns, from another process: this one must not wait in
   * a system call on a server that may never answer (nothing could time it out).
   */
  async answers(timeoutMs = BOUND_MS): Promise<void> {
    const ran = await run('stat', [this.mountpoint], { timeoutMs });
    if (ran.code !== 0) throw new Error(`stat ${this.mountpoint}: ${JSON.stringify(ran)}\n${this.output}`);
  }

  /** Processes `kmesh fs mount` started (its supervisor's servers). */
  children(): number[] {
    const pids: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        // pid (comm) state ppid ...: comm may hold spaces and parentheses.
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === this.pid) pids.push(Number(entry));
      } catch {
        // gone meanwhile
      }
    }
    return pids;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The server's exit, or a rejection after `ms`. */
  exit(ms = BOUND_MS): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return within(this.exited, ms, `kmesh fs mount (pid ${this.pid}) exit`);
  }

  /** `umount -l` on the mount point, bounded (it must never wait on the server). */
  unmount(timeoutMs = 10_000): Promise<Ran> {
    return run('umount', ['-l', this.mountpoint], { timeoutMs });
  }

  /** Sends `signal` to every process of the server (its process group). */
  signal(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  /** kill -9 of the server, all its processes (the supervisor and the server it runs), and wait for the exit. */
  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.exit();
  }

  /**
   * Detaches the mount, ends the server (it exits by itself once unmounted; SIGKILL if it does not
   * within the bound) and removes the temp directory, whatever state a test left them in.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const problems: string[] = [];
    if (isMounted(this.mountpoint)) {
      const ran = await this.unmount();
      if (ran.code !== 0) problems.push(`umount -l ${this.mountpoint}: ${ran.output}`);
    }
    this.signal('SIGCONT'); // a test may have stopped it
    try {
      await this.exit();
    } catch {
      this.signal('SIGKILL');
      await this.exit();
    }
    // Never recurse into a mount that is still there.
    if (isMounted(this.mountpoint)) problems.push(`${this.mountpoint} is still mounted; left ${this.top} in place`);
    else rmSync(this.top, { recursive: true, force: true });
    if (problems.length) throw new Error(problems.join('\n'));
  }
}

/** `ENOENT` for 2: the name node:fs gives an errno (ErrnoError from fs/libc.ts carries only the number). */
export function errnoName(errno: number): string {
  const entry = Object.entries(osConstants.errno).find(([, n]) => n === errno);
  return entry ? entry[0] : `errno ${errno}`;
}

const SLASH = Buffer.from('/');

/** Order of names as bytes. */
export const byBytes = (a: Buffer, b: Buffer): number => Buffer.compare(a, b);

/** A name for messages: itself when it is UTF-8, else its bytes in hex. */
export function showName(name: Buffer): string {
  const text = name.toString('utf8');
  return Buffer.from(text, 'utf8').equals(name) ? JSON.stringify(text) : `hex:${name.toString('hex')}`;
}

/** `root/rel` as bytes (names need not be UTF-8). */
export const under = (root: string, rel: Buffer): Buffer => Buffer.concat([Buffer.from(root), SLASH, rel]);

/** Extended attributes of `path` itself (not a symlink's target), `name=hex` sorted. */
function xattrs(path: Buffer): string {
  const latin1 = path.toString('latin1');
  const size = libc.listxattr(latin1, 0) as number;
  if (size === 0) return '';
  const names = (libc.listxattr(latin1, size) as Buffer).toString('latin1').split('\0').filter(Boolean).sort();
  return names
    .map((name) => {
      const length = libc.getxattr(latin1, name, 0) as number;
      const value = length === 0 ? Buffer.alloc(0) : (libc.getxattr(latin1, name, length) as Buffer);
      return `${name}=${value.toString('hex')}`;
    })
    .join(',');
}

/**
 * Everything about a tree two equal trees share, one line per path: names as bytes, type, mode,
 * owner, link count, xattrs, and size and content hash or symlink target; then which names are
 * hard links of one file. Times are left out (two trees changed at different moments differ).
 */
export function fsListing(root: string): string[] {
  const out: string[] = [];
  const byInode = new Map<bigint, string[]>();
  const visit = (rel: Buffer | undefined): void => {
    const dir = rel ? under(root, rel) : Buffer.from(root);
    for (const name of readdirSync(dir, { encoding: 'buffer' }).sort(byBytes)) {
      const relPath = rel ? Buffer.concat([rel, SLASH, name]) : name;
      const path = under(root, relPath);
      const st = lstatSync(path, { bigint: true });
      const shown = showName(relPath);
      const common = `mode=${(st.mode & 0o7777n).toString(8)} uid=${st.uid} gid=${st.gid} nlink=${st.nlink} xattrs=[${xattrs(path)}]`;
      if (st.isDirectory()) {
        out.push(`d ${shown} ${common}`);
        visit(relPath);
        continue;
      }
      byInode.set(st.ino, [...(byInode.get(st.ino) ?? []), shown]);
      if (st.isSymbolicLink())
        out.push(`l ${shown} -> ${showName(readlinkSync(path, { encoding: 'buffer' }))} ${common}`);
      else if (st.isFile()) out.push(`f ${shown} ${common} size=${st.size} sha256=${fileDigest(path)}`);
      else out.push(`? ${shown} ${common} type=${(st.mode & 0o170000n).toString(8)}`);
    }
  };
  visit(undefined);
  const groups = [...byInode.values()].filter((names) => names.length > 1).map((names) => names.sort().join(' = '));
  return [...out, ...groups.sort().map((group) => `hard links: ${group}`)];
}
