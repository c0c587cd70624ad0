/**
 * A cached tree of another site's DataFlow, for real: east's worker publishes its version, east's
 * gateway serves it over mTLS, and at west `kmesh fs mount --cache-config` serves the namespace at
 * once through FUSE and fetches file data as it is read (docs/architecture.md#cross-site-caching).
 * The server runs in a process of its own. This process serves east's gateway, so everything that
 * touches the mount here is asynchronous: a synchronous read would block the very event loop that
 * must answer the fetch it waits for.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { lstat, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { CacheConfigDocument } from '../../api/sync-config/cache.js';
import type { CacheStats } from '../../fs/cache/cache-tree.js';
import { CertificateAuthority } from '../../hack/pki.js';
import { loggerFor } from '../../lib/logging.js';
import { parseWorkerConfig } from '../../sync/config.js';
import { initCodecs } from '../../sync/engine/seal.js';
import { startGateway, type Gateway } from '../../sync/gateway/server.js';
import type { TlsMaterial } from '../../sync/wire/tls.js';
import { Worker } from '../../sync/worker/worker.js';
import { eventually } from '../support/eventually.js';
import { KmeshFs, run } from '../support/kmesh-fs.js';
import { siteTls, writeTlsDir } from '../support/sync.js';

const KEY = randomBytes(32);
const MiB = 1024 * 1024;
const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** What two trees must share: names, types, modes, sizes, contents, symlink targets. */
async function listing(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(root, rel))).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(root, path));
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isDirectory()) out.push(`d ${path} ${mode}`, ...(await listing(root, path)));
    else if (st.isSymbolicLink()) out.push(`l ${path} -> ${await readlink(join(root, path))}`);
    else out.push(`f ${path} ${mode} ${st.size} ${sha(await readFile(join(root, path)))}`);
  }
  return out;
}

