/**
 * The contract between the operator and the data plane: what the operator's renderers write is
 * what the worker and the gateway read, field for field.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { DataFlow, KmeshInstance } from '../v1alpha1/index.js';
import { gatewayConfig, gatewayConfigMap } from '../../operator/controllers/kmesh-instance/gateway.js';
import { workerConfig, workerConfigYaml } from '../../operator/controllers/data-flow/worker.js';
import { KEYS_MOUNT_PATH } from '../../operator/layout.js';
import type { OperatorSettings } from '../../operator/settings.js';
import { parseGatewayConfig, parseWorkerConfig } from '../../sync/config.js';
import type { GatewayConfigDocument } from './gateway.js';
import type { WorkerConfigDocument } from './worker.js';

const settings: OperatorSettings = {
  image: 'kmesh:test',
  lustreImage: '',
  runAsUser: 65532,
  workerStatusPort: 9090,
  gatewayHealthPort: 9091,
  syncInterval: '45s',
  localRoots: ['/var/lib/kmesh'],
  csiNamespace: 'kmesh-system',
  csiDriverName: 'csi.kmesh.io',
};

const instance: KmeshInstance = {
  apiVersion: 'kmesh.io/v1alpha1',
  kind: 'KmeshInstance',
  metadata: { name: 'east', namespace: 'ml', uid: 'uid-east' },
  spec: {
    backend: { type: 'local', local: { path: '/var/lib/kmesh/east' } },
    gateway: { tlsSecretRef: { name: 'east-tls' } },
  },
};

/** A DataFlow that sets every field the worker and gateway act on. */
const rich: DataFlow = {
  apiVersion: 'kmesh.io/v1alpha1',
  kind: 'DataFlow',
  metadata: { name: 'models', namespace: 'ml', uid: 'uid-models' },
  spec: {
    instanceRef: { name: 'east' },
    path: '/teams/ml/models',
    mode: 'async',
    peers: [
      {
        name: 'west',
        endpoint: 'gw.west.example:7443',
        direction: 'push',
        tlsSecretRef: { name: 'west-tls' },
        paths: ['/public', '/shared/weights'],
      },
      {
        name: 'lab',
        endpoint: '[fd00::1]:7443',
        remoteDataFlow: 'research/models',
        direction: 'pull',
        tlsSecretRef: { name: 'lab-tls' },
      },
      {
        name: 'north',
        endpoint: 'north:7443',
        remoteDataFlow: 'weights',
        direction: 'push',
        tlsSecretRef: { name: 'north-tls' },
      },
      // Not acted on (Supported=False): left out of both configs.
      { name: 'both', endpoint: 'both:7443', direction: 'bidirectional', tlsSecretRef: { name: 'both-tls' } },
    ],
    sources: [
      {
        name: 'raw',
        s3: {
          endpoint: 'https://minio.example',
          bucket: 'raw-images',
          prefix: 'cam/',
          region: 'eu-west-1',
          forcePathStyle: true,
          credentialsSecretRef: { name: 's3-creds' },
        },
        ingest: { schedule: '0 */6 * * *' },
        writeBack: true,
        access: 'copy',
      },
      {
        name: 'blobs',
        azureBlob: { account: 'kmeshdata', container: 'labels', prefix: 'v2/' },
        ingest: { schedule: 'once' },
        writeBack: false,
        access: 'copy',
      },
      { name: 'archive', nfs: { server: 'nfs.example', path: '/exports/archive' }, ingest: { schedule: '@daily' } },
      { name: 'scratch', pvc: { claimName: 'scratch' } },
      // Not acted on (Supported=False): left out.
      { name: 'lazy', nfs: { server: 'nfs.example', path: '/exports/lazy' }, access: 'cache' },
    ],
    policy: {
      compression: 'zstd',
      encryption: { algorithm: 'aes-256-gcm', keySecretRef: { name: 'models-key', key: 'k' } },
      dedup: true,
      deleteAfterUse: true,
      bandwidthLimit: '2Gi',
      parallelism: 8,
      deletedRetention: '36h',
    },
  },
};

let dir: string;
const key = Buffer.alloc(32, 9);
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kmesh-contract-'));
  writeFileSync(join(dir, 'ml_models'), key);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The rendered text with the key mount pointed at this test's directory (the pod's Secret volume). */
const keysHere = (text: string) => text.replaceAll(`${KEYS_MOUNT_PATH}/`, `${dir}/`);

