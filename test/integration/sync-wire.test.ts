/**
 * A worker and a gateway over real mTLS on loopback: whole trees travel and arrive byte-identical
 * (checked by a tree listing that shares no code with the engine), and every kind of bad peer or
 * bad stream is refused with a clear error while the destination stays untouched.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from '../../hack/pki.js';
import { loggerFor } from '../../lib/logging.js';
import { chunkHash, Chunker } from '../../sync/engine/chunker.js';
import { chunkReader, pushVersion } from '../../sync/engine/push.js';
import { scanTree } from '../../sync/engine/scan.js';
import { subtreeVersion } from '../../sync/engine/subtree.js';
import { initCodecs, sealChunk, type SealPolicy } from '../../sync/engine/seal.js';
import { TreeIndex } from '../../sync/engine/tree-index.js';
import { startGateway, type Gateway } from '../../sync/gateway/server.js';
import type { ServedDataFlow } from '../../sync/gateway/sites.js';
import { WireSession, type SessionOptions } from '../../sync/wire/client.js';
import { BULK_ALPN, encodeFrame, raw } from '../../sync/wire/protocol.js';
import type { TlsMaterial } from '../../sync/wire/tls.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { treeListing } from '../support/tree-hash.js';
import { siteTls } from '../support/sync.js';

const KEY = randomBytes(32);
const POLICY: SealPolicy = { compression: 'zstd', encryption: 'aes-256-gcm', key: KEY };
const chunker = new Chunker({ minBytes: 16 * 1024, avgBytes: 64 * 1024, maxBytes: 256 * 1024 });

describe('sync over mTLS (worker → gateway)', () => {
  let ca: CertificateAuthority;
  let east: TlsMaterial;
  let west: TlsMaterial;
  let top: string;
  let src: string;
  let dst: string;
  let gateway: Gateway;
  let served: ServedDataFlow;

  beforeAll(async () => {
    await initCodecs();
    ca = await CertificateAuthority.create('kmesh-test-ca');
    east = await siteTls(ca, 'east');
    west = await siteTls(ca, 'west');
  });

  beforeEach(async () => {
    top = mkdtempSync(join(tmpdir(), 'kmesh-wire-'));
    src = join(top, 'src');
    dst = join(top, 'west/dataflows/shared');
    mkdirSync(src, { recursive: true });
    mkdirSync(dst, { recursive: true }); // the operator creates the access point
    served = {
      name: 'team-a/shared',
      treeDir: dst,
      stateDir: join(top, 'west/.kmesh/team-a/shared'),
      deletedRetentionMs: 3_600_000,
      peers: [{ name: 'east', direction: 'pull' }],
      encryption: 'aes-256-gcm',
      key: KEY,
    };
    gateway = await startGateway({
      host: '127.0.0.1',
      port: 0,
      tls: west,
      dataFlows: () => [served],
      log: loggerFor('test-gateway'),
    });
  });

  afterEach(async () => {
    await gateway.close();
    rmSync(top, { recursive: true, force: true });
  });
  afterAll(() => undefined);

  const options = (over: Partial<SessionOptions> = {}): SessionOptions => ({
    tls: east,
    site: 'east',
    policy: POLICY,
    parallelism: 4,
    windowBytes: 1024 * 1024,
    ...over,
  });
  const target = () => ({ name: 'west', endpoint: `127.0.0.1:${gateway.port}`, remoteDataFlow: 'team-a/shared' });
  const index = new TreeIndex();

  async function syncOnce(over: Partial<SessionOptions> = {}, paths?: string[]) {
    const version = await scanTree(src, { index, chunker, site: 'east' });
    const session = await WireSession.open(target(), options(over));
    const reader = chunkReader(src, version);
    try {
      return await pushVersion(subtreeVersion(version, paths), session, reader);
    } finally {
      await reader.close();
      session.close();
    }
  }

  it('syncs a tree, then its edits, renames, deletes and symlinks; trees stay identical', async () => {
    mkdirSync(join(src, 'models/v1'), { recursive: true });
    writeFileSync(join(src, 'models/v1/weights.bin'), randomBytes(2 * 1024 * 1024));
    writeFileSync(join(src, 'readme.md'), '# models\n'.repeat(1000));
    writeFileSync(join(src, 'empty'), '');
    symlinkSync('models/v1', join(src, 'current'));
    chmodSync(join(src, 'readme.md'), 0o600);
    utimesSync(join(src, 'empty'), 1_500_000_000, 1_500_000_000.5);
    for (let i = 0; i < 50; i++) writeFileSync(join(src, `models/small-${i}.json`), JSON.stringify({ i }));
    const first = await syncOnce();
    expect(treeListing(dst)).toEqual(treeListing(src));
    expect(first.bytesSent).toBeGreaterThan(2 * 1024 * 1024);

    renameSync(join(src, 'models/v1'), join(src, 'models/v2'));
    rmSync(join(src, 'current'));
    symlinkSync('models/v2', join(src, 'current'));
    rmSync(join(src, 'models/small-7.json'));
    writeFileSync(join(src, 'models/small-8.json'), 'changed');
    const second = await syncOnce();
    expect(treeListing(dst)).toEqual(treeListing(src));
    expect(second.bytesSent).toBeLessThan(1024); // the rename moved no chunk; only one small file changed

    const again = await syncOnce();
    expect(again.unchanged).toBe(true);
  });

  it('gives a peer with paths only those subtrees, and removes what it held outside them', async () => {
    for (const d of ['models/v1', 'data/shared', 'data/private']) mkdirSync(join(src, d), { recursive: true });
    writeFileSync(join(src, 'models/v1/weights.bin'), randomBytes(300_000));
    writeFileSync(join(src, 'data/shared/a.csv'), 'a,1');
    writeFileSync(join(src, 'data/private/secret.csv'), 'not for west');
    writeFileSync(join(src, 'readme.md'), 'top');
    await syncOnce(); // west first held everything
    expect(treeListing(dst)).toEqual(treeListing(src));

    const first = await syncOnce({}, ['/models', '/data/shared']);
    expect(first.bytesSent).toBe(0); // west holds every chunk already: only manifests changed
    const names = (listing: string[]) => listing.map((l) => l.split(' ').slice(0, 2).join(' '));
    expect(names(treeListing(dst))).toEqual([
      'd data',
      'd data/shared',
      'f data/shared/a.csv',
      'd models',
      'd models/v1',
      'f models/v1/weights.bin',
    ]);
    expect(treeListing(dst).filter((l) => l.includes('models/'))).toEqual(
      treeListing(src).filter((l) => l.includes('models/')),
    );

    writeFileSync(join(src, 'data/private/secret.csv'), 'still not for west');
    expect((await syncOnce({}, ['/models', '/data/shared'])).unchanged).toBe(true);
    writeFileSync(join(src, 'data/shared/a.csv'), 'a,2');
    await syncOnce({}, ['/models', '/data/shared']);
    expect(readdirSync(join(dst, 'data'))).toEqual(['shared']);
    expect(treeListing(dst).filter((l) => l.includes('a.csv'))).toEqual(
      treeListing(src).filter((l) => l.includes('a.csv')),
    );
  });

  it('carries a 2 GiB sparse file as one zero chunk plus its data, and keeps it sparse', async () => {
    const sparse = join(src, 'disk.img');
    writeFileSync(sparse, 'boot sector');
    truncateSync(sparse, 2 * 1024 ** 3);
    const result = await syncOnce();
    expect(treeListing(dst)).toEqual(treeListing(src));
    expect(result.bytesSent).toBeLessThan(1024 * 1024);
  });

  it('refuses a sender whose key differs, before any data moves', async () => {
    writeFileSync(join(src, 'a'), 'x');
    await expect(syncOnce({ policy: { ...POLICY, key: randomBytes(32) } })).rejects.toThrow(
      /key for dataflow team-a\/shared differs/,
    );
    expect(readdirSync(dst)).toEqual([]);
  });

  it('refuses a sender using another encryption algorithm', async () => {
    await expect(syncOnce({ policy: { compression: 'none', encryption: 'none' } })).rejects.toThrow(
      /sender uses none, dataflow team-a\/shared at this site uses aes-256-gcm/,
    );
  });

  it('refuses a certificate from an untrusted CA', async () => {
    const rogue = await siteTls(await CertificateAuthority.create('rogue-ca'), 'east');
    writeFileSync(join(src, 'a'), 'x');
    await expect(syncOnce({ tls: { ...rogue, ca: east.ca } })).rejects.toThrow(
      /does not accept this site's certificate/,
    );
    expect(readdirSync(dst)).toEqual([]);
  });

  it('refuses a trusted site that is not a peer of the DataFlow', async () => {
    const north = await siteTls(ca, 'north');
    await expect(syncOnce({ tls: north })).rejects.toThrow(/north is not a peer of dataflow team-a\/shared/);
  });

  it('a call on a connection that stops answering fails within the stall timeout, not at its deadline', async () => {
    const proxy = await TcpProxy.start({ targetPort: gateway.port });
    const session = await WireSession.open(
      { ...target(), endpoint: `127.0.0.1:${proxy.port}` },
      options({ stallTimeoutMs: 1000, callTimeoutMs: 30_000 }),
    );
    try {
      proxy.freezeOpen(); // the link drops everything from now on, silently
      const failure = await session.missingNodes([chunkHash(Buffer.from('anything'))]).then(
        () => new Error('the call succeeded'),
        (error: Error) => error,
      );
      // The keepalive ping went unanswered: UNAVAILABLE, not DEADLINE_EXCEEDED 30 s later.
      expect(failure.message).not.toMatch(/deadline|succeeded/i);
      expect(failure.message).toMatch(/MissingNodes/);
    } finally {
      session.close();
      await proxy.close();
    }
  });

  it('refuses to talk to a gateway that is not the expected peer', async () => {
    const session = WireSession.open({ ...target(), name: 'south' }, options());
    await expect(session).rejects.toThrow(/expected south/);
  });

  describe('bulk streams', () => {
    async function rawBulk(frames: Buffer[], end: 'whole' | 'truncate'): Promise<string> {
      const session = await WireSession.open(target(), options());
      const id = (session as unknown as { sessionId: string }).sessionId;
      session.close();
      const socket = connect({
        host: '127.0.0.1',
        port: gateway.port,
        ca: east.ca,
        cert: east.cert,
        key: east.key,
        ALPNProtocols: [BULK_ALPN],
        checkServerIdentity: () => undefined,
      });
      await new Promise((resolve) => socket.once('secureConnect', resolve));
      const received: Buffer[] = [];
      socket.on('data', (d: Buffer) => received.push(d));
      const closed = new Promise((resolve) => socket.once('close', resolve));
      socket.write(encodeFrame({ open: { session_id: id } }));
      for (const f of frames) socket.write(f);
      if (end === 'truncate') socket.end();
      else setTimeout(() => socket.end(), 200);
      await closed;
      return Buffer.concat(received).toString('latin1');
    }

    it('rejects tampered ciphertext and stores nothing', async () => {
      const data = randomBytes(1000);
      const hash = chunkHash(data);
      const { codec, payload } = sealChunk(data, hash, POLICY);
      payload[20] = payload[20]! ^ 1;
      const reply = await rawBulk([encodeFrame({ chunk: { hash: raw(hash), codec, payload } })], 'whole');
      expect(reply).toContain('failed authentication');
      expect(gateway.sites.has(hash)).toBe(false);
    });

    it('rejects a chunk sealed with another key', async () => {
      const data = randomBytes(1000);
      const hash = chunkHash(data);
      const { codec, payload } = sealChunk(data, hash, { ...POLICY, key: randomBytes(32) });
      const reply = await rawBulk([encodeFrame({ chunk: { hash: raw(hash), codec, payload } })], 'whole');
      expect(reply).toContain('wrong encryption key');
      expect(gateway.sites.has(hash)).toBe(false);
    });

    it('rejects a chunk sent under another chunk’s name', async () => {
      const data = randomBytes(1000);
      const other = chunkHash(randomBytes(10));
      const { codec, payload } = sealChunk(data, other, POLICY);
      const reply = await rawBulk([encodeFrame({ chunk: { hash: raw(other), codec, payload } })], 'whole');
      expect(reply).toContain('does not match its hash');
      expect(gateway.sites.has(other)).toBe(false);
    });

    it('ends the stream of a peer that sends a malformed frame, and goes on serving others', async () => {
      // A well-framed body that is not a BulkFrame: field 1 announced as 100 bytes long, 3 given.
      const garbage = Buffer.from([0x0a, 0x64, 1, 2, 3]);
      const framed = Buffer.concat([Buffer.from([0, 0, 0, garbage.length]), garbage]);
      expect(await rawBulk([framed], 'whole')).toContain('malformed frame');
      const data = randomBytes(1000);
      const hash = chunkHash(data);
      const { codec, payload } = sealChunk(data, hash, POLICY);
      expect(await rawBulk([encodeFrame({ chunk: { hash: raw(hash), codec, payload } })], 'whole')).not.toContain(
        'error',
      );
      expect(gateway.sites.has(hash)).toBe(true);
    });

    it('discards a frame cut short by the end of the stream', async () => {
      const data = randomBytes(100_000);
      const hash = chunkHash(data);
      const { codec, payload } = sealChunk(data, hash, POLICY);
      const frame = encodeFrame({ chunk: { hash: raw(hash), codec, payload } });
      await rawBulk([frame.subarray(0, frame.length - 10)], 'truncate');
      expect(gateway.sites.has(hash)).toBe(false);
      // The same chunk whole is accepted and acknowledged.
      const reply = await rawBulk([frame], 'whole');
      expect(reply).not.toContain('refused');
      expect(gateway.sites.has(hash)).toBe(true);
    });
  });
});
