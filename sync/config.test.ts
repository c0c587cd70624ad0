import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCacheConfig, parseGatewayConfig, parseWorkerConfig, SyncConfigError } from './config.js';

const WORKER = 'dataFlow: ns/flow\nsite: east\ntreeDir: /t\nstateDir: /s\n';
const PEER = 'peers:\n- name: w\n  endpoint: w:7443\n  tlsDir: /x\n';
const GATEWAY = 'tlsDir: /t\ndataFlows:\n- name: ns/flow\n  treeDir: /t\n  stateDir: /s\n';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kmesh-config-'));
  writeFileSync(join(dir, 'short-key'), Buffer.alloc(16));
  writeFileSync(join(dir, 'key'), Buffer.alloc(32, 7));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('parseWorkerConfig', () => {
  it('fills every default from the API when the document leaves them out', () => {
    const config = parseWorkerConfig(WORKER);
    expect(config).toEqual({
      dataFlow: 'ns/flow',
      site: 'east',
      mode: 'async',
      treeDir: '/t',
      stateDir: '/s',
      intervalMs: 10_000,
      connectTimeoutMs: 15_000,
      stallTimeoutMs: 30_000,
      statusPort: 8080,
      policy: { compression: 'none', encryption: 'none' },
      parallelism: 16,
      bandwidthBytesPerSecond: 0,
      peers: [],
      sources: [],
    });
  });

  it('defaults a peer to push and to the same DataFlow at the other site', () => {
    expect(parseWorkerConfig(WORKER + PEER).peers).toEqual([
      { name: 'w', endpoint: 'w:7443', remoteDataFlow: 'ns/flow', direction: 'push', tlsDir: '/x' },
    ]);
  });

  it('reads the key file of an encrypted DataFlow', () => {
    const config = parseWorkerConfig(
      `${WORKER}policy:\n  encryption:\n    algorithm: aes-256-gcm\n    keyFile: ${join(dir, 'key')}\n`,
    );
    expect(config.policy).toEqual({ compression: 'none', encryption: 'aes-256-gcm', key: Buffer.alloc(32, 7) });
  });

  it.each([
    ['a document that is not a mapping', '- a\n- b\n', 'config: must be a mapping'],
    ['no dataFlow', 'site: east\ntreeDir: /t\nstateDir: /s\n', 'dataFlow: required'],
    [
      'a dataFlow without namespace',
      'dataFlow: flow\nsite: east\ntreeDir: /t\nstateDir: /s\n',
      'dataFlow: must be <namespace>/<name>',
    ],
    ['an empty site', 'dataFlow: ns/flow\nsite: ""\ntreeDir: /t\nstateDir: /s\n', 'site: must not be empty'],
    ['an unknown mode', `${WORKER}mode: eventual\n`, 'mode: "eventual" is not one of async, sync, multiMaster'],
    ['an unknown top-level field', `${WORKER}intervalMs: 5000\n`, 'intervalMs: unknown field'],
    ['an interval that is not a duration', `${WORKER}interval: soon\n`, 'interval: "soon" is not a duration'],
    ['a status port out of range', `${WORKER}statusPort: 70000\n`, 'statusPort: must be an integer from 0 to 65535'],
    [
      'an unknown compression',
      `${WORKER}policy:\n  compression: brotli\n`,
      'policy.compression: "brotli" is not one of none, lz4, gzip, zstd',
    ],
    [
      'an unknown algorithm',
      `${WORKER}policy:\n  encryption:\n    algorithm: rot13\n`,
      'policy.encryption.algorithm: "rot13" is not one of none, aes-128-gcm, aes-192-gcm, aes-256-gcm',
    ],
    [
      'an algorithm without its key',
      `${WORKER}policy:\n  encryption:\n    algorithm: aes-256-gcm\n`,
      'policy.encryption.keyFile: required: aes-256-gcm needs the key',
    ],
    [
      'a key file that is not there',
      `${WORKER}policy:\n  encryption:\n    algorithm: aes-128-gcm\n    keyFile: /nonexistent/key\n`,
      'policy.encryption.keyFile: ENOENT',
    ],
    ['parallelism 0', `${WORKER}policy:\n  parallelism: 0\n`, 'policy.parallelism: must be an integer from 1 to 64'],
    [
      'parallelism 2.5',
      `${WORKER}policy:\n  parallelism: 2.5\n`,
      'policy.parallelism: must be an integer from 1 to 64',
    ],
    [
      'a bandwidth limit that is no quantity',
      `${WORKER}policy:\n  bandwidthLimit: fast\n`,
      'policy.bandwidthLimit: "fast" is not a quantity',
    ],
    [
      'a negative bandwidth limit',
      `${WORKER}policy:\n  bandwidthLimit: -5M\n`,
      'policy.bandwidthLimit: "-5M" is negative',
    ],
    [
      'the CRD field name instead of the worker one',
      `${WORKER}policy:\n  bandwidthBytesPerSecond: 5\n`,
      'policy.bandwidthBytesPerSecond: unknown field',
    ],
    ['peers that are not a list', `${WORKER}peers: west\n`, 'peers: must be a list'],
    [
      'a peer endpoint without port',
      `${WORKER}peers:\n- name: w\n  endpoint: nowhere\n  tlsDir: /x\n`,
      'peers[0].endpoint: "nowhere" is not host:port',
    ],
    ['a peer without tlsDir', `${WORKER}peers:\n- name: w\n  endpoint: w:7443\n`, 'peers[0].tlsDir: required'],
    [
      'a bidirectional peer',
      `${WORKER}${PEER}  direction: bidirectional\n`,
      'peers[0].direction: bidirectional is not supported',
    ],
    [
      'an unknown direction',
      `${WORKER}${PEER}  direction: sideways\n`,
      'peers[0].direction: "sideways" is not one of push, pull',
    ],
    [
      'a peer path that climbs out',
      `${WORKER}${PEER}  paths: [/models, ../etc]\n`,
      'peers[0].paths[1]: "../etc" is not an absolute path inside the DataFlow',
    ],
    [
      'a remote DataFlow without namespace',
      `${WORKER}${PEER}  remoteDataFlow: flow\n`,
      'peers[0].remoteDataFlow: must be <namespace>/<name>',
    ],
    [
      'a source writeBack that is not a boolean',
      `${WORKER}sources:\n- name: lab\n  writeBack: yes please\n  posix: {dir: /src}\n`,
      'sources[0].writeBack: must be true or false',
    ],
    [
      'a source without a store',
      `${WORKER}sources:\n- name: lab\n`,
      'sources[0]: no store; set one of s3, azureBlob, posix',
    ],
    [
      'a source with two stores',
      `${WORKER}sources:\n- name: lab\n  posix: {dir: /src}\n  s3: {bucket: b}\n`,
      'sources[0]: sets s3 and posix; set exactly one store',
    ],
    [
      'an S3 source without bucket',
      `${WORKER}sources:\n- name: lab\n  s3: {region: eu}\n`,
      'sources[0].s3.bucket: required',
    ],
    [
      'an S3 forcePathStyle that is not a boolean',
      `${WORKER}sources:\n- name: lab\n  s3: {bucket: b, forcePathStyle: "yes"}\n`,
      'sources[0].s3.forcePathStyle: must be true or false',
    ],
    [
      'a schedule that is no cron expression',
      `${WORKER}sources:\n- name: lab\n  schedule: sometimes\n  posix: {dir: /src}\n`,
      'sources[0].schedule: ',
    ],
    [
      'a purge time that is no time',
      `${WORKER}purgeRequestedAt: yesterday\n`,
      'purgeRequestedAt: "yesterday" is not an RFC 3339 time',
    ],
    [
      'a change feed without MDTs',
      `${WORKER}changeFeed:\n  mount: /mnt\n  mdts: []\n  user: cl1\n  treePrefix: /df\n`,
      'changeFeed.mdts: a non-empty list of MDT names',
    ],
  ])('refuses %s, naming the field', (_case, text, message) => {
    expect(() => parseWorkerConfig(text)).toThrow(SyncConfigError);
    expect(() => parseWorkerConfig(text)).toThrow(message);
  });

  it('names every bad field at once', () => {
    expect(() =>
      parseWorkerConfig('dataFlow: flow\nsite: east\ntreeDir: /t\npolicy:\n  compression: brotli\n'),
    ).toThrow(
      'dataFlow: must be <namespace>/<name>; stateDir: required; policy.compression: "brotli" is not one of none, lz4, gzip, zstd',
    );
  });

  it('refuses a key of the wrong length for the algorithm, naming the Secret to fix', () => {
    expect(() =>
      parseWorkerConfig(
        `${WORKER}policy:\n  encryption:\n    algorithm: aes-256-gcm\n    keyFile: ${join(dir, 'short-key')}\n`,
      ),
    ).toThrow(
      'policy.encryption.keyFile: aes-256-gcm needs a 32-byte key, the file holds 16 bytes (fix the Secret named in spec.policy.encryption.keySecretRef)',
    );
  });
});

