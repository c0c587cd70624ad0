/**
 * Write-back, the same scenarios against every kind of store a DataFlow source can name: a mounted
 * directory (NFS export or PVC), a real S3-compatible server (versitygw) and Azurite. Changes made
 * in the DataFlow reach the store whole (big files in parts or blocks); removals propagate; when
 * the store changed the same object, both versions survive; the bandwidth limit applies.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { loggerFor } from '../../lib/logging.js';
import type { WorkerSource } from '../../sync/config.js';
import { MULTIPART_PART_BYTES } from '../../sync/stores/s3.js';
import { BLOCK_BYTES } from '../../sync/stores/azure-blob.js';
import { storeFor } from '../../sync/stores/index.js';
import { ingest } from '../../sync/stores/ingest.js';
import { writeBack } from '../../sync/stores/write-back.js';
import type { Store } from '../../sync/stores/store.js';
import { Bandwidth, type Clock } from '../../sync/wire/bandwidth.js';
import { SourceIngester } from '../../sync/worker/sources.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startTestAzurite, type TestAzurite } from '../support/azurite.js';
import { S3_ACCESS_KEY, S3_SECRET_KEY, startTestS3, type TestS3 } from '../support/s3.js';

let s3: TestS3;
let azurite: TestAzurite;
let top: string;
let n = 0;

beforeAll(async () => {
  [s3, azurite] = await Promise.all([startTestS3(), startTestAzurite()]);
});
afterAll(async () => {
  await Promise.all([s3?.stop(), azurite?.stop()]);
});
beforeEach(() => {
  top = mkdtempSync(join(tmpdir(), 'kmesh-write-back-'));
  mkdirSync(join(top, 'creds'));
});
afterEach(() => rmSync(top, { recursive: true, force: true }));

/** One kind of store: how the test configures a fresh one, and the store as the test (the "other side") sees it. */
interface Kind {
  name: string;
  /** Above this size a write goes up in parts (0: no parts). */
  partBytes: number;
  source(): Promise<WorkerSource>;
}

const kinds: Kind[] = [
  {
    name: 'posix (NFS export or PVC)',
    partBytes: 0,
    source: () => {
      mkdirSync(join(top, 'export'));
      return Promise.resolve({ name: 'lab', schedule: 'once', writeBack: true, posix: { dir: join(top, 'export') } });
    },
  },
  {
    name: 's3 (versitygw)',
    partBytes: MULTIPART_PART_BYTES,
    source: async () => {
      const bucket = `lab-${n++}`;
      await s3.createBucket(bucket);
      writeFileSync(join(top, 'creds/accessKeyId'), S3_ACCESS_KEY);
      writeFileSync(join(top, 'creds/secretAccessKey'), S3_SECRET_KEY);
      return {
        name: 'lab',
        schedule: 'once',
        writeBack: true,
        s3: {
          endpoint: s3.endpoint,
          bucket,
          prefix: 'results/',
          region: 'us-east-1',
          forcePathStyle: true,
          credentialsDir: join(top, 'creds'),
        },
      };
    },
  },
  {
    name: 'azureBlob (Azurite)',
    partBytes: BLOCK_BYTES,
    source: async () => {
      const container = `lab-${n++}`;
      await azurite.client.getContainerClient(container).create();
      writeFileSync(join(top, 'creds/accountKey'), AZURITE_KEY);
      return {
        name: 'lab',
        schedule: 'once',
        writeBack: true,
        azureBlob: {
          endpoint: azurite.endpoint,
          account: AZURITE_ACCOUNT,
          container,
          prefix: 'results/',
          credentialsDir: join(top, 'creds'),
        },
      };
    },
  },
];

async function text(body: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of body) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** Key → content of everything in the store. */
async function contents(store: Store): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const object of store.list()) out[object.key] = (await text(await store.read(object.key))).toString();
  return out;
}

/** The test writing to the store directly, as another user of it would. */
async function storeWrite(store: Store, key: string, body: string): Promise<void> {
  const file = join(top, 'upload-tmp');
  writeFileSync(file, body);
  await store.write(key, file, Buffer.byteLength(body));
}

const tree = (...parts: string[]) => join(top, 'tree', 'lab', ...parts);
function writeLocal(path: string, body: string | Buffer): void {
  mkdirSync(dirname(tree(path)), { recursive: true });
  writeFileSync(tree(path), body);
}

