/**
 * `npm run bench:fs [-- --size=1Gi --files=10000 --runs=3 --dir=/tmp --only=read,write,meta]`: the
 * Kmesh filesystem (fs/, `kmesh fs mount`) against the backing directory itself and go-fuse's
 * loopback example, on the same data in the same run, printing ratios. As root (mounts).
 *
 * Targets, all serving the same backing directory (ext4 under --dir) at once:
 * - backing: the directory itself;
 * - kmesh: `kmesh fs mount` (kernel passthrough);
 * - kmesh-np: `kmesh fs mount --no-passthrough` (every read and write served by the process);
 * - go-fuse: `go-fuse-loopback -directmountstrict -q` as root. go-fuse v2.12 registers a backing
 *   file for every open when it may (root), so this is go-fuse *with* passthrough;
 * - go-fuse-np: the same binary in a user namespace of its own (`unshare --user --map-root-user
 *   --mount`), where the kernel refuses passthrough (it wants CAP_SYS_ADMIN in the initial
 *   namespace), so go-fuse serves reads and writes itself. Its mount exists only in that mount
 *   namespace: commands run there through `nsenter -U -m`.
 *
 * Workloads, each run --runs times round-robin over the targets, median reported:
 * - read: `dd if=<file> of=/dev/null bs=1M` of a --size file that is in the page cache (written,
 *   then read once through the backing directory), buffered and with `iflag=direct`. Before each
 *   run through a FUSE mount, the FUSE inode's own page cache is dropped (`dd iflag=nocache
 *   count=0`, fadvise DONTNEED on the mount's file; the backing file stays cached, checked with
 *   fincore), so every run goes through the filesystem and not the mount's page cache.
 * - write: `dd if=/dev/zero of=<file> bs=1M count=<size> conv=notrunc,fsync` after a `sync`,
 *   overwriting a file of the same size written beforehand (on a VM disk that discards freed
 *   blocks, writing new files varies several-fold from run to run, whatever the filesystem).
 *   Read and write times are dd's own (open and close excluded).
 * - meta: a Node child doing sync fs calls on --files empty files in one new directory: create
 *   (open O_CREAT|O_EXCL + close), stat each, stat each again, list the directory, unlink each.
 *   The child waits 1.5 s before each phase except the second stat, so the kernel's entries and
 *   attributes (1 s TTL) have expired: each phase goes to the server; the second stat runs right
 *   after the first and is answered from the kernel's cache where entries are still valid.
 *
 * Prints figures and the CPU time of the server's processes meanwhile; asserts nothing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { isRunning, logTail, startProcess, stopProcess, type ProcessRecord } from '../control-plane/process.js';
import { REPO_ROOT, toolPath } from '../tools.js';
import { integerFlag, scriptFlags, UsageError } from '../../lib/flags.js';
import { parseByteQuantity } from '../../lib/quantity.js';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const WORKLOADS = ['read', 'write', 'meta'];
const { SIZE, FILES, RUNS, DIR, ONLY } = scriptFlags(
  'usage: npm run bench:fs [-- --flag=value ...]',
  {
    size: { help: 'bytes read and written per run (a quantity, a whole number of MiB)', default: '1Gi' },
    files: { help: 'files of the metadata workload', default: '10000' },
    runs: { help: 'runs of each measurement (the median is reported)', default: '3' },
    dir: { help: 'where the work directory is made (and removed at the end)', default: tmpdir() },
    only: { help: `workloads to run, comma-separated (${WORKLOADS.join(',')})`, default: WORKLOADS.join(',') },
  },
  (flags) => {
    let size: number;
    try {
      size = parseByteQuantity(flags.value('size')!, '--size');
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (size < MIB || size % MIB !== 0) throw new UsageError(`--size: ${size} bytes is not a whole number of MiB`);
    const only = new Set(flags.value('only')!.split(','));
    const unknown = [...only].filter((w) => !WORKLOADS.includes(w));
    if (unknown.length)
      throw new UsageError(`--only: unknown workloads ${unknown.join(', ')}; known: ${WORKLOADS.join(', ')}`);
    return {
      SIZE: size,
      FILES: integerFlag('files', flags.value('files'), 1, 10_000_000),
      RUNS: integerFlag('runs', flags.value('runs'), 1, 100),
      DIR: flags.value('dir')!,
      ONLY: only,
    };
  },
);
/** Longer than the 1 s entry and attribute TTL of both servers. */
const PAUSE_MS = 1500;
const COMMAND_TIMEOUT_MS = 10 * 60_000;

