/**
 * What stopping processes does not undo: pod processes (they outlive containerd, reparented to
 * init by their shims), the shims themselves, mounts under the cluster root (pod volumes, container
 * root filesystems, network namespaces) and the kubelet's cgroups. Each step is idempotent, so
 * `down` also cleans up after a cluster whose processes were killed. (Pod processes and cgroups:
 * cgroups.ts.)
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** SIGKILL, if the process still exists. */
export function sigkill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Has containerd kill and delete every task it runs, so each shim exits and removes its socket
 * (under /run/containerd/s, which containerd 1.6 does not let us move). Best effort: `killShims`
 * follows for whatever is left.
 */
export async function deleteTasks(socket: string): Promise<void> {
  if (!existsSync(socket)) return;
  const ctr = (...args: string[]): Promise<string> =>
    run('ctr', ['--address', socket, '--namespace', 'k8s.io', ...args], { timeout: 15_000 }).then(
      (r) => r.stdout,
      () => '',
    );
  const tasks = (await ctr('tasks', 'ls', '--quiet')).split('\n').filter(Boolean);
  for (const task of tasks) await ctr('tasks', 'kill', '--signal', 'SIGKILL', task);
  for (const task of tasks) await ctr('tasks', 'delete', '--force', task);
}

/** SIGKILLs the containerd shims serving the containerd whose socket is `socket`. */
export function killShims(socket: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.includes('containerd-shim') && argv.includes(socket)) sigkill(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
}

/**
 * Removes the KUBE-* chains (and the jumps into them) the kubelet and kube-proxy add to the
 * machine's iptables, IPv4 and IPv6; run after `kube-proxy --cleanup`, which leaves the kubelet's.
 */
export async function removeKubeChains(): Promise<void> {
  for (const family of ['iptables', 'ip6tables']) {
    const saved = await run(`${family}-save`).then(
      (r) => r.stdout,
      () => '',
    );
    let table = '';
    const jumps: Array<[string, string[]]> = [];
    const chains: Array<[string, string]> = [];
    for (const line of saved.split('\n')) {
      if (line.startsWith('*')) table = line.slice(1);
      else if (line.startsWith(':KUBE-')) chains.push([table, line.slice(1).split(' ')[0]!]);
      else if (/^-A [A-Z]+ .*-j KUBE-/.test(line) && !line.startsWith('-A KUBE-'))
        jumps.push([table, line.slice(3).split(' ')]);
    }
    const ipt = (table: string, ...args: string[]): Promise<unknown> =>
      run(family, ['-w', '5', '-t', table, ...args]).catch(() => undefined);
    // Rules are split on spaces; comments are quoted, so delete by rule number instead.
    for (const [table, rule] of jumps) {
      const chain = rule[0]!;
      const listed = await run(family, ['-w', '5', '-t', table, '-S', chain]).then(
        (r) => r.stdout.split('\n').filter((l) => l.startsWith('-A ')),
        () => [],
      );
      const index = listed.findIndex((l) => /-j KUBE-/.test(l));
      if (index >= 0) await ipt(table, '-D', chain, String(index + 1));
    }
    for (const [table, chain] of chains) await ipt(table, '-F', chain);
    for (const [table, chain] of chains) await ipt(table, '-X', chain);
  }
}

/** Mount points at or under `root`, deepest first. */
export function mountsUnder(root: string): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined && (point === root || point.startsWith(`${root}/`)))
    // mountinfo escapes spaces and such as octal
    .map((point) => point.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Lazily unmounts everything at or under `root`. */
export async function unmountAll(root: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const points = mountsUnder(root);
    if (points.length === 0) return;
    for (const point of points) await run('umount', ['-l', point]).catch(() => undefined);
  }
  const left = mountsUnder(root);
  if (left.length > 0) throw new Error(`could not unmount ${left.join(', ')}`);
}

/** Makes `root` a mount point of its own with shared propagation (the kubelet's Bidirectional mounts need it). */
export async function makeSharedMount(root: string): Promise<void> {
  await run('mount', ['--bind', root, root]);
  await run('mount', ['--make-rshared', root]);
}
