/**
 * The read path of the sync protocol over real mTLS on loopback: a worker publishes its version,
 * the gateway of its site serves it, and a peer reads it lazily (GetNodes, FetchChunks) and
 * rebuilds every file byte for byte. Refusals say why: a peer that may not read, a wrong key,
 * nothing published, a node or chunk outside a peer's view, a chunk whose file changed.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { CertificateAuthority } from '../../hack/pki.js';
import { loggerFor } from '../../lib/logging.js';
import { chunkHash } from '../../sync/engine/chunker.js';
import { decodeNode, entryChunks, walk, type FileEntry, type Hash } from '../../sync/engine/manifest.js';
import { readPublished } from '../../sync/engine/published.js';
import { TransferError } from '../../sync/engine/push.js';
import { initCodecs, openChunk, type Compression, type SealPolicy } from '../../sync/engine/seal.js';
import { subtreeVersion } from '../../sync/engine/subtree.js';
import { parseWorkerConfig } from '../../sync/config.js';
import { startGateway, type Gateway } from '../../sync/gateway/server.js';
import type { ServedDataFlow } from '../../sync/gateway/sites.js';
import { call, openSession, type ChannelOptions } from '../../sync/wire/channel.js';
import { FETCH_CHUNKS_MAX, hex, raw, type ChunkFrame__Output } from '../../sync/wire/protocol.js';
import { openRead, type RemoteReader } from '../../sync/wire/read-client.js';
import type { TlsMaterial } from '../../sync/wire/tls.js';
import { Worker } from '../../sync/worker/worker.js';
import { siteTls } from '../support/sync.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const KEY = randomBytes(32);
const POLICY: SealPolicy = { compression: 'lz4', encryption: 'aes-256-gcm', key: KEY };
const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** The tree as files (content), symlinks (target) and directories, by path: shares no code with the engine. */
function sourceTree(dir: string, prefix = '', out = new Map<string, Buffer | string>()): Map<string, Buffer | string> {
  for (const name of readdirSync(join(dir, prefix))) {
    const path = prefix ? `${prefix}/${name}` : name;
    const st = lstatSync(join(dir, path));
    if (st.isDirectory()) {
      out.set(path, 'dir');
      sourceTree(dir, path, out);
    } else if (st.isSymbolicLink()) out.set(path, `-> ${readlinkSync(join(dir, path))}`);
    else out.set(path, readFileSync(join(dir, path)));
  }
  return out;
}

/** Rebuilds the version a reader sees, fetching every node and every chunk through it. */
async function readTree(reader: RemoteReader): Promise<{ tree: Map<string, Buffer | string>; chunks: number }> {
  const tree = new Map<string, Buffer | string>();
  let chunks = 0;
  let level: [string, Hash][] = [['', reader.root]];
  while (level.length) {
    const nodes = await reader.getNodes(level.map(([, hash]) => hash));
    const next: [string, Hash][] = [];
    for (const [prefix, hash] of level) {
      const node = decodeNode(nodes.get(hash)!, hash);
      if (node.type !== 'dir') throw new Error(`${hash} is not a directory node`);
      for (const entry of node.entries) {
        const path = prefix ? `${prefix}/${entry.name}` : entry.name;
        if (entry.type === 'dir') {
          tree.set(path, 'dir');
          next.push([path, entry.node]);
        } else if (entry.type === 'symlink') tree.set(path, `-> ${entry.target}`);
        else {
          let list = entry.chunks ?? [];
          if (entry.blocks) {
            const blocks = await reader.getNodes(entry.blocks.map(([h]) => h));
            list = entry.blocks.flatMap(([h]) => {
              const block = decodeNode(blocks.get(h)!, h);
              if (block.type !== 'chunks') throw new Error(`${h} is not a chunk list`);
              return block.chunks;
            });
          }
          const parts: Buffer[] = [];
          for await (const { hash: got, data } of reader.fetchChunks(list.map(([h]) => h))) {
            expect(chunkHash(data)).toBe(got);
            parts.push(data);
          }
          chunks += parts.length;
          const content = Buffer.concat(parts);
          expect(content.length).toBe(entry.sizeBytes);
          tree.set(path, content);
        }
      }
    }
    level = next;
  }
  return { tree, chunks };
}

/** Byte equality of two trees from sourceTree/readTree, naming the first path that differs. */
function expectSameTree(actual: Map<string, Buffer | string>, expected: Map<string, Buffer | string>) {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [path, want] of expected) {
    const got = actual.get(path)!;
    if (Buffer.isBuffer(want)) {
      expect({ path, same: Buffer.isBuffer(got) && Buffer.compare(got, want) === 0 }).toEqual({ path, same: true });
    } else expect({ path, got }).toEqual({ path, got: want });
  }
}