describe('parseGatewayConfig', () => {
  it('fills every default from the API when the document leaves them out', () => {
    expect(parseGatewayConfig(GATEWAY)).toEqual({
      host: '0.0.0.0',
      port: 7443,
      tlsDir: '/t',
      metricsPort: 8080,
      dataFlows: [
        {
          name: 'ns/flow',
          treeDir: '/t',
          stateDir: '/s',
          deletedRetentionMs: 168 * 3_600_000,
          peers: [],
          encryption: 'none',
        },
      ],
    });
  });

  it.each([
    ['no tlsDir', 'port: 7443\n', 'tlsDir: required'],
    ['a port that is not a number', 'tlsDir: /t\nport: https\n', 'port: must be an integer from 0 to 65535'],
    [
      'a DataFlow name without namespace',
      'tlsDir: /t\ndataFlows:\n- name: flow\n  treeDir: /t\n  stateDir: /s\n',
      'dataFlows[0].name: must be <namespace>/<name>',
    ],
    [
      'a retention that is not a duration',
      `${GATEWAY}  deletedRetention: a week\n`,
      'dataFlows[0].deletedRetention: "a week" is not a duration',
    ],
    [
      'a bidirectional peer',
      `${GATEWAY}  peers:\n  - name: w\n    direction: bidirectional\n`,
      'dataFlows[0].peers[0].direction: bidirectional is not supported',
    ],
    [
      'an algorithm without its key',
      `${GATEWAY}  encryption:\n    algorithm: aes-128-gcm\n`,
      'dataFlows[0].encryption.keyFile: required',
    ],
    [
      'a key of the wrong length',
      `${GATEWAY}  encryption:\n    algorithm: aes-256-gcm\n    keyFile: KEY\n`,
      'dataFlows[0].encryption.keyFile: aes-256-gcm needs a 32-byte key',
    ],
    ['a field of the worker config', `${GATEWAY}  policy: {}\n`, 'dataFlows[0].policy: unknown field'],
  ])('refuses %s, naming the field', (_case, text, message) => {
    const document = text.replace('KEY', join(dir, 'short-key'));
    expect(() => parseGatewayConfig(document)).toThrow(SyncConfigError);
    expect(() => parseGatewayConfig(document)).toThrow(message);
  });
});

describe('parseCacheConfig', () => {
  const CACHE =
    'site: west\norigin:\n  name: east\n  endpoint: east.example:7443\n  dataFlow: ns/flow\n  tlsDir: /tls\n';

  it('fills the defaults and reads the limits', () => {
    expect(parseCacheConfig(CACHE)).toEqual({
      site: 'west',
      origin: { name: 'east', endpoint: 'east.example:7443', dataFlow: 'ns/flow', tlsDir: '/tls' },
      policy: { compression: 'none', encryption: 'none' },
      refreshMs: 1000,
      connectTimeoutMs: 15_000,
    });
    const limited = parseCacheConfig(`${CACHE}size: 10Gi\nminFree: 1G\nrefresh: 5s\n`);
    expect([limited.size, limited.minFree, limited.refreshMs]).toEqual([10 * 2 ** 30, 1e9, 5000]);
  });

  it('reads the key of an encrypted DataFlow', () => {
    const config = parseCacheConfig(
      `${CACHE}policy:\n  compression: lz4\n  encryption:\n    algorithm: aes-256-gcm\n    keyFile: ${join(dir, 'key')}\n`,
    );
    expect(config.policy).toEqual({ compression: 'lz4', encryption: 'aes-256-gcm', key: Buffer.alloc(32, 7) });
  });

  it.each([
    ['site: west\n', /origin: required/],
    [CACHE.replace('east.example:7443', 'nowhere'), /origin\.endpoint: "nowhere" is not host:port/],
    [CACHE.replace('ns/flow', 'flow'), /origin\.dataFlow: must be <namespace>\/<name>/],
    [`${CACHE}size: lots\n`, /size: /],
    [`${CACHE}policy:\n  encryption:\n    algorithm: aes-256-gcm\n`, /policy\.encryption\.keyFile: required/],
    [`${CACHE}extra: 1\n`, /extra/],
  ])('names the bad field: %j', (text, message) => {
    expect(() => parseCacheConfig(text)).toThrow(SyncConfigError);
    expect(() => parseCacheConfig(text)).toThrow(message);
  });
});