interface Target {
  key: string;
  label: string;
  /** Where this target shows the backing directory. */
  root: string;
  /** The server process; none for the backing directory. */
  server?: ProcessRecord;
  /** Prefix that runs a command where the mount is visible (go-fuse-np: its mount namespace). */
  prefix: string[];
}

/** The command running now, killed by a signal's cleanup. */
let current: ChildProcess | undefined;

/**
 * Runs a command to its end; resolves with stdout and stderr, or rejects with its command line and
 * stderr. Asynchronous, so a signal's cleanup can run meanwhile.
 */
function run(argv: string[]): Promise<{ stdout: string; stderr: string }> {
  const [command, ...args] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(command!, args, { env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    current = child;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (current === child) current = undefined;
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${argv.join(' ')} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
  });
}

/** dd's own seconds ("… copied, 0.153916 s, 7.0 GB/s"). */
async function dd(target: Target, args: string[]): Promise<number> {
  const { stderr } = await run([...target.prefix, 'dd', ...args]);
  const seconds = /copied, ([0-9.e+-]+) s,/.exec(stderr)?.[1];
  if (seconds === undefined) throw new Error(`dd ${args.join(' ')}: no time in its output: ${stderr.trim()}`);
  return Number(seconds);
}

/** Fields of /proc/<pid>/stat after the command name (field 3 on), or undefined once it is gone. */
function procStat(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  } catch {
    return undefined;
  }
}

/** `pid` and every process below it (`kmesh fs mount` supervises a `kmesh fs serve` child). */
function processTree(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const parent = Number(procStat(Number(entry))?.[1]);
    if (parent) parents.set(parent, [...(parents.get(parent) ?? []), Number(entry)]);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(parents.get(tree[i]!) ?? []));
  return tree;
}

/** CPU seconds (user + system, all threads) the target's server processes have used so far. */
function serverCpu(target: Target): number {
  if (!target.server) return 0;
  let ticks = 0;
  for (const pid of processTree(target.server.pid)) {
    const stat = procStat(pid);
    if (stat) ticks += Number(stat[11]) + Number(stat[12]); // utime + stime, clock ticks (100/s)
  }
  return ticks / 100;
}

/** The fraction of `path` in the page cache (fincore), or undefined without fincore. */
function resident(path: string): number | undefined {
  const result = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES,SIZE', path], { encoding: 'utf8' });
  if (result.status !== 0) return undefined;
  const [res, size] = result.stdout.trim().split(/\s+/).map(Number) as [number, number];
  return size > 0 ? res / size : undefined;
}

/** Waits until `target`'s mount shows in its server's mount table (its own namespace's). */
async function waitMounted(target: Target): Promise<void> {
  const server = target.server!;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (!isRunning(server)) throw new Error(`${target.label} exited before mounting:\n${logTail(server)}`);
    let table = '';
    try {
      table = readFileSync(`/proc/${server.pid}/mountinfo`, 'utf8');
    } catch {
      // The process is between fork and exec.
    }
    const line = table.split('\n').find((l) => l.split(' ')[4] === target.root);
    if (line?.split(' - ')[1]?.startsWith('fuse.')) return;
    if (Date.now() > deadline) throw new Error(`${target.label}: no mount after 60 s:\n${logTail(server)}`);
    await sleep(100);
  }
}

/** Kmesh logs whether the kernel granted passthrough at INIT; waits for that line. */
async function kmeshPassthrough(target: Target): Promise<boolean> {
  const server = target.server!;
  for (let i = 0; i < 100; i++) {
    for (const line of readFileSync(server.logPath, 'utf8').split('\n')) {
      if (!line.includes('FUSE connection initialised')) continue;
      return (JSON.parse(line) as { passthrough: boolean }).passthrough;
    }
    await sleep(100);
  }
  throw new Error(`${target.label}: no INIT in its log:\n${logTail(server)}`);
}

/** The Node child of the metadata workload: sync fs calls, seconds per phase as JSON. */
const META_CHILD = `
const fs = require('node:fs');
const { join } = require('node:path');
const [dir, countText, pauseText, serverPids] = process.argv.slice(1);
const count = Number(countText);
const names = Array.from({ length: count }, (_, i) => join(dir, 'f' + i));
const pause = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(pauseText));
const serverCpu = () => {
  let ticks = 0;
  for (const pid of serverPids.split(',').filter(Boolean)) {
    const stat = fs.readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1].split(' ');
    ticks += Number(stat[11]) + Number(stat[12]);
  }
  return ticks / 100;
};
const seconds = {};
const cpu = {};
const timed = (phase, work) => {
  const cpu0 = serverCpu();
  const started = process.hrtime.bigint();
  work();
  seconds[phase] = Number(process.hrtime.bigint() - started) / 1e9;
  cpu[phase] = serverCpu() - cpu0;
};
const { O_CREAT, O_EXCL, O_WRONLY } = fs.constants;
fs.mkdirSync(dir);
timed('create', () => { for (const n of names) fs.closeSync(fs.openSync(n, O_CREAT | O_EXCL | O_WRONLY, 0o644)); });
pause();
timed('statExpired', () => { for (const n of names) fs.statSync(n); });
timed('statCached', () => { for (const n of names) fs.statSync(n); });
pause();
let listed = 0;
timed('readdir', () => { listed = fs.readdirSync(dir).length; });
if (listed !== count) throw new Error('listed ' + listed + ' entries, expected ' + count);
pause();
timed('unlink', () => { for (const n of names) fs.unlinkSync(n); });
fs.rmdirSync(dir);
console.log(JSON.stringify({ seconds, cpu }));
`;
const META_PHASES = [
  ['create', 'create (open O_CREAT|O_EXCL + close)'],
  ['statExpired', 'stat (entries expired)'],
  ['statCached', 'stat again (kernel cache)'],
  ['readdir', 'readdir (list the directory)'],
  ['unlink', 'unlink (entries expired)'],
] as const;
type MetaPhase = (typeof META_PHASES)[number][0];

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** One measurement of one target: seconds of each run, and the server's CPU seconds in each. */
interface Sample {
  seconds: number[];
  cpu: number[];
}

interface Row {
  workload: string;
  target: Target;
  sample: Sample;
  /** Work done per run: bytes, or operations (files, entries). */
  amount: number;
  unit: 'bytes' | 'ops';
}

function writeDataFile(path: string, bytes: number): void {
  const buffer = Buffer.allocUnsafe(16 * MIB);
  const fd = openSync(path, 'w');
  try {
    for (let done = 0; done < bytes; done += buffer.length) {
      randomFillSync(buffer);
      writeSync(fd, buffer, 0, Math.min(buffer.length, bytes - done));
    }
  } finally {
    closeSync(fd);
  }
}

let work: string | undefined;
let targets: Target[] = [];

/** Signals a process that may have gone already. */
function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Gone.
  }
}

/** Detaches every mount left under the work directory and removes it. */
function removeWork(): void {
  if (!work) return;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mountPoint = line.split(' ')[4];
    if (mountPoint?.startsWith(`${work}/`)) spawnSync('umount', ['-l', mountPoint]);
  }
  rmSync(work, { recursive: true, force: true });
}

