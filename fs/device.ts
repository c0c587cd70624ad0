/**
 * Mounting and unmounting a FUSE filesystem without libfuse: open /dev/fuse, hand the descriptor to
 * mount(8) as fd 3, and read requests only once mount has exited (before that, read() fails EPERM).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { MAX_WRITE } from './abi.js';

/** The filesystem type in /proc/mounts: `fuse.kmesh`. */
export const FS_TYPE = 'fuse.kmesh';

function run(command: string, args: string[], stdio: ('ignore' | 'pipe' | number)[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`)),
    );
  });
}

/**
 * Mounts a new FUSE connection on `mountpoint` and returns the /dev/fuse descriptor that serves it.
 * `source` is the name /proc/mounts shows in the first column.
 */
export async function mountFuse(mountpoint: string, source: string): Promise<number> {
  const fd = openSync('/dev/fuse', 'r+');
  const options = [
    'fd=3',
    'rootmode=40000',
    'user_id=0',
    'group_id=0',
    // Pods run as any user; the kernel checks mode bits itself (default_permissions).
    'allow_other',
    'default_permissions',
    'max_read=1048576',
  ].join(',');
  try {
    // -i: no mount.fuse helper; we are root and pass the descriptor ourselves.
    await run('mount', ['-i', '-t', FS_TYPE, '-o', options, source, mountpoint], ['ignore', 'ignore', 'pipe', fd]);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/**
 * Lets the kernel read ahead in requests as large as we accept (1 MiB) instead of its 128 KiB
 * default: reads that come to the daemon (no passthrough, a cache's misses) take 8 times fewer
 * requests. Best effort; returns whether it took.
 */
export function raiseReadahead(mountpoint: string): boolean {
  try {
    // From the mount table, not stat(): a stat of the mount would wait for a server not started yet.
    let device: string | undefined;
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const fields = line.split(' ');
      const path = fields[4]?.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
      if (path === mountpoint && fields.includes(FS_TYPE)) device = fields[2];
    }
    if (!device) return false;
    writeFileSync(`/sys/class/bdi/${device}/read_ahead_kb`, String(MAX_WRITE / 1024));
    return true;
  } catch {
    return false;
  }
}

/**
 * Detaches the mount (MNT_DETACH): never blocks on a stuck daemon, and open files keep working until
 * closed. The daemon's reads then fail ENODEV and it stops.
 */
export async function unmountFuse(mountpoint: string): Promise<void> {
  await run('umount', ['-l', mountpoint], ['ignore', 'ignore', 'pipe']);
}