describe('a cached tree of another site (access: cache)', () => {
  let ca: CertificateAuthority;
  const tls: Record<'east' | 'west', TlsMaterial> = {} as never;
  let top: string;
  let src: string;
  let workerState: string;
  let worker: Worker;
  let gateway: Gateway | undefined;
  const mounts: KmeshFs[] = [];

  beforeAll(async () => {
    await initCodecs();
    ca = await CertificateAuthority.create('kmesh-test-ca');
    for (const site of ['east', 'west'] as const) tls[site] = await siteTls(ca, site);
  });

  beforeEach(async () => {
    top = mkdtempSync(join(tmpdir(), 'kmesh-cache-'));
    src = join(top, 'east/dataflows/shared');
    workerState = join(top, 'east/.kmesh/worker/team-a/shared');
    mkdirSync(src, { recursive: true });
    worker = new Worker(
      parseWorkerConfig(`dataFlow: team-a/shared\nsite: east\ntreeDir: ${src}\nstateDir: ${workerState}\n`),
      loggerFor('test-worker'),
    );
    gateway = await startGateway({
      host: '127.0.0.1',
      port: 0,
      tls: tls.east,
      dataFlows: () => [
        {
          name: 'team-a/shared',
          treeDir: src,
          stateDir: join(top, 'east/.kmesh/gateway/team-a/shared'),
          deletedRetentionMs: 3_600_000,
          peers: [{ name: 'west', direction: 'push' }],
          encryption: 'aes-256-gcm',
          key: KEY,
          publishedFile: join(workerState, 'published.json'),
        },
      ],
      log: loggerFor('test-gateway'),
    });
  });

  afterEach(async () => {
    const problems: string[] = [];
    for (const mount of mounts.splice(0)) await mount.stop().catch((e: Error) => problems.push(e.message));
    await gateway?.close();
    gateway = undefined;
    rmSync(top, { recursive: true, force: true });
    if (problems.length) throw new Error(problems.join('\n'));
  });

  /** Mounts west's cache of east's DataFlow. */
  async function mountCache(extra: Partial<CacheConfigDocument> = {}): Promise<KmeshFs> {
    const keyFile = join(top, 'west-key');
    writeFileSync(keyFile, KEY);
    const config: CacheConfigDocument = {
      site: 'west',
      origin: {
        name: 'east',
        endpoint: `127.0.0.1:${gateway!.port}`,
        dataFlow: 'team-a/shared',
        tlsDir: writeTlsDir(join(top, 'west-tls'), tls.west),
      },
      policy: { compression: 'lz4', encryption: { algorithm: 'aes-256-gcm', keyFile } },
      refresh: '500ms',
      connectTimeout: '3s',
      ...extra,
    };
    const file = join(top, 'cache.yaml');
    writeFileSync(file, stringify(config));
    return KmeshFs.start({ passthrough: true, args: ['--cache-config', file] }, mounts);
  }

  async function stats(fs: KmeshFs): Promise<CacheStats> {
    // Written every second by the server.
    return eventually(() => JSON.parse(readFileSync(join(fs.top, 'state', 'cache-stats.json'), 'utf8')) as CacheStats);
  }

  /** The stats once they stopped changing (two writes in a row alike): what was read has been counted. */
  async function settled(fs: KmeshFs): Promise<CacheStats> {
    return eventually(async () => {
      const before = JSON.stringify(await stats(fs));
      await new Promise((resolve) => setTimeout(resolve, 1200));
      const after = await stats(fs);
      if (JSON.stringify(after) !== before) throw new Error(`still changing: ${JSON.stringify(after)}`);
      return after;
    });
  }

  /** A tree of ~40 MiB: big random files, a mostly-zero file, odd names, a symlink, an empty file. */
  function writeTree(): void {
    for (const d of ['models/v1', 'odd names/deeper', 'logs']) mkdirSync(join(src, d), { recursive: true });
    writeFileSync(join(src, 'models/v1/weights.bin'), randomBytes(20 * MiB));
    writeFileSync(join(src, 'models/v1/ten.bin'), randomBytes(10 * MiB));
    writeFileSync(
      join(src, 'models/sparse.img'),
      Buffer.concat([randomBytes(1000), Buffer.alloc(8 * MiB), randomBytes(10)]),
    );
    for (const name of ['with space.txt', 'café.txt', 'new\nline', '日本語.txt', '-dash'])
      writeFileSync(join(src, 'odd names', name), `${name}\n`.repeat(100));
    writeFileSync(join(src, 'odd names/deeper/empty'), '');
    for (let i = 0; i < 30; i++) writeFileSync(join(src, 'logs', `log-${i}.txt`), randomBytes(1000 + i * 97));
    symlinkSync('models/v1', join(src, 'current'));
  }

  it('shows the whole namespace at once, fetches only what is read, and reads byte for byte', async () => {
    writeTree();
    expect(await worker.pass()).toBe(true);
    const fs = await mountCache();
    // The namespace is there before a byte of file data moved.
    expect((await readdir(join(fs.mountpoint, 'models/v1'))).sort()).toEqual(['ten.bin', 'weights.bin']);
    expect((await lstat(join(fs.mountpoint, 'models/v1/weights.bin'))).size).toBe(20 * MiB);
    expect(await readlink(join(fs.mountpoint, 'current'))).toBe('models/v1');
    expect((await stats(fs)).bytesFetched).toBe(0);

    // One 10 MiB file: what moves is that file, not the tree (read-ahead stops at its end).
    expect(sha(await readFile(join(fs.mountpoint, 'models/v1/ten.bin')))).toBe(
      sha(readFileSync(join(src, 'models/v1/ten.bin'))),
    );
    const one = await eventually(async () => {
      const s = await stats(fs);
      if (s.filesCompleted < 1) throw new Error(`not complete yet: ${JSON.stringify(s)}`);
      return s;
    });
    expect(one.bytesFetched).toBeGreaterThanOrEqual(10 * MiB);
    expect(one.bytesFetched).toBeLessThanOrEqual(1.1 * 10 * MiB);

    // Everything else, and a second read costs nothing more.
    expect(await listing(fs.mountpoint)).toEqual(await listing(src));
    const all = await settled(fs);
    expect(await listing(fs.mountpoint)).toEqual(await listing(src));
    const again = await settled(fs);
    expect(again.bytesFetched).toBe(all.bytesFetched);
    // The 8 MiB of zeros never travelled.
    expect(again.bytesFetched).toBeLessThan(31 * MiB + 200_000);
  });

  it('follows the origin: new, changed and removed files appear without a remount', async () => {
    writeTree();
    expect(await worker.pass()).toBe(true);
    const fs = await mountCache();
    expect(await listing(fs.mountpoint)).toEqual(await listing(src));
    writeFileSync(join(src, 'models/v1/ten.bin'), randomBytes(3 * MiB));
    writeFileSync(join(src, 'logs/new.txt'), 'a new log\n');
    rmSync(join(src, 'odd names'), { recursive: true });
    expect(await worker.pass()).toBe(true);
    await eventually(async () => expect(await listing(fs.mountpoint)).toEqual(await listing(src)), 20_000);
  });

  it('keeps what was written here, and keeps serving what is here when the origin is gone', async () => {
    writeTree();
    expect(await worker.pass()).toBe(true);
    const fs = await mountCache();
    const local = join(fs.mountpoint, 'logs/log-1.txt');
    await writeFile(local, 'written at west\n');
    const cached = await readFile(join(fs.mountpoint, 'models/v1/ten.bin'));
    // The origin changes the file written here: the local version stays.
    writeFileSync(join(src, 'logs/log-1.txt'), 'changed at east\n');
    writeFileSync(join(src, 'logs/marker'), 'x');
    expect(await worker.pass()).toBe(true);
    await eventually(async () => expect(await readdir(join(fs.mountpoint, 'logs'))).toContain('marker'), 20_000);
    expect(await readFile(local, 'utf8')).toBe('written at west\n');

    await gateway!.close();
    gateway = undefined;
    // Cached data keeps serving; a file never read fails with EIO (after the bounded connect timeout).
    expect((await readFile(join(fs.mountpoint, 'models/v1/ten.bin'))).equals(cached)).toBe(true);
    const ran = await run('cat', [join(fs.mountpoint, 'models/v1/weights.bin')], { timeoutMs: 60_000 });
    expect(ran.timedOut).toBe(false);
    expect(ran.code).not.toBe(0);
    expect(ran.output).toMatch(/Input\/output error/);
  });

  it('gives fetched bytes back past its size, least recently used first, and fetches them again when read', async () => {
    writeTree();
    expect(await worker.pass()).toBe(true);
    const fs = await mountCache({ size: '25Mi' });
    const ten = await readFile(join(fs.mountpoint, 'models/v1/ten.bin'));
    await readFile(join(fs.mountpoint, 'models/v1/weights.bin'));
    const evicted = await eventually(async () => {
      const s = await stats(fs);
      if (s.evictions < 1) throw new Error(`nothing evicted yet: ${JSON.stringify(s)}`);
      return s;
    });
    expect(evicted.cachedBytes).toBeLessThanOrEqual(25 * MiB);
    // The backing file of the evicted one holds no data now; reading it fetches again, same bytes.
    const du = await run('du', ['-k', join(fs.backing, 'models/v1/ten.bin')], { timeoutMs: 10_000 });
    expect(Number(du.output.split('\t')[0])).toBeLessThan(1024);
    expect((await readFile(join(fs.mountpoint, 'models/v1/ten.bin'))).equals(ten)).toBe(true);
    await eventually(async () => expect((await stats(fs)).bytesFetched).toBeGreaterThan(evicted.bytesFetched));
  });
});
