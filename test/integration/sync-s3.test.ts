/**
 * Ingest from a real S3-compatible server (versitygw): new, changed and deleted objects reach the
 * DataFlow's tree atomically and only when they changed; the worker reports each source's result;
 * wrong credentials fail with the server's reason and change nothing.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { loggerFor } from '../../lib/logging.js';
import { parseWorkerConfig, type WorkerSource } from '../../sync/config.js';
import { Bandwidth, type Clock } from '../../sync/wire/bandwidth.js';
import { SourceIngester } from '../../sync/worker/sources.js';
import { Worker } from '../../sync/worker/worker.js';
import { S3_ACCESS_KEY, S3_SECRET_KEY, startTestS3, type TestS3 } from '../support/s3.js';

let s3: TestS3;
let top: string;
let bucket: string;
let buckets = 0;

beforeAll(async () => {
  s3 = await startTestS3();
});
afterAll(async () => {
  await s3?.stop();
});
beforeEach(async () => {
  bucket = `camera-${buckets++}`; // a bucket per test: no objects left over from another
  await s3.createBucket(bucket);
  top = mkdtempSync(join(tmpdir(), 'kmesh-s3-ingest-'));
  mkdirSync(join(top, 'tree'));
  mkdirSync(join(top, 'creds'));
  writeFileSync(join(top, 'creds/accessKeyId'), S3_ACCESS_KEY);
  writeFileSync(join(top, 'creds/secretAccessKey'), S3_SECRET_KEY);
});
afterEach(() => rmSync(top, { recursive: true, force: true }));

const put = (key: string, body: string | Buffer) =>
  s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
const source = (over: Partial<NonNullable<WorkerSource['s3']>> = {}, schedule = 'once'): WorkerSource => ({
  name: 'uploads',
  schedule,
  writeBack: false,
  s3: {
    endpoint: s3.endpoint,
    bucket,
    prefix: 'ingest/',
    region: 'us-east-1',
    forcePathStyle: true,
    credentialsDir: join(top, 'creds'),
    ...over,
  },
});

describe('S3 ingest', () => {
  it('brings the objects under the prefix into <tree>/<source>/ and reports the result in the worker status', async () => {
    await put('ingest/a.jpg', 'image a');
    await put('ingest/day1/b.jpg', Buffer.alloc(300_000, 7));
    await put('elsewhere/c.jpg', 'not under the prefix');
    const config = parseWorkerConfig(
      `dataFlow: ns/raw\nsite: east\ntreeDir: ${join(top, 'tree')}\nstateDir: ${join(top, 'state')}\nsources:\n- name: uploads\n  schedule: once\n  s3: {endpoint: "${s3.endpoint}", bucket: ${bucket}, prefix: ingest/, forcePathStyle: true, credentialsDir: ${join(top, 'creds')}}\n`,
    );
    const worker = new Worker(config, loggerFor('s3-worker'));
    expect(await worker.pass()).toBe(true);
    expect(readFileSync(join(top, 'tree/uploads/a.jpg'), 'utf8')).toBe('image a');
    expect(statSync(join(top, 'tree/uploads/day1/b.jpg')).size).toBe(300_000);
    expect(readdirSync(join(top, 'tree/uploads')).sort()).toEqual(['a.jpg', 'day1']);
    const status = worker.status();
    expect(status.sources).toEqual([
      {
        name: 'uploads',
        lastIngest: expect.any(String),
        result: { outcome: 'Succeeded', message: '2 new or changed, 0 removed', files: 2, bytes: 300_007 },
      },
    ]);
    expect(status.transfer.files).toBe(2); // the scan after the ingest saw them
    await put('ingest/a.jpg', 'changed');
    await worker.pass(); // a `once` source is not ingested again
    expect(readFileSync(join(top, 'tree/uploads/a.jpg'), 'utf8')).toBe('image a');
  });

  it('on a schedule, fetches only what changed and removes what is gone', async () => {
    await put('ingest/a.jpg', 'v1');
    await put('ingest/b.jpg', 'keep');
    const ingester = new SourceIngester(
      [source({}, '0 * * * *')],
      join(top, 'tree'),
      join(top, 'state'),
      loggerFor('s3-test'),
    );
    const t0 = new Date('2026-11-21T10:05:00Z');
    expect(await ingester.run(t0)).toBe(true);
    expect(ingester.list()[0]).toMatchObject({ nextIngest: '2026-11-21T11:00:00.000Z', result: { files: 2 } });
    await put('ingest/a.jpg', 'v2');
    await s3.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'ingest/b.jpg' }));
    expect(await ingester.run(new Date('2026-11-21T10:30:00Z'))).toBe(false); // not due yet
    expect(readFileSync(join(top, 'tree/uploads/a.jpg'), 'utf8')).toBe('v1');
    expect(await ingester.run(new Date('2026-11-21T11:00:00Z'))).toBe(true);
    expect(readFileSync(join(top, 'tree/uploads/a.jpg'), 'utf8')).toBe('v2');
    expect(readdirSync(join(top, 'tree/uploads'))).toEqual(['a.jpg']);
    expect(ingester.list()[0]!.result).toEqual({
      outcome: 'Succeeded',
      message: '1 new or changed, 1 removed',
      files: 1,
      bytes: 2,
    });
    expect(readdirSync(join(top, 'state/sources/uploads/tmp'))).toEqual([]); // no temp file left
  });

  it('honours the bandwidth limit while downloading', async () => {
    await put('ingest/big.bin', Buffer.alloc(2_000_000, 1));
    const clock: Clock & { elapsedMs: number } = {
      elapsedMs: 0,
      now: () => clock.elapsedMs,
      sleep: (ms: number) => ((clock.elapsedMs += ms), Promise.resolve()),
    };
    const ingester = new SourceIngester(
      [source()],
      join(top, 'tree'),
      join(top, 'state'),
      loggerFor('s3-test'),
      new Bandwidth(1_000_000, clock),
    );
    await ingester.run();
    expect(statSync(join(top, 'tree/uploads/big.bin')).size).toBe(2_000_000);
    expect(clock.elapsedMs).toBeGreaterThanOrEqual(1_700); // 2 MB at 1 MB/s, less the burst
  });

  it('reports wrong credentials as a failed ingest and writes nothing', async () => {
    writeFileSync(join(top, 'creds/secretAccessKey'), 'wrong');
    const ingester = new SourceIngester([source()], join(top, 'tree'), join(top, 'state'), loggerFor('s3-test'));
    expect(await ingester.run()).toBe(false);
    expect(ingester.list()[0]!.result).toMatchObject({
      outcome: 'Failed',
      message: expect.stringMatching(/signature|credentials|access/i),
    });
    expect(readdirSync(join(top, 'tree'))).toEqual([]);
  });
});