describe('the worker config', () => {
  it('is read back by the worker exactly as the operator rendered it from a rich DataFlow', () => {
    const rendered = workerConfigYaml({ dataFlow: rich, instance, settings, purgeRequestedAt: '2026-01-02T03:04:05Z' });
    expect(parseWorkerConfig(keysHere(rendered))).toEqual({
      dataFlow: 'ml/models',
      site: 'east',
      mode: 'async',
      treeDir: '/kmesh/data/teams/ml/models',
      stateDir: '/kmesh/data/.kmesh/worker/ml/models',
      intervalMs: 45_000,
      connectTimeoutMs: 15_000,
      stallTimeoutMs: 30_000,
      statusPort: 9090,
      policy: { compression: 'zstd', encryption: 'aes-256-gcm', key },
      parallelism: 8,
      bandwidthBytesPerSecond: 2 * 1024 ** 3,
      peers: [
        {
          name: 'west',
          endpoint: 'gw.west.example:7443',
          remoteDataFlow: 'ml/models',
          direction: 'push',
          tlsDir: '/etc/kmesh/peers/west',
          paths: ['/public', '/shared/weights'],
        },
        {
          name: 'lab',
          endpoint: '[fd00::1]:7443',
          remoteDataFlow: 'research/models',
          direction: 'pull',
          tlsDir: '/etc/kmesh/peers/lab',
        },
        {
          name: 'north',
          endpoint: 'north:7443',
          remoteDataFlow: 'ml/weights',
          direction: 'push',
          tlsDir: '/etc/kmesh/peers/north',
        },
      ],
      sources: [
        {
          name: 'raw',
          schedule: '0 */6 * * *',
          writeBack: true,
          s3: {
            endpoint: 'https://minio.example',
            bucket: 'raw-images',
            prefix: 'cam/',
            region: 'eu-west-1',
            forcePathStyle: true,
            credentialsDir: '/etc/kmesh/sources/raw',
          },
        },
        {
          name: 'blobs',
          schedule: 'once',
          writeBack: false,
          azureBlob: { account: 'kmeshdata', container: 'labels', prefix: 'v2/' },
        },
        { name: 'archive', schedule: '@daily', writeBack: false, posix: { dir: '/var/lib/kmesh/sources/archive' } },
        { name: 'scratch', schedule: 'once', writeBack: false, posix: { dir: '/var/lib/kmesh/sources/scratch' } },
      ],
      purgeRequestedAt: '2026-01-02T03:04:05Z',
    });
  });

  it('carries the CRD field names the person wrote (interval, bandwidthLimit), not the units the worker runs with', () => {
    const document = parse(workerConfigYaml({ dataFlow: rich, instance, settings })) as Record<
      string,
      Record<string, unknown>
    >;
    expect(document['interval']).toBe('45s');
    expect(document['policy']!['bandwidthLimit']).toBe('2Gi');
    expect(document['policy']).not.toHaveProperty('bandwidthBytesPerSecond');
    expect(document).not.toHaveProperty('purgeRequestedAt');
  });

  it('is read back from a DataFlow that sets only what it must, the rest defaulted once, by the worker', () => {
    const bare: DataFlow = {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'DataFlow',
      metadata: { name: 'bare', namespace: 'ml', uid: 'uid-bare' },
      spec: { instanceRef: { name: 'east' } },
    };
    const config = parseWorkerConfig(workerConfigYaml({ dataFlow: bare, instance, settings }));
    expect(config).toMatchObject({
      mode: 'async',
      policy: { compression: 'none', encryption: 'none' },
      parallelism: 16,
      bandwidthBytesPerSecond: 0,
      peers: [],
      sources: [],
    });
    expect(config.policy.key).toBeUndefined();
  });

  it('is typed: a field the worker does not know does not compile', () => {
    const document = workerConfig({ dataFlow: rich, instance, settings });
    // @ts-expect-error intervalMs is the worker's runtime name, not a field of the document.
    const renamed: WorkerConfigDocument = { ...document, intervalMs: 45_000 };
    expect(() => parseWorkerConfig(JSON.stringify(renamed))).toThrow('intervalMs: unknown field');
  });
});

describe('the gateway config', () => {
  it('is read back by the gateway exactly as the operator rendered it', () => {
    const rendered = (gatewayConfigMap(instance, [rich], settings) as { data: Record<string, string> }).data[
      'config.yaml'
    ]!;
    expect(parseGatewayConfig(keysHere(rendered))).toEqual({
      host: '0.0.0.0',
      port: 7443,
      tlsDir: '/etc/kmesh/tls',
      metricsPort: 9091,
      filesystem: '/kmesh/data',
      dataFlows: [
        {
          name: 'ml/models',
          treeDir: '/kmesh/data/teams/ml/models',
          stateDir: '/kmesh/data/.kmesh/gateway/ml/models',
          deletedRetentionMs: 36 * 3_600_000,
          peers: [
            { name: 'west', direction: 'push', paths: ['/public', '/shared/weights'] },
            { name: 'lab', direction: 'pull' },
            { name: 'north', direction: 'push' },
          ],
          encryption: 'aes-256-gcm',
          key,
          publishedFile: '/kmesh/data/.kmesh/worker/ml/models/published.json',
        },
      ],
    });
  });

  it('is typed: a field the gateway does not know does not compile', () => {
    const document = gatewayConfig([rich], settings);
    const renamed: GatewayConfigDocument = {
      ...document,
      // @ts-expect-error deletedRetentionMs is the gateway's runtime name, not a field of the document.
      dataFlows: [{ ...document.dataFlows![0]!, deletedRetentionMs: 1 }],
    };
    expect(() => parseGatewayConfig(JSON.stringify(renamed))).toThrow('dataFlows[0].deletedRetentionMs: unknown field');
  });
});
