/**
 * `npm run bench:sync [-- --gib=2 --small=20000 --rtt-mib=512 --parallelism=16 --only=mixed,bigfile,small,rtt]`:
 * Kmesh sync against rsync on the
 * same data in the same run, printing ratios. Kmesh runs as it does in a cluster: the compiled
 * `kmesh gateway` and `kmesh sync --once` processes over mTLS on loopback, AES-256-GCM on, no
 * compression (the data is random). rsync runs as a daemon on loopback (no encryption: a handicap
 * for Kmesh). Wire bytes are counted by a TCP proxy both tools go through. Scenarios (issue 5):
 * first sync of a mixed tree; 1 MiB overwrite inside a 2 GiB file; 100-byte insert at the front
 * of it; first copy of many small files; a pass with no change; one flow at 20 ms RTT.
 * Prints figures; asserts nothing.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import type { GatewayConfigDocument } from '../../api/sync-config/gateway.js';
import type { WorkerConfigDocument } from '../../api/sync-config/worker.js';
import { DEFAULT_PARALLELISM } from '../../api/v1alpha1/data-flow.js';
import { siteTls, writeTlsDir } from '../../test/support/sync.js';
import { TcpProxy } from '../../test/support/tcp-proxy.js';
import { freePorts } from '../control-plane/process.js';
import { CertificateAuthority } from '../pki.js';
import { REPO_ROOT } from '../tools.js';
import { integerFlag, scriptFlags, UsageError } from '../../lib/flags.js';

const SCENARIOS = ['mixed', 'bigfile', 'small', 'rtt'];
const { GIB, SMALL, RTT_MIB, PARALLELISM, ONLY } = scriptFlags(
  'usage: npm run bench:sync [-- --flag=value ...]',
  {
    gib: { help: 'size of the big file, GiB', default: '2' },
    small: { help: 'number of small files', default: '20000' },
    'rtt-mib': { help: 'data moved at 20 ms RTT, MiB', default: '512' },
    parallelism: { help: 'Kmesh streams per flow', default: String(DEFAULT_PARALLELISM) },
    only: { help: `scenarios to run, comma-separated (${SCENARIOS.join(',')})`, default: SCENARIOS.join(',') },
  },
  (flags) => {
    const only = new Set(flags.value('only')!.split(','));
    const unknown = [...only].filter((s) => !SCENARIOS.includes(s));
    if (unknown.length)
      throw new UsageError(`--only: unknown scenarios ${unknown.join(', ')}; known: ${SCENARIOS.join(', ')}`);
    return {
      GIB: integerFlag('gib', flags.value('gib'), 1, 1024),
      SMALL: integerFlag('small', flags.value('small'), 1, 10_000_000),
      RTT_MIB: integerFlag('rtt-mib', flags.value('rtt-mib'), 1, 1024 * 1024),
      PARALLELISM: integerFlag('parallelism', flags.value('parallelism'), 1, 256),
      ONLY: only,
    };
  },
);
const MIB = 1024 * 1024;

const dir = mkdtempSync(join(tmpdir(), 'kmesh-bench-sync-'));
const children: ChildProcess[] = [];
const KMESH = join(REPO_ROOT, 'dist', 'cmd', 'kmesh.js');

function writeRandomFile(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  for (let done = 0; done < bytes; done += 16 * MIB) writeSync(fd, randomBytes(Math.min(16 * MIB, bytes - done)));
  closeSync(fd);
}

function mixedTree(root: string, bytes: number): void {
  mkdirSync(join(root, 'small'), { recursive: true });
  let left = bytes;
  for (let i = 0; left > 64 * MIB; i++) {
    const size = Math.min(left - 32 * MIB, [512, 256, 128, 64][i % 4]! * MIB);
    writeRandomFile(join(root, `large-${i}.bin`), size);
    left -= size;
  }
  for (let i = 0; left > 0; i++) {
    const size = Math.min(left, 4096 + ((i * 7919) % 60_000));
    writeFileSync(join(root, 'small', `f-${i}.dat`), randomBytes(size));
    left -= size;
  }
}

function smallTree(root: string, count: number): void {
  for (let d = 0; d < count / 1000; d++) {
    mkdirSync(join(root, `d${d}`), { recursive: true });
    for (let i = 0; i < 1000; i++)
      writeFileSync(join(root, `d${d}`, `f${i}.txt`), randomBytes(1024 + ((i * 131) % 4096)));
  }
}

/** Runs a command without blocking this process (the proxies live in it); resolves with stdout. */
function run(command: string, argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, {
      env: { ...process.env, KMESH_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolve(Buffer.concat(out).toString())
        : reject(new Error(`${command} ${argv.join(' ')} exited with ${code}`)),
    );
  });
}