/** The TransferError a promise rejects with, and its gRPC code. */
async function refusal(promise: Promise<unknown>): Promise<{ error: TransferError; code: number | undefined }> {
  const error = await promise.then(
    () => new Error('it succeeded'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TransferError);
  return { error: error as TransferError, code: ((error as TransferError).cause as ServiceError | undefined)?.code };
}

describe('reads of a published version (access: cache) over mTLS', () => {
  let ca: CertificateAuthority;
  const tls: Record<'east' | 'west' | 'north' | 'south', TlsMaterial> = {} as never;
  let top: string;
  let src: string;
  let workerState: string;
  let worker: Worker;
  let gateway: Gateway;
  let served: ServedDataFlow[];

  beforeAll(async () => {
    await initCodecs();
    ca = await CertificateAuthority.create('kmesh-test-ca');
    for (const site of ['east', 'west', 'north', 'south'] as const) tls[site] = await siteTls(ca, site);
  });

  beforeEach(async () => {
    top = mkdtempSync(join(tmpdir(), 'kmesh-read-'));
    src = join(top, 'east/dataflows/shared');
    workerState = join(top, 'east/.kmesh/worker/team-a/shared');
    mkdirSync(src, { recursive: true });
    worker = new Worker(
      parseWorkerConfig(`dataFlow: team-a/shared\nsite: east\ntreeDir: ${src}\nstateDir: ${workerState}\n`),
      loggerFor('test-worker'),
    );
    served = [
      {
        name: 'team-a/shared',
        treeDir: src,
        stateDir: join(top, 'east/.kmesh/gateway/team-a/shared'),
        deletedRetentionMs: 3_600_000,
        peers: [
          { name: 'west', direction: 'push' },
          { name: 'north', direction: 'pull' },
          { name: 'south', direction: 'push', paths: ['/models'] },
        ],
        encryption: 'aes-256-gcm',
        key: KEY,
        publishedFile: join(workerState, 'published.json'),
      },
      {
        name: 'team-a/quiet',
        treeDir: join(top, 'east/dataflows/quiet'),
        stateDir: join(top, 'east/.kmesh/gateway/team-a/quiet'),
        deletedRetentionMs: 3_600_000,
        peers: [{ name: 'west', direction: 'push' }],
        encryption: 'aes-256-gcm',
        key: KEY,
        publishedFile: join(top, 'east/.kmesh/worker/team-a/quiet/published.json'),
      },
    ];
    gateway = await startGateway({
      host: '127.0.0.1',
      port: 0,
      tls: tls.east,
      dataFlows: () => served,
      log: loggerFor('test-gateway'),
    });
  });

  afterEach(async () => {
    await gateway.close();
    rmSync(top, { recursive: true, force: true });
  });

  const target = (remoteDataFlow = 'team-a/shared') => ({
    name: 'east',
    endpoint: `127.0.0.1:${gateway.port}`,
    remoteDataFlow,
  });
  const options = (site: keyof typeof tls, over: Partial<ChannelOptions> = {}): ChannelOptions => ({
    tls: tls[site],
    site,
    policy: POLICY,
    ...over,
  });

  /** A tree with odd names, a multi-MiB random file (its chunk list in list nodes), zeros and a symlink. */
  function writeTree(): void {
    for (const d of ['models/v1', 'data/private', 'odd names/deeper', 'hollow'])
      mkdirSync(join(src, d), { recursive: true });
    writeFileSync(join(src, 'models/v1/weights.bin'), randomBytes(20 * 1024 * 1024));
    writeFileSync(join(src, 'models/readme.md'), '# models\nweights of the week\n'.repeat(20_000));
    writeFileSync(
      join(src, 'models/v1/padded.img'),
      Buffer.concat([randomBytes(300_000), Buffer.alloc(3 * 1024 * 1024), randomBytes(1000)]),
    );
    writeFileSync(join(src, 'data/private/secret.csv'), 'not for south\n'.repeat(100));
    for (const name of [
      'with space.txt',
      'caf\u00e9.txt', // composed
      'cafe\u0301.txt', // decomposed: another name
      'back\\slash',
      'new\nline',
      '日本語 ファイル.txt',
      `${'long-'.repeat(40)}.bin`,
    ])
      writeFileSync(join(src, 'odd names', name), `${name}\n`.repeat(50));
    writeFileSync(join(src, 'odd names/deeper/empty'), '');
    symlinkSync('models/v1', join(src, 'current'));
  }

  it('reads every node and chunk of the published version and rebuilds the tree byte for byte', async () => {
    writeTree();
    expect(await worker.pass()).toBe(true);
    const reader = await openRead(target(), options('west'));
    try {
      expect(reader.root).toBe(worker.status().root);
      const published = readPublished(join(workerState, 'published.json'));
      const weights = [...walk(published.nodes, published.root)].find((e) => e.path === 'models/v1/weights.bin')!
        .entry as FileEntry;
      expect(weights.blocks?.length).toBeGreaterThan(0); // the big file's chunk list came through GetNodes too
      const { tree, chunks } = await readTree(reader);
      expectSameTree(tree, sourceTree(src));
      expect(chunks).toBeGreaterThan(64);
    } finally {
      reader.close();
    }
  });

  it('tells a reader of a newer version without changing what its session reads', async () => {
    writeTree();
    expect(await worker.pass()).toBe(true);
    const reader = await openRead(target(), options('west'));
    try {
      const first = reader.root;
      expect(await reader.currentRoot()).toBe(first);
      writeFileSync(join(src, 'added.txt'), 'a newer version');
      expect(await worker.pass()).toBe(true);
      const newer = worker.status().root;
      expect(newer).not.toBe(first);
      expect(await reader.currentRoot()).toBe(newer);
      expect(reader.root).toBe(first);
      // The session still reads its own version's nodes.
      expect((await reader.getNodes([first])).has(first)).toBe(true);
    } finally {
      reader.close();
    }
  });

  it('refuses a peer that only sends here (pull), naming the peers that may read', async () => {
    writeTree();
    await worker.pass();
    const { error, code } = await refusal(openRead(target(), options('north')));
    expect(code).toBe(status.PERMISSION_DENIED);
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(
      /north is not a peer of dataflow team-a\/shared that may read it \(the peers it sends to, direction push, may: west, south\)/,
    );
  });

  it('gives a peer with paths the root of its view, and nothing outside it', async () => {
    writeTree();
    await worker.pass();
    const published = readPublished(join(workerState, 'published.json'));
    const reader = await openRead(target(), options('south'));
    try {
      expect(reader.root).toBe(subtreeVersion(published, ['/models']).root);
      expect(reader.root).not.toBe(published.root);
      const { tree } = await readTree(reader);
      expect([...tree.keys()].every((path) => path === 'models' || path.startsWith('models/'))).toBe(true);
      const whole = sourceTree(src);
      expectSameTree(tree, new Map([...whole].filter(([path]) => path === 'models' || path.startsWith('models/'))));

      const data = [...walk(published.nodes, published.root)].find((e) => e.path === 'data')!.entry as { node: Hash };
      for (const outside of [published.root, data.node]) {
        const { error, code } = await refusal(reader.getNodes([outside]));
        expect(code).toBe(status.NOT_FOUND);
        expect(error.message).toContain(`manifest node ${outside} is not in version ${reader.root}`);
      }
      const secret = [...walk(published.nodes, published.root)].find((e) => e.path === 'data/private/secret.csv')!;
      const [secretChunk] = entryChunks(secret.entry as FileEntry, published.nodes).map(([h]) => h);
      const { error, code } = await refusal(drain(reader.fetchChunks([secretChunk!])));
      expect(code).toBe(status.NOT_FOUND);
      expect(error.message).toContain(`chunk ${secretChunk} is not in version ${reader.root}`);
    } finally {
      reader.close();
    }
  });

  it('fails a chunk whose file changed since publishing, and the next version reads whole', async () => {
    writeTree();
    await worker.pass();
    const published = readPublished(join(workerState, 'published.json'));
    const readme = [...walk(published.nodes, published.root)].find((e) => e.path === 'models/readme.md')!;
    const chunks = entryChunks(readme.entry as FileEntry, published.nodes).map(([h]) => h);
    const reader = await openRead(target(), options('west'));
    try {
      writeFileSync(join(src, 'models/readme.md'), '# models\nrewritten\n'.repeat(20_000));
      const { error, code } = await refusal(drain(reader.fetchChunks(chunks)));
      expect(code).toBe(status.NOT_FOUND);
      expect(error.message).toContain(
        `chunk ${chunks[0]} changed since version ${published.root}; read the new version`,
      );
    } finally {
      reader.close();
    }
    await worker.pass(); // publishes the new version; the gateway loads it on the next Hello
    const next = await openRead(target(), options('west'));
    try {
      expect(next.root).not.toBe(published.root);
      expectSameTree((await readTree(next)).tree, sourceTree(src));
    } finally {
      next.close();
    }
  });

  it('refuses a reader whose key differs, and says when nothing is published yet', async () => {
    writeTree();
    await worker.pass();
    const wrongKey = await refusal(
      openRead(target(), options('west', { policy: { ...POLICY, key: randomBytes(32) } })),
    );
    expect(wrongKey.code).toBe(status.FAILED_PRECONDITION);
    expect(wrongKey.error.message).toMatch(/the reader's key for dataflow team-a\/shared differs from this site's/);
    const otherAlgorithm = await refusal(
      openRead(target(), options('west', { policy: { compression: 'none', encryption: 'none' } })),
    );
    expect(otherAlgorithm.error.message).toMatch(
      /the reader uses none, dataflow team-a\/shared at this site uses aes-256-gcm/,
    );
    const quiet = await refusal(openRead(target('team-a/quiet'), options('west')));
    expect(quiet.code).toBe(status.FAILED_PRECONDITION);
    expect(quiet.error.message).toMatch(/dataflow team-a\/quiet: nothing published yet/);
  });

  it('keeps read and write sessions apart, and limits the chunks of one FetchChunks', async () => {
    writeTree();
    await worker.pass();
    const read = await openSession(target(), options('west'), true);
    const write = await openSession(target(), options('north'), false);
    try {
      const writeCall = await refusal(call(read.client, 'MissingNodes', { session_id: read.sessionId, hashes: [] }));
      expect(writeCall.code).toBe(status.FAILED_PRECONDITION);
      expect(writeCall.error.message).toMatch(/is a read session/);
      const readCall = await refusal(call(write.client, 'GetNodes', { session_id: write.sessionId, hashes: [] }));
      expect(readCall.code).toBe(status.FAILED_PRECONDITION);
      expect(readCall.error.message).toMatch(/is a write session/);

      const tooMany = Array.from({ length: FETCH_CHUNKS_MAX + 1 }, () => randomBytes(32));
      const stream = read.client.FetchChunks({ session_id: read.sessionId, hashes: tooMany }, new Metadata());
      const failure = await drain(stream as AsyncIterable<unknown>).then(
        () => undefined,
        (e: ServiceError) => e,
      );
      expect(failure?.code).toBe(status.INVALID_ARGUMENT);
      expect(failure?.details).toMatch(/at most 256 per call/);
    } finally {
      read.client.close();
      write.client.close();
    }
  });

  // Throughput over a slow link is measured by `npm run bench:fs`, not asserted here (noisy machines).
  it('reads whole over a link with 20 ms of round trip', async () => {
    const data = randomBytes(24 * 1024 * 1024);
    writeFileSync(join(src, 'big.bin'), data);
    await worker.pass();
    const proxy = await TcpProxy.start({ targetPort: gateway.port, delayMs: 10 });
    const reader = await openRead({ ...target(), endpoint: `127.0.0.1:${proxy.port}` }, options('west'));
    try {
      const { tree } = await readTree(reader);
      expectSameTree(tree, sourceTree(src));
    } finally {
      reader.close();
      await proxy.close();
    }
  });

  it('seals what it sends: lz4 where it pays, AES-GCM always, never the plaintext', async () => {
    writeTree();
    await worker.pass();
    const published = readPublished(join(workerState, 'published.json'));
    const first = (path: string) => {
      const entry = [...walk(published.nodes, published.root)].find((e) => e.path === path)!.entry as FileEntry;
      return entryChunks(entry, published.nodes)[0]!;
    };
    const text = first('models/readme.md');
    const random = first('models/v1/weights.bin');
    const session = await openSession(target(), options('west'), true);
    try {
      const frames: ChunkFrame__Output[] = [];
      const stream = session.client.FetchChunks({
        session_id: session.sessionId,
        hashes: [raw(text[0]), raw(random[0])],
      });
      for await (const frame of stream as AsyncIterable<ChunkFrame__Output>) frames.push(frame);
      expect(frames.map((f) => hex(f.hash))).toEqual([text[0], random[0]]);
      const [textFrame, randomFrame] = frames as [ChunkFrame__Output, ChunkFrame__Output];
      expect(textFrame.codec).toBe('lz4');
      expect(textFrame.payload.length).toBeLessThan(text[1] / 4);
      expect(randomFrame.codec).toBe('none'); // random data does not compress: sent as is, but sealed
      expect(randomFrame.payload.length).toBe(random[1] + 12 + 16); // nonce and tag
      const plain = readFileSync(join(src, 'models/v1/weights.bin')).subarray(0, random[1]);
      expect(Buffer.from(randomFrame.payload).includes(plain.subarray(0, 64))).toBe(false);
      expect(Buffer.from(textFrame.payload).includes(Buffer.from('weights of the week'))).toBe(false);
      const opened = openChunk(
        Buffer.from(randomFrame.payload),
        randomFrame.codec as Compression,
        random[0],
        POLICY,
        sha,
      );
      expect(Buffer.compare(opened, plain)).toBe(0);
    } finally {
      session.client.close();
    }
  });
});

/** Consumes an async iterable (rejecting as it does). */
async function drain(items: AsyncIterable<unknown>): Promise<void> {
  for await (const item of items) void item;
}
