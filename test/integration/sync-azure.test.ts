/**
 * Ingest from Azure Blob Storage against Azurite: blobs under the prefix reach the tree, a changed
 * blob is fetched again and a deleted one removed on the next scheduled ingest, and a wrong account
 * key fails with the service's reason and changes nothing.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerClient } from '@azure/storage-blob';
import { loggerFor } from '../../lib/logging.js';
import { parseWorkerConfig } from '../../sync/config.js';
import { SourceIngester } from '../../sync/worker/sources.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startTestAzurite, type TestAzurite } from '../support/azurite.js';

let azurite: TestAzurite;
let top: string;
let container: ContainerClient;
let containers = 0;

beforeAll(async () => {
  azurite = await startTestAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});
beforeEach(async () => {
  container = azurite.client.getContainerClient(`lake-${containers++}`);
  await container.create();
  top = mkdtempSync(join(tmpdir(), 'kmesh-azure-ingest-'));
  mkdirSync(join(top, 'creds'));
  writeFileSync(join(top, 'creds/accountKey'), AZURITE_KEY);
});
afterEach(() => rmSync(top, { recursive: true, force: true }));

const upload = (name: string, body: string) => container.getBlockBlobClient(name).upload(body, Buffer.byteLength(body));
const ingester = (schedule: string) => {
  const config = parseWorkerConfig(
    `dataFlow: ns/lake\nsite: east\ntreeDir: ${join(top, 'tree')}\nstateDir: ${join(top, 'state')}\nsources:\n- name: lake\n  schedule: "${schedule}"\n  azureBlob: {endpoint: "${azurite.endpoint}", account: ${AZURITE_ACCOUNT}, container: ${container.containerName}, prefix: raw/, credentialsDir: ${join(top, 'creds')}}\n`,
  );
  return new SourceIngester(config.sources, join(top, 'tree'), join(top, 'state'), loggerFor('azure-test'));
};

describe('Azure Blob ingest', () => {
  it('brings blobs under the prefix in, then only what changed, and removes what is gone', async () => {
    await upload('raw/a.csv', 'a,1');
    await upload('raw/2026/b.csv', 'b,2');
    await upload('other/c.csv', 'not under the prefix');
    const lake = ingester('@hourly');
    expect(await lake.run(new Date('2026-11-21T10:00:00Z'))).toBe(true);
    expect(readFileSync(join(top, 'tree/lake/a.csv'), 'utf8')).toBe('a,1');
    expect(readFileSync(join(top, 'tree/lake/2026/b.csv'), 'utf8')).toBe('b,2');
    expect(lake.list()[0]).toMatchObject({
      nextIngest: '2026-11-21T11:00:00.000Z',
      result: { outcome: 'Succeeded', files: 2, bytes: 6 },
    });

    await upload('raw/a.csv', 'a,10');
    await container.deleteBlob('raw/2026/b.csv');
    expect(await lake.run(new Date('2026-11-21T11:00:00Z'))).toBe(true);
    expect(readFileSync(join(top, 'tree/lake/a.csv'), 'utf8')).toBe('a,10');
    expect(readdirSync(join(top, 'tree/lake/2026'))).toEqual([]);
    expect(lake.list()[0]!.result).toEqual({
      outcome: 'Succeeded',
      message: '1 new or changed, 1 removed',
      files: 1,
      bytes: 4,
    });
  });

  it('reports a wrong account key as a failed ingest and writes nothing', async () => {
    await upload('raw/a.csv', 'a,1');
    writeFileSync(join(top, 'creds/accountKey'), Buffer.alloc(64, 1).toString('base64'));
    const lake = ingester('once');
    expect(await lake.run()).toBe(false);
    expect(lake.list()[0]!.result).toMatchObject({
      outcome: 'Failed',
      message: expect.stringMatching(/authoriz|signature/i),
    });
    expect(() => readdirSync(join(top, 'tree'))).toThrow(/ENOENT/);
  });
});