interface Site {
  name: string;
  src: string;
  kmeshDst: string;
  rsyncDst: string;
}

async function main(): Promise<void> {
  execFileSync('rsync', ['--version'], { stdio: 'ignore' });
  console.log(`building kmesh…`);
  execFileSync(
    process.execPath,
    [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json')],
    { stdio: 'inherit' },
  );
  const ca = await CertificateAuthority.create('bench-ca');
  writeTlsDir(join(dir, 'tls/east'), await siteTls(ca, 'east'));
  writeTlsDir(join(dir, 'tls/west'), await siteTls(ca, 'west'));
  writeFileSync(join(dir, 'key'), randomBytes(32));
  const sites: Site[] = ['mixed', 'bigfile', 'small', 'rtt', 'rttfar'].map((name) => ({
    name,
    src: join(dir, 'src', name),
    kmeshDst: join(dir, 'west', name),
    rsyncDst: join(dir, 'rsync', name),
  }));
  for (const s of sites) for (const d of [s.src, s.kmeshDst, s.rsyncDst]) mkdirSync(d, { recursive: true });

  const [gwPort, gwMetrics, rsyncPort] = (await freePorts(3)) as [number, number, number];
  writeFileSync(
    join(dir, 'gateway.yaml'),
    stringify({
      host: '127.0.0.1',
      port: gwPort,
      metricsPort: gwMetrics,
      tlsDir: join(dir, 'tls/west'),
      dataFlows: sites.map((s) => ({
        name: `bench/${s.name}`,
        treeDir: s.kmeshDst,
        stateDir: join(dir, 'west-state', s.name),
        deletedRetention: '1m',
        peers: [{ name: 'east', direction: 'pull' }],
        encryption: { algorithm: 'aes-256-gcm', keyFile: join(dir, 'key') },
      })),
    } satisfies GatewayConfigDocument),
  );
  children.push(
    spawn(process.execPath, [KMESH, 'gateway', '--config', join(dir, 'gateway.yaml')], {
      env: { ...process.env, KMESH_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  );
  writeFileSync(
    join(dir, 'rsyncd.conf'),
    [
      'use chroot = no',
      'uid = root',
      'gid = root',
      ...sites.flatMap((s) => [`[${s.name}]`, `path = ${s.rsyncDst}`, 'read only = no']),
    ].join('\n') + '\n',
  );
  children.push(
    spawn(
      'rsync',
      ['--daemon', '--no-detach', `--port=${rsyncPort}`, '--address=127.0.0.1', `--config=${join(dir, 'rsyncd.conf')}`],
      { stdio: 'inherit' },
    ),
  );
  await sleep(1000);

  const kmesh = async (site: Site, port = gwPort): Promise<{ seconds: number; status: Record<string, unknown> }> => {
    const config = join(dir, `worker-${site.name}.yaml`);
    writeFileSync(
      config,
      stringify({
        dataFlow: `bench/${site.name}`,
        site: 'east',
        treeDir: site.src,
        stateDir: join(dir, 'east-state', site.name),
        statusPort: 0,
        policy: {
          compression: 'none',
          encryption: { algorithm: 'aes-256-gcm', keyFile: join(dir, 'key') },
          parallelism: PARALLELISM,
        },
        peers: [{ name: 'west', endpoint: `127.0.0.1:${port}`, direction: 'push', tlsDir: join(dir, 'tls/east') }],
      } satisfies WorkerConfigDocument),
    );
    const started = performance.now();
    const out = await run(process.execPath, [KMESH, 'sync', '--config', config, '--once']);
    return {
      seconds: (performance.now() - started) / 1000,
      status: JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>,
    };
  };
  const rsync = async (site: Site, port = rsyncPort): Promise<{ seconds: number }> => {
    const started = performance.now();
    await run('rsync', ['-a', '--delete', `${site.src}/`, `rsync://127.0.0.1:${port}/${site.name}/`]);
    return { seconds: (performance.now() - started) / 1000 };
  };
  const viaProxy = async <T>(
    target: number,
    delayMs: number,
    run: (port: number) => Promise<T> | T,
  ): Promise<T & { wireBytes: number }> => {
    const proxy = await TcpProxy.start({ targetPort: target, delayMs });
    try {
      const result = await run(proxy.port);
      return { ...result, wireBytes: proxy.upBytes + proxy.downBytes };
    } finally {
      await proxy.close();
    }
  };
  const rows: string[][] = [];
  const row = (
    scenario: string,
    k: { seconds: number; wireBytes?: number },
    r: { seconds: number; wireBytes?: number },
  ) => {
    const mb = (n?: number) => (n === undefined ? '' : `${(n / MIB).toFixed(2)} MiB`);
    rows.push([
      scenario,
      `${k.seconds.toFixed(2)} s`,
      `${r.seconds.toFixed(2)} s`,
      `${(r.seconds / k.seconds).toFixed(2)}×`,
      mb(k.wireBytes),
      mb(r.wireBytes),
      k.wireBytes && r.wireBytes ? `${(k.wireBytes / r.wireBytes).toFixed(2)}×` : '',
    ]);
    console.log(rows.at(-1)!.join(' | '));
  };
  console.log(
    'scenario | kmesh | rsync | speed (rsync time / kmesh time) | kmesh wire | rsync wire | wire (kmesh / rsync)',
  );

  // 1. First sync of a mixed tree.
  const [mixed, bigfile, small, rtt, rttFar] = sites as [Site, Site, Site, Site, Site];
  if (ONLY.has('mixed')) {
    mixedTree(mixed.src, GIB * 1024 * MIB);
    const k1 = await kmesh(mixed);
    const r1 = await rsync(mixed);
    row(`first sync, ${GIB} GiB mixed, encrypted`, k1, r1);
  }

  // 2. 1 MiB overwrite inside a 2 GiB file; 3. 100-byte insert at its front.
  if (ONLY.has('bigfile')) {
    const big = join(bigfile.src, 'disk.img');
    writeRandomFile(big, 2 * 1024 * MIB);
    await kmesh(bigfile);
    await rsync(bigfile);
    const fd = openSync(big, 'r+');
    writeSync(fd, randomBytes(MIB), 0, MIB, 1024 * MIB + 12345);
    closeSync(fd);
    row(
      '1 MiB overwrite in a 2 GiB file',
      await viaProxy(gwPort, 0, (p) => kmesh(bigfile, p)),
      await viaProxy(rsyncPort, 0, (p) => rsync(bigfile, p)),
    );
    writeFileSync(`${big}.new`, randomBytes(100));
    await run('sh', ['-c', `cat '${big}' >> '${big}.new'`]);
    renameSync(`${big}.new`, big);
    row(
      '100-byte insert at the front of a 2 GiB file',
      await viaProxy(gwPort, 0, (p) => kmesh(bigfile, p)),
      await viaProxy(rsyncPort, 0, (p) => rsync(bigfile, p)),
    );
  }

  // 4. First copy of many small files; 5. a pass with no change.
  if (ONLY.has('small')) {
    smallTree(small.src, SMALL);
    row(`first copy of ${SMALL} small files`, await kmesh(small), await rsync(small));
    const unchanged = await kmesh(small);
    const rsyncUnchanged = await rsync(small);
    row(`no-change pass over ${SMALL} files`, unchanged, rsyncUnchanged);
    // A worker runs all the time in a cluster: its pass without the process start and index load.
    row(
      `no-change pass over ${SMALL} files, pass only (running worker)`,
      { seconds: unchanged.status['passSeconds'] as number },
      rsyncUnchanged,
    );
  }

  // 6. One flow at 20 ms RTT (10 ms each way through the proxy) against the same data on loopback.
  if (ONLY.has('rtt')) {
    mkdirSync(rtt.src, { recursive: true });
    // Different random bytes for each flow: the gateway dedups across DataFlows.
    for (const site of [rtt, rttFar])
      for (let i = 0; i < RTT_MIB / 64; i++) writeRandomFile(join(site.src, `part-${i}.bin`), 64 * MIB);
    const loop = await viaProxy(gwPort, 0, (p) => kmesh(rtt, p));
    const far = await viaProxy(gwPort, 10, (p) => kmesh(rttFar, p));
    const rsyncFar = await viaProxy(rsyncPort, 10, (p) => rsync(rtt, p));
    console.log(
      `20 ms RTT: kmesh ${far.seconds.toFixed(2)} s vs ${loop.seconds.toFixed(2)} s on loopback through the same proxy = ${((loop.seconds / far.seconds) * 100).toFixed(0)}% of loopback throughput; rsync at 20 ms ${rsyncFar.seconds.toFixed(2)} s`,
    );
  }
  console.log(
    '\n| scenario | kmesh | rsync | speed | kmesh wire | rsync wire | wire ratio |\n|---|---|---|---|---|---|---|',
  );
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });
