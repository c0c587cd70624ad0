/**
 * A real S3-compatible server for tests: versitygw (built from its Go module by hack/build-tools.sh)
 * with its posix backend in a temp directory, on a free loopback port. `stop()` ends it and removes
 * the directory.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePorts } from '../../hack/control-plane/process.js';
import { toolPath } from '../../hack/tools.js';
import { eventually } from './eventually.js';

export const S3_ACCESS_KEY = 'kmesh-test';
export const S3_SECRET_KEY = 'kmesh-test-secret-key';

export interface TestS3 {
  endpoint: string;
  client: S3Client;
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** Resolves once something accepts connections on `port` of loopback. */
async function listening(port: number, timeoutMs: number): Promise<void> {
  await eventually(
    () =>
      new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => (socket.destroy(), resolve()));
        socket.once('error', () => reject(new Error(`versitygw did not listen on ${port} within ${timeoutMs} ms`)));
      }),
    timeoutMs,
  );
}

export async function startTestS3(): Promise<TestS3> {
  const dir = mkdtempSync(join(tmpdir(), 'kmesh-s3-'));
  const [port] = (await freePorts(1)) as [number];
  const child = spawn(
    toolPath('versitygw'),
    ['--access', S3_ACCESS_KEY, '--secret', S3_SECRET_KEY, '--port', `127.0.0.1:${port}`, 'posix', dir],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const stderr: string[] = [];
  child.stderr.on('data', (d: Buffer) => stderr.push(d.toString()));
  try {
    await listening(port, 15_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}: ${stderr.join('')}`, { cause: error });
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
  });
  return {
    endpoint,
    client,
    createBucket: async (name) => void (await client.send(new CreateBucketCommand({ Bucket: name }))),
    stop: async () => {
      client.destroy();
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
