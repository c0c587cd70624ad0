import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loggerFor } from '../../lib/logging.js';
import type { ChangeBatch, ChangeFeed } from '../engine/change-feed.js';
import { parseGatewayConfig, parseWorkerConfig } from '../config.js';
import { nextPassDelayMs, Worker } from './worker.js';

/** A feed the test scripts: each poll returns the next batch; commits are counted. */
class ScriptedFeed implements ChangeFeed {
  commits = 0;
  constructor(private readonly batches: Omit<ChangeBatch, 'commit'>[]) {}
  poll(): Promise<ChangeBatch> {
    const next = this.batches.shift() ?? { paths: new Set<string>() };
    return Promise.resolve({ ...next, commit: () => Promise.resolve(void this.commits++) });
  }
}

describe('sync worker with a change feed', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kmesh-worker-'));
    mkdirSync(join(dir, 'tree'));
    writeFileSync(join(dir, 'tree/a'), 'one');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const config = () => parseWorkerConfig(`dataFlow: ns/flow\nsite: east\ntreeDir: ${join(dir, 'tree')}\nstateDir: ${join(dir, 'state')}\n`);

  it('scans on the first pass and when the feed reports paths or asks for a rescan, and not otherwise', async () => {
    const feed = new ScriptedFeed([{ rescan: 'first pass', paths: new Set() }, { paths: new Set() }, { paths: new Set(['b']) }, { paths: new Set() }]);
    const worker = new Worker(config(), loggerFor('test-worker'), undefined, feed);
    expect(await worker.pass()).toBe(true);
    const first = worker.status();
    expect(first.transfer.files).toBe(1);

    writeFileSync(join(dir, 'tree/b'), 'two'); // not reported by the feed yet: not seen
    await worker.pass();
    expect(worker.status().scannedAt).toBe(first.scannedAt);
    expect(worker.status().transfer.files).toBe(1);

    await worker.pass(); // the feed now names b
    expect(worker.status().transfer.files).toBe(2);
    expect(worker.status().root).not.toBe(first.root);
    expect(feed.commits).toBe(3);
  });

  it('refuses a configuration that names a field wrongly', () => {
    expect(() => parseWorkerConfig('dataFlow: flow\nsite: east\ntreeDir: /t\nstateDir: /s\n')).toThrow('config.dataFlow: must be <namespace>/<name>');
    expect(() => parseWorkerConfig('dataFlow: ns/flow\nsite: east\ntreeDir: /t\nstateDir: /s\npolicy:\n  compression: brotli\n')).toThrow('policy.compression: "brotli" is not one of none, lz4, gzip, zstd');
    expect(() => parseWorkerConfig('dataFlow: ns/flow\nsite: east\ntreeDir: /t\nstateDir: /s\npolicy:\n  encryption:\n    algorithm: aes-256-gcm\n')).toThrow('policy.encryption.keyFile: required string');
    expect(() => parseWorkerConfig('dataFlow: ns/flow\nsite: east\ntreeDir: /t\nstateDir: /s\npeers:\n- name: w\n  endpoint: nowhere\n  tlsDir: /x\n')).toThrow('config.peers[0].endpoint: "nowhere" is not host:port');
    expect(() => parseWorkerConfig('dataFlow: ns/flow\nsite: east\ntreeDir: /t\nstateDir: /s\ninterval: soon\n')).toThrow('config.interval: "soon" is not a duration');
    expect(() => parseWorkerConfig('dataFlow: ns/flow\nsite: east\ntreeDir: /t\nstateDir: /s\npeers:\n- name: w\n  endpoint: w:7443\n  tlsDir: /x\n  paths: [/models, ../etc]\n')).toThrow('config.peers[0].paths[1]: "../etc" is not an absolute path inside the DataFlow');
    expect(() => parseWorkerConfig('dataFlow: ns/flow\nsite: east\ntreeDir: /t\nstateDir: /s\nsources:\n- name: lab\n  writeBack: yes please\n  posix: {dir: /src}\n')).toThrow('config.sources[0].writeBack: must be true or false');
    expect(() => parseWorkerConfig('dataFlow: ns/flow\nsite: east\ntreeDir: /t\nstateDir: /s\nsources:\n- name: lab\n')).toThrow('config.sources[0]: no store; set one of s3, azureBlob, posix');
    expect(() => parseWorkerConfig('dataFlow: ns/flow\nsite: east\ntreeDir: /t\nstateDir: /s\npolicy:\n  bandwidthLimit: fast\n')).toThrow('policy.bandwidthLimit: "fast" is not a quantity');
    expect(() => parseWorkerConfig('dataFlow: ns/flow\nsite: east\ntreeDir: /t\nstateDir: /s\npolicy:\n  bandwidthLimit: -5M\n')).toThrow('policy.bandwidthLimit: "-5M" is negative');
    expect(() => parseWorkerConfig('dataFlow: ns/flow\nsite: east\ntreeDir: /t\nstateDir: /s\npeers:\n- name: w\n  endpoint: w:7443\n  tlsDir: /x\n  direction: bidirectional\n')).toThrow('config.peers[0].direction: bidirectional is not supported');
    expect(() => parseGatewayConfig('tlsDir: /t\ndataFlows:\n- name: ns/flow\n  treeDir: /t\n  stateDir: /s\n  peers:\n  - name: w\n    direction: bidirectional\n')).toThrow('config.dataFlows[0].peers[0].direction: bidirectional is not supported');
  });

  it('refuses a key of the wrong length for the algorithm', () => {
    writeFileSync(join(dir, 'key'), Buffer.alloc(16));
    expect(() => parseWorkerConfig(`dataFlow: ns/flow\nsite: east\ntreeDir: /t\nstateDir: /s\npolicy:\n  encryption:\n    algorithm: aes-256-gcm\n    keyFile: ${join(dir, 'key')}\n`)).toThrow('policy.encryption.keySecretRef: aes-256-gcm needs a 32-byte key, the secret holds 16 bytes');
  });
});

describe('the wait between passes', () => {
  it('is the interval after a good pass, and doubles from 0.5 s up to the interval after failed ones', () => {
    expect(nextPassDelayMs(true, 3, 10_000)).toBe(10_000);
    expect([0, 1, 2, 3, 4, 5].map((failures) => nextPassDelayMs(false, failures, 10_000))).toEqual([500, 1000, 2000, 4000, 8000, 10_000]);
  });
});