describe.each(kinds)('write-back to $name', (kind) => {
  let source: WorkerSource;
  let store: Store;
  let clock: Clock & { elapsedMs: number };
  const ingester = (bandwidth?: Bandwidth) =>
    new SourceIngester([source], join(top, 'tree'), join(top, 'state'), loggerFor('write-back-test'), bandwidth);

  beforeEach(async () => {
    source = await kind.source();
    store = await storeFor(source, 'sources[0]');
    clock = {
      elapsedMs: 0,
      now: () => clock.elapsedMs,
      sleep: (ms: number) => ((clock.elapsedMs += ms), Promise.resolve()),
    };
  });

  it('writes new, changed and removed files back, and nothing when nothing changed', async () => {
    await storeWrite(store, 'a.csv', 'a,1');
    await storeWrite(store, 'b.csv', 'b,2');
    const lab = ingester();
    expect(await lab.run()).toBe(true); // the first ingest
    expect(readFileSync(tree('a.csv'), 'utf8')).toBe('a,1');

    writeLocal('a.csv', 'a,1\na,2');
    rmSync(tree('b.csv'));
    writeLocal('2026/c.csv', 'c,3');
    expect(await lab.run()).toBe(false); // the tree did not change: nothing to rescan
    expect(await contents(store)).toEqual({ 'a.csv': 'a,1\na,2', '2026/c.csv': 'c,3' });
    expect(lab.list()[0]!.writeBack).toMatchObject({
      outcome: 'Succeeded',
      message: '2 written, 1 removed',
      files: 2,
      bytes: 10,
      removed: 1,
      conflicts: 0,
      lastWriteBack: expect.any(String),
    });

    await lab.run();
    expect(lab.list()[0]!.writeBack).toMatchObject({ files: 2, removed: 1 }); // nothing written again
    // A restarted worker (new ingester, same state) neither re-uploads nor re-fetches.
    const restarted = ingester();
    expect(await restarted.run()).toBe(false);
    expect(restarted.list()[0]!.writeBack).toMatchObject({ files: 2, removed: 1 });
  });

  it('keeps both versions when the store changed the same file: the store’s at the name, the local one beside it', async () => {
    await storeWrite(store, 'a.csv', 'v1');
    await storeWrite(store, 'gone.csv', 'old');
    const lab = ingester();
    await lab.run();
    await storeWrite(store, 'a.csv', 'v2 from the store');
    writeLocal('a.csv', 'v2 from the DataFlow');
    await storeWrite(store, 'gone.csv', 'changed in the store');
    rmSync(tree('gone.csv')); // removed here after the store changed it: the store's version wins
    expect(await lab.run(new Date('2026-11-22T01:02:03Z'))).toBe(true); // the tree changed
    const aside = 'a.csv.kmesh-conflict-20261122T010203Z';
    expect(readdirSync(tree()).sort()).toEqual(['a.csv', aside, 'gone.csv']);
    expect(readFileSync(tree('a.csv'), 'utf8')).toBe('v2 from the store');
    expect(readFileSync(tree(aside), 'utf8')).toBe('v2 from the DataFlow');
    expect(readFileSync(tree('gone.csv'), 'utf8')).toBe('changed in the store');
    expect(await contents(store)).toEqual({
      'a.csv': 'v2 from the store',
      [aside]: 'v2 from the DataFlow',
      'gone.csv': 'changed in the store',
    });
    expect(lab.list()[0]!.writeBack).toMatchObject({
      outcome: 'Succeeded',
      files: 1,
      removed: 0,
      conflicts: 1,
      message: expect.stringContaining(`a.csv → ${aside}`),
    });
  });

  it('an ingest leaves a local change that is not written back yet; without write-back the store wins', async () => {
    await storeWrite(store, 'a.csv', 'v1');
    const options = { targetDir: tree(), stateDir: join(top, 'state/sources/lab'), writeBack: true };
    await ingest(store, options);
    await storeWrite(store, 'a.csv', 'v2 from the store');
    writeLocal('a.csv', 'v2 from the DataFlow');
    await storeWrite(store, 'new.csv', 'n');
    expect(await ingest(store, options)).toEqual({ files: 1, bytes: 1, removed: 0, refused: [] }); // new.csv only
    expect(readFileSync(tree('a.csv'), 'utf8')).toBe('v2 from the DataFlow');
    const wrote = await writeBack(store, options, new Date('2026-11-22T01:00:00Z'));
    expect(wrote).toMatchObject({
      conflicts: ['a.csv → a.csv.kmesh-conflict-20261122T010000Z'],
      fetched: 1,
      uploaded: 1,
      refused: [],
    });
    expect(readFileSync(tree('a.csv'), 'utf8')).toBe('v2 from the store');

    writeLocal('a.csv', 'local edit');
    await storeWrite(store, 'a.csv', 'v3 from the store');
    await ingest(store, { ...options, writeBack: false });
    expect(readFileSync(tree('a.csv'), 'utf8')).toBe('v3 from the store');
  });

  it('writes a big file whole (in parts where the store has them) and honours the bandwidth limit', async () => {
    const size = Math.max(2, Math.ceil((2.5 * kind.partBytes) / (1024 * 1024))) * 1024 * 1024; // 2.5 parts, or 2 MiB
    const big = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4096) big.writeUInt32LE(i, i); // distinct parts
    const lab = ingester(new Bandwidth(8 * 1024 * 1024, clock));
    await lab.run();
    writeLocal('model.bin', big);
    await lab.run();
    const stored = await text(await store.read('model.bin'));
    expect(createHash('sha256').update(stored).digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
    expect(clock.elapsedMs).toBeGreaterThanOrEqual((size / (8 * 1024 * 1024)) * 1000 - 300); // less the quarter-second burst
    if (kind.partBytes && kind.name.startsWith('s3')) {
      const head = await store.head('model.bin');
      expect(head?.etag).toMatch(/-3$/); // S3 names a multipart object's ETag by its part count
    }
  });
});