/** Stops every server (they detach their mounts), detaches what is left, removes the work directory. */
async function cleanup(): Promise<void> {
  const below = targets.flatMap((t) =>
    t.server && isRunning(t.server)
      ? processTree(t.server.pid)
          .slice(1)
          .map((pid) => ({ pid, started: procStat(pid)?.[19] }))
      : [],
  );
  await Promise.all(targets.flatMap((t) => (t.server ? [stopProcess(t.server)] : [])));
  // Children the servers left behind (the same process: same start time).
  for (const { pid, started } of below) if (started && procStat(pid)?.[19] === started) kill(pid, 'SIGKILL');
  removeWork();
}

/** The same, at once, for a signal (also in the middle of cleanup()). */
function cleanupNow(): void {
  if (current?.pid) kill(current.pid, 'SIGKILL');
  for (const t of targets)
    if (t.server && isRunning(t.server)) for (const pid of processTree(t.server.pid)) kill(pid, 'SIGKILL');
  removeWork();
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error('the filesystem benchmark mounts FUSE filesystems and must run as root');
  if (!existsSync('/dev/fuse')) throw new Error('no /dev/fuse');
  const goFuse = toolPath('go-fuse-loopback');
  await run(['unshare', '--version']);
  await run(['nsenter', '--version']);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanupNow();
      process.exit(130);
    });
  }

  mkdirSync(DIR, { recursive: true });
  const dir = mkdtempSync(join(DIR, 'kmesh-bench-fs-'));
  work = dir;
  const backing = join(dir, 'backing');
  const mnt = (key: string): string => join(dir, 'mnt', key);
  mkdirSync(backing);
  for (const key of ['kmesh', 'kmesh-np', 'go-fuse', 'go-fuse-np']) mkdirSync(mnt(key), { recursive: true });
  console.log(
    `filesystem benchmark: ${SIZE / MIB} MiB reads and writes, ${FILES} files, ${RUNS} runs each; backing directory ${backing}`,
  );

  const tsx = fileURLToPath(import.meta.resolve('tsx'));
  const kmeshCommand = [process.execPath, '--import', tsx, join(REPO_ROOT, 'cmd', 'kmesh.ts')];
  // Newer `kmesh fs mount` keeps server state in --state-dir (else under the system temp dir): keep it in ours.
  const stateDirFlag = (await run([...kmeshCommand, 'fs', 'mount', '--help'])).stdout.includes('--state-dir');
  const kmesh = (key: string, extra: string[]): ProcessRecord =>
    startProcess({
      name: key,
      executable: process.execPath,
      args: [
        ...kmeshCommand.slice(1),
        'fs',
        'mount',
        '--root',
        backing,
        '--mountpoint',
        mnt(key),
        ...(stateDirFlag ? ['--state-dir', join(dir, `${key}.state`)] : []),
        ...extra,
      ],
      logPath: join(dir, `${key}.log`),
      detached: false,
    });
  targets = [
    { key: 'backing', label: 'backing directory', root: backing, prefix: [] },
    { key: 'kmesh', label: 'Kmesh fs (passthrough)', root: mnt('kmesh'), prefix: [] },
    { key: 'kmesh-np', label: 'Kmesh fs (--no-passthrough)', root: mnt('kmesh-np'), prefix: [] },
    { key: 'go-fuse', label: 'go-fuse loopback (root: passthrough)', root: mnt('go-fuse'), prefix: [] },
    {
      key: 'go-fuse-np',
      label: 'go-fuse loopback (user namespace: no passthrough)',
      root: mnt('go-fuse-np'),
      prefix: [],
    },
  ];
  const [, kmeshPt, kmeshNp, goFusePt, goFuseNp] = targets as [Target, Target, Target, Target, Target];
  kmeshPt.server = kmesh('kmesh', []);
  kmeshNp.server = kmesh('kmesh-np', ['--no-passthrough']);
  goFusePt.server = startProcess({
    name: 'go-fuse',
    executable: goFuse,
    args: ['-directmountstrict', '-q', goFusePt.root, backing],
    logPath: join(dir, 'go-fuse.log'),
    detached: false,
  });
  // setpriv again inside: entering the user namespace clears the parent-death signal.
  goFuseNp.server = startProcess({
    name: 'go-fuse-np',
    executable: 'unshare',
    args: [
      '--user',
      '--map-root-user',
      '--mount',
      '--propagation',
      'private',
      '--',
      'setpriv',
      '--pdeathsig',
      'KILL',
      '--',
      goFuse,
      '-directmountstrict',
      '-q',
      goFuseNp.root,
      backing,
    ],
    logPath: join(dir, 'go-fuse-np.log'),
    detached: false,
  });
  for (const t of targets) if (t.server) await waitMounted(t);
  goFuseNp.prefix = ['nsenter', '-t', String(goFuseNp.server.pid), '-U', '-m', '--preserve-credentials', '--'];
  if (!(await kmeshPassthrough(kmeshPt))) console.log('WARNING: the kernel refused passthrough to Kmesh fs');
  if (await kmeshPassthrough(kmeshNp)) throw new Error('Kmesh fs --no-passthrough reports passthrough');
  console.log(`mounted: ${targets.map((t) => t.key).join(', ')}`);

  const rows: Row[] = [];
  const report = (row: Row): void => {
    rows.push(row);
    const s = row.sample;
    console.log(
      `  ${row.workload} | ${row.target.key}: ${s.seconds.map((x) => x.toFixed(3)).join(' / ')} s; server CPU ${s.cpu.map((x) => x.toFixed(2)).join(' / ')} s`,
    );
  };
  /** Runs `once` RUNS times round-robin over `which`, one Row per target. */
  const measure = async (
    workload: string,
    which: Target[],
    amount: number,
    unit: Row['unit'],
    once: (target: Target, run: number) => Promise<number>,
  ): Promise<void> => {
    const samples = new Map<Target, Sample>(which.map((t) => [t, { seconds: [], cpu: [] }]));
    for (let i = 0; i < RUNS; i++) {
      for (const target of which) {
        const cpu0 = serverCpu(target);
        const seconds = await once(target, i);
        samples.get(target)!.seconds.push(seconds);
        samples.get(target)!.cpu.push(serverCpu(target) - cpu0);
      }
    }
    for (const target of which) report({ workload, target, sample: samples.get(target)!, amount, unit });
  };

  if (ONLY.has('read')) {
    const data = join(backing, 'data.bin');
    console.log(`writing ${SIZE / MIB} MiB of random data…`);
    writeDataFile(data, SIZE);
    await run(['sync']);
    await dd(targets[0]!, [`if=${data}`, 'of=/dev/null', 'bs=1M']); // in the page cache, whatever happened before
    const before = resident(data);
    for (const direct of [false, true]) {
      const workload = direct ? `read ${SIZE / MIB} MiB, O_DIRECT` : `read ${SIZE / MIB} MiB, buffered`;
      console.log(workload);
      await measure(workload, targets, SIZE, 'bytes', async (target) => {
        const file = join(target.root, 'data.bin');
        if (target.server) await dd(target, [`if=${file}`, 'of=/dev/null', 'iflag=nocache', 'count=0']);
        return dd(target, [`if=${file}`, 'of=/dev/null', 'bs=1M', ...(direct ? ['iflag=direct'] : [])]);
      });
    }
    const after = resident(data);
    const pct = (f?: number): string => (f === undefined ? 'unknown (no fincore)' : `${(f * 100).toFixed(1)}%`);
    console.log(`backing file in the page cache: ${pct(before)} before the reads, ${pct(after)} after`);
  }

  if (ONLY.has('write')) {
    // New files on this VM's disk vary 0.7–6 s per GiB (blocks discarded on delete are slow to
    // write again): each target overwrites a file of its own, written once beforehand.
    const files = new Map(targets.map((t) => [t, join(backing, `write-${t.key}.bin`)]));
    for (const file of files.values())
      await dd(targets[0]!, ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${SIZE / MIB}`, 'conv=fsync']);
    const workload = `overwrite ${SIZE / MIB} MiB, conv=fsync`;
    console.log(workload);
    await measure(workload, targets, SIZE, 'bytes', async (target) => {
      await run(['sync']);
      const file = join(target.root, `write-${target.key}.bin`);
      return dd(target, ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${SIZE / MIB}`, 'conv=notrunc,fsync']);
    });
    for (const file of files.values()) unlinkSync(file);
    await run(['sync']);
  }

  if (ONLY.has('meta')) {
    console.log(`metadata, ${FILES} files in one directory`);
    type Phases = Record<MetaPhase, number>;
    const results = new Map<Target, { seconds: Phases; cpu: Phases }[]>(targets.map((t) => [t, []]));
    for (let i = 0; i < RUNS; i++) {
      for (const target of targets) {
        const { stdout } = await run([
          ...target.prefix,
          process.execPath,
          '-e',
          META_CHILD,
          join(target.root, `meta-${target.key}-${i}`),
          String(FILES),
          String(PAUSE_MS),
          target.server ? processTree(target.server.pid).join(',') : '',
        ]);
        results.get(target)!.push(JSON.parse(stdout.trim().split('\n').pop()!) as { seconds: Phases; cpu: Phases });
      }
    }
    for (const [phase, label] of META_PHASES) {
      for (const target of targets) {
        const runs = results.get(target)!;
        report({
          workload: label,
          target,
          sample: { seconds: runs.map((r) => r.seconds[phase]), cpu: runs.map((r) => r.cpu[phase]) },
          amount: FILES,
          unit: 'ops',
        });
      }
    }
  }

  // Ratios are of speed: the other's time / this one's time (above 1 or 100%: faster).
  const byKey = (workload: string, key: string): Row | undefined =>
    rows.find((r) => r.workload === workload && r.target.key === key);
  const ratio = (row: Row, other: Row | undefined, percent: boolean): string => {
    if (!other || other === row) return '';
    const r = median(other.sample.seconds) / median(row.sample.seconds);
    return percent ? `${(r * 100).toFixed(0)}%` : `${r.toFixed(2)}×`;
  };
  const rate = (row: Row): string => {
    const seconds = median(row.sample.seconds);
    return row.unit === 'bytes'
      ? `${(row.amount / GIB / seconds).toFixed(2)} GiB/s`
      : `${Math.round(row.amount / seconds).toLocaleString('en-US')} ops/s`;
  };
  console.log(
    `\nmedian of ${RUNS} runs; ratios are speed (the other's time / this one's time); server CPU: the serving process's user + system time during the measurement, median`,
  );
  console.log(
    '\n| workload | target | median time | rate | runs | vs backing | vs go-fuse | vs go-fuse, no passthrough | server CPU |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    console.log(
      `| ${[
        row.workload,
        row.target.label,
        `${median(row.sample.seconds).toFixed(3)} s`,
        rate(row),
        row.sample.seconds.map((s) => s.toFixed(3)).join(' / '),
        ratio(row, byKey(row.workload, 'backing'), true),
        ratio(row, byKey(row.workload, 'go-fuse'), false),
        ratio(row, byKey(row.workload, 'go-fuse-np'), false),
        row.target.server ? `${median(row.sample.cpu).toFixed(2)} s` : '',
      ].join(' | ')} |`,
    );
  }
}

try {
  await main();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await cleanup();
}
