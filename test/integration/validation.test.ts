/**
 * Invalid manifests are rejected by the API server itself (schema, enums and CEL rules), each for
 * the intended reason: the error names the field and says what is wrong.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RESOURCES } from '../../lib/kube/resources.js';
import { KubeApiError, type KubeClient, type WireObject } from '../../lib/kube/rest.js';
import { parseBandwidth } from '../../sync/wire/bandwidth.js';
import { createNamespace, deleteNamespace, installCrds, testClient } from '../support/cluster.js';

type Spec = Record<string, unknown>;

const manifest = (kind: string, spec: Spec | undefined, name = 'invalid'): WireObject & { spec?: Spec } => ({
  apiVersion: 'kmesh.io/v1alpha1',
  kind,
  metadata: { name },
  ...(spec === undefined ? {} : { spec }),
});

// The smallest valid spec of each kind; every case below changes one thing in one of them.
const LOCAL_INSTANCE: Spec = { backend: { type: 'local', local: { path: '/var/lib/kmesh' } } };
const LUSTRE_INSTANCE: Spec = { backend: { type: 'lustre', lustre: { fsName: 'kmfs' } } };
const DATAFLOW: Spec = { instanceRef: { name: 'dev' } };
const SNAPSHOT: Spec = { dataFlowRef: { name: 'ml-data' } };
const VIRTUAL_COPY: Spec = { source: { dataFlowRef: { name: 'ml-data' } } };
const PEER = { name: 'west', endpoint: 'gw.west.example.com:7443', tlsSecretRef: { name: 'west-tls' } };
const S3 = { bucket: 'acme-data' };
const HOOK = { selector: { matchLabels: { app: 'db' } }, command: ['sync'] };

/** `base` with the fields in `changes` merged in (null deletes a field). */
function withChanges(base: Spec, changes: Spec): Spec {
  const out: Spec = structuredClone(base);
  for (const [key, value] of Object.entries(changes)) {
    const current = out[key];
    if (value === null) delete out[key];
    else if (isPlainObject(value) && isPlainObject(current)) out[key] = withChanges(current, value);
    else out[key] = value;
  }
  return out;
}
const isPlainObject = (v: unknown): v is Spec => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Case {
  kind: 'KmeshInstance' | 'DataFlow' | 'Snapshot' | 'VirtualCopy';
  spec: Spec | undefined;
  /** The field the error must name, and what it must say about it. */
  field: string;
  says: string;
}

const CASES: Record<string, Case> = {
  'fsName longer than 8 characters': {
    kind: 'KmeshInstance',
    spec: withChanges(LUSTRE_INSTANCE, { backend: { lustre: { fsName: 'toolongname' } } }),
    field: 'spec.backend.lustre.fsName',
    says: 'may not be more than 8',
  },
  'fsName with a dash': {
    kind: 'KmeshInstance',
    spec: withChanges(LUSTRE_INSTANCE, { backend: { lustre: { fsName: 'km-fs' } } }),
    field: 'spec.backend.lustre.fsName',
    says: 'should match',
  },
  'local backend without path': {
    kind: 'KmeshInstance',
    spec: { backend: { type: 'local', local: { nodeName: 'node-1' } } },
    field: 'spec.backend.local.path',
    says: 'Required value',
  },
  'local backend without the local section': {
    kind: 'KmeshInstance',
    spec: { backend: { type: 'local' } },
    field: 'spec.backend.local',
    says: 'backend type local needs the local section',
  },
  'lustre backend without the lustre section': {
    kind: 'KmeshInstance',
    spec: { backend: { type: 'lustre' } },
    field: 'spec.backend.lustre',
    says: 'backend type lustre needs the lustre section',
  },
  'both lustre and local sections': {
    kind: 'KmeshInstance',
    spec: withChanges(LOCAL_INSTANCE, { backend: { lustre: { fsName: 'kmfs' } } }),
    field: 'spec.backend',
    says: 'not both lustre and local',
  },
  'unknown backend type': {
    kind: 'KmeshInstance',
    spec: withChanges(LOCAL_INSTANCE, { backend: { type: 'ceph' } }),
    field: 'spec.backend.type',
    says: 'Unsupported value: "ceph"',
  },
  'nodeType custom without server counts': {
    kind: 'KmeshInstance',
    spec: withChanges(LUSTRE_INSTANCE, { backend: { lustre: { nodeType: 'custom' } } }),
    field: 'spec.backend.lustre',
    says: 'nodeType custom needs mds.count, mds.storage, oss.count and oss.storage',
  },
  'at-rest compression on ldiskfs': {
    kind: 'KmeshInstance',
    spec: withChanges(LUSTRE_INSTANCE, { backend: { lustre: { atRest: { compression: 'zstd' } } } }),
    field: 'spec.backend.lustre.atRest.compression',
    says: 'needs backingFs zfs',
  },
  'at-rest encryption on ldiskfs': {
    kind: 'KmeshInstance',
    spec: withChanges(LUSTRE_INSTANCE, {
      backend: { lustre: { atRest: { encryption: { keySecretRef: { name: 'at-rest' } } } } },
    }),
    field: 'spec.backend.lustre.atRest.encryption',
    says: 'needs backingFs zfs',
  },
  'OSS target size that is not a quantity': {
    kind: 'KmeshInstance',
    spec: withChanges(LUSTRE_INSTANCE, { backend: { lustre: { oss: { storage: { size: 'four terabytes' } } } } }),
    field: 'spec.backend.lustre.oss.storage.size',
    says: 'must be a non-negative quantity',
  },
  'negative memory request': {
    kind: 'KmeshInstance',
    spec: withChanges(LOCAL_INSTANCE, { workers: { resources: { requests: { memory: '-1Gi' } } } }),
    field: 'spec.workers.resources.requests[memory]',
    says: 'must be a non-negative quantity',
  },
  'autoscale on a local backend': {
    kind: 'KmeshInstance',
    spec: withChanges(LOCAL_INSTANCE, { autoscale: { enabled: true, maxOss: 4 } }),
    field: 'spec.autoscale.enabled',
    says: 'needs backend.type lustre',
  },
  'autoscale without maxOss': {
    kind: 'KmeshInstance',
    spec: withChanges(LUSTRE_INSTANCE, { autoscale: { enabled: true } }),
    field: 'spec.autoscale.maxOss',
    says: 'needs maxOss',
  },
  'autoscale maxOss below oss.count': {
    kind: 'KmeshInstance',
    spec: withChanges(LUSTRE_INSTANCE, {
      backend: { lustre: { oss: { count: 6 } } },
      autoscale: { enabled: true, maxOss: 4 },
    }),
    field: 'spec.autoscale.maxOss',
    says: 'must be at least backend.lustre.oss.count',
  },
  'autoscale threshold above 99 percent': {
    kind: 'KmeshInstance',
    spec: withChanges(LUSTRE_INSTANCE, { autoscale: { enabled: true, maxOss: 4, thresholdPercent: 150 } }),
    field: 'spec.autoscale.thresholdPercent',
    says: 'less than or equal to 99',
  },
  'gateway port out of range': {
    kind: 'KmeshInstance',
    spec: withChanges(LOCAL_INSTANCE, { gateway: { replicas: 0, service: { port: 70000 } } }),
    field: 'spec.gateway.service.port',
    says: 'less than or equal to 65535',
  },
  'gateway without TLS secret': {
    kind: 'KmeshInstance',
    spec: withChanges(LOCAL_INSTANCE, { gateway: { replicas: 1 } }),
    field: 'spec.gateway.tlsSecretRef',
    says: 'sites talk only over mutual TLS',
  },
  'tiering on a local backend': {
    kind: 'KmeshInstance',
    spec: withChanges(LOCAL_INSTANCE, { tiering: { target: { s3: S3 } } }),
    field: 'spec.tiering',
    says: 'needs backend.type lustre',
  },
  'DataFlow without instanceRef': {
    kind: 'DataFlow',
    spec: { mode: 'async' },
    field: 'spec.instanceRef',
    says: 'Required value',
  },
  'unknown compression': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { policy: { compression: 'brotli' } }),
    field: 'spec.policy.compression',
    says: 'Unsupported value: "brotli"',
  },
  'unknown encryption algorithm': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { policy: { encryption: { algorithm: 'aes-512-gcm', keySecretRef: { name: 'k' } } } }),
    field: 'spec.policy.encryption.algorithm',
    says: 'Unsupported value: "aes-512-gcm"',
  },
  'encryption algorithm without key secret': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { policy: { encryption: { algorithm: 'aes-256-gcm' } } }),
    field: 'spec.policy.encryption.keySecretRef',
    says: 'needs keySecretRef',
  },
  'unknown mode': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { mode: 'eventual' }),
    field: 'spec.mode',
    says: 'Unsupported value: "eventual"',
  },
  'mode sync without peers': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { mode: 'sync' }),
    field: 'spec.peers',
    says: 'mode sync and multiMaster need at least one peer',
  },
  'path containing ..': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { path: '/dataflows/../etc' }),
    field: 'spec.path',
    says: "without '.' or '..' segments",
  },
  'DataFlow path at the filesystem root': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { path: '/' }),
    field: 'spec.path',
    says: "must not be the filesystem root or Kmesh's own state (/.kmesh)",
  },
  'DataFlow path in Kmesh state': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { path: '/.kmesh/worker' }),
    field: 'spec.path',
    says: "must not be the filesystem root or Kmesh's own state (/.kmesh)",
  },
  'DataFlow path with a trailing slash': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { path: '/dataflows/x/' }),
    field: 'spec.path',
    says: 'must be a normalised absolute path',
  },
  'DataFlow path with a NUL byte': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { path: '/dataflows/x\u0000y' }),
    field: 'spec.path',
    says: 'control characters',
  },
  'VirtualCopy path that is Kmesh state': {
    kind: 'VirtualCopy',
    spec: withChanges(VIRTUAL_COPY, { path: '/.kmesh' }),
    field: 'spec.path',
    says: "must not be the filesystem root or Kmesh's own state (/.kmesh)",
  },
  'VirtualCopy path with a . segment': {
    kind: 'VirtualCopy',
    spec: withChanges(VIRTUAL_COPY, { path: '/virtualcopies/./x' }),
    field: 'spec.path',
    says: "without '.' or '..' segments",
  },
  'local path at the host root': {
    kind: 'KmeshInstance',
    spec: withChanges(LOCAL_INSTANCE, { backend: { local: { path: '/' } } }),
    field: 'spec.backend.local.path',
    says: "must not be the host's root directory",
  },
  'local path with //': {
    kind: 'KmeshInstance',
    spec: withChanges(LOCAL_INSTANCE, { backend: { local: { path: '/var//lib/kmesh' } } }),
    field: 'spec.backend.local.path',
    says: 'must be a normalised absolute path',
  },
  'path not absolute': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { path: 'dataflows/ml' }),
    field: 'spec.path',
    says: 'must be a normalised absolute path',
  },
  'peer without endpoint': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { peers: [{ name: 'west', tlsSecretRef: { name: 'west-tls' } }] }),
    field: 'spec.peers[0].endpoint',
    says: 'Required value',
  },
  'peer endpoint without port': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { peers: [{ ...PEER, endpoint: 'gw.west.example.com' }] }),
    field: 'spec.peers[0].endpoint',
    says: 'must be host:port',
  },
  'peer endpoint with a port above 65535': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { peers: [{ ...PEER, endpoint: 'gw.west.example.com:99999' }] }),
    field: 'spec.peers[0].endpoint',
    says: 'must be host:port',
  },
  'peer without TLS secret': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { peers: [{ name: 'west', endpoint: PEER.endpoint }] }),
    field: 'spec.peers[0].tlsSecretRef',
    says: 'Required value',
  },
  'two peers with the same name': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { peers: [PEER, { ...PEER, endpoint: 'other.example.com:7443' }] }),
    field: 'spec.peers[1]',
    says: 'Duplicate value',
  },
  'peer path with ..': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { peers: [{ ...PEER, paths: ['/models/../secrets'] }] }),
    field: 'spec.peers[0].paths[0]',
    says: "without '.' or '..' segments",
  },
  'S3 source without bucket': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { sources: [{ name: 'raw', s3: { region: 'us-east-1' } }] }),
    field: 'spec.sources[0].s3.bucket',
    says: 'Required value',
  },
  'S3 endpoint that is not a URL': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { sources: [{ name: 'raw', s3: { ...S3, endpoint: 'minio:9000' } }] }),
    field: 'spec.sources[0].s3.endpoint',
    says: 'must be an http:// or https:// URL',
  },
  'Azure source without account or endpoint': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { sources: [{ name: 'ref', azureBlob: { container: 'reference' } }] }),
    field: 'spec.sources[0].azureBlob',
    says: 'set account or endpoint',
  },
  'source with two stores': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { sources: [{ name: 'raw', s3: S3, nfs: { server: 'nas', path: '/export' } }] }),
    field: 'spec.sources[0]',
    says: 'exactly one of s3, azureBlob, nfs, pvc',
  },
  'source with no store': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { sources: [{ name: 'raw' }] }),
    field: 'spec.sources[0]',
    says: 'exactly one of s3, azureBlob, nfs, pvc',
  },
  'NFS source with a relative path': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { sources: [{ name: 'nas', nfs: { server: 'nas', path: 'export/data' } }] }),
    field: 'spec.sources[0].nfs.path',
    says: 'must be a normalised absolute path',
  },
  'invalid cron schedule': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { sources: [{ name: 'raw', s3: S3, ingest: { schedule: 'every 5 minutes' } }] }),
    field: 'spec.sources[0].ingest.schedule',
    says: "must be 'once' or a 5-field cron expression",
  },
  'cron schedule with minute 61': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { sources: [{ name: 'raw', s3: S3, ingest: { schedule: '61 * * * *' } }] }),
    field: 'spec.sources[0].ingest.schedule',
    says: "must be 'once' or a 5-field cron expression",
  },
  'negative snapshot retention': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { snapshots: { retention: { hourly: -1 } } }),
    field: 'spec.snapshots.retention.hourly',
    says: 'greater than or equal to 0',
  },
  'bandwidthLimit that is not a quantity': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { policy: { bandwidthLimit: '100 megabits' } }),
    field: 'spec.policy.bandwidthLimit',
    says: 'must be a non-negative quantity',
  },
  'negative bandwidthLimit': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { policy: { bandwidthLimit: '-1M' } }),
    field: 'spec.policy.bandwidthLimit',
    says: 'must be a non-negative quantity',
  },
  'bidirectional peer (needs multi-master, which does not exist yet)': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { peers: [{ ...PEER, direction: 'bidirectional' }] }),
    field: 'spec.peers[0].direction',
    says: 'direction bidirectional is not supported yet',
  },
  'parallelism of zero': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { policy: { parallelism: 0 } }),
    field: 'spec.policy.parallelism',
    says: 'greater than or equal to 1',
  },
  'deletedRetention that is not a duration': {
    kind: 'DataFlow',
    spec: withChanges(DATAFLOW, { policy: { deletedRetention: 'one week' } }),
    field: 'spec.policy.deletedRetention',
    says: 'must be a duration such as 30s',
  },
  'Snapshot naming no DataFlow': {
    kind: 'Snapshot',
    spec: { deletionPolicy: 'Delete' },
    field: 'spec.dataFlowRef',
    says: 'Required value',
  },
  'Snapshot with an empty DataFlow name': {
    kind: 'Snapshot',
    spec: { dataFlowRef: { name: '' } },
    field: 'spec.dataFlowRef.name',
    says: 'at least 1 chars long',
  },
  'Snapshot with no spec at all': {
    kind: 'Snapshot',
    spec: undefined,
    field: 'spec',
    says: 'Required value',
  },
  'unknown deletionPolicy': {
    kind: 'Snapshot',
    spec: withChanges(SNAPSHOT, { deletionPolicy: 'Orphan' }),
    field: 'spec.deletionPolicy',
    says: 'Unsupported value: "Orphan"',
  },
  'Snapshot exporting to two stores': {
    kind: 'Snapshot',
    spec: withChanges(SNAPSHOT, { exportTo: { s3: S3, nfs: { server: 'nas', path: '/backups' } } }),
    field: 'spec.exportTo',
    says: 'set exactly one of s3, azureBlob, nfs',
  },
  'hook with an empty command': {
    kind: 'Snapshot',
    spec: withChanges(SNAPSHOT, { hooks: { pre: { ...HOOK, command: [] } } }),
    field: 'spec.hooks.pre.command',
    says: 'should have at least 1 items',
  },
  'hook with an empty selector': {
    kind: 'Snapshot',
    spec: withChanges(SNAPSHOT, { hooks: { pre: { ...HOOK, selector: {} } } }),
    field: 'spec.hooks.pre.selector',
    says: 'an empty selector would match every pod',
  },
  'VirtualCopy with both snapshotRef and dataFlowRef': {
    kind: 'VirtualCopy',
    spec: withChanges(VIRTUAL_COPY, { source: { snapshotRef: { name: 'snap' } } }),
    field: 'spec.source',
    says: 'set exactly one of snapshotRef or dataFlowRef',
  },
  'VirtualCopy with neither snapshotRef nor dataFlowRef': {
    kind: 'VirtualCopy',
    spec: { source: {} },
    field: 'spec.source',
    says: 'set exactly one of snapshotRef or dataFlowRef',
  },
  'refresh of a copy of a Snapshot': {
    kind: 'VirtualCopy',
    spec: { source: { snapshotRef: { name: 'snap' } }, refresh: { schedule: '@daily' } },
    field: 'spec.refresh',
    says: 'a Snapshot never changes',
  },
  'unknown conflictPolicy': {
    kind: 'VirtualCopy',
    spec: withChanges(VIRTUAL_COPY, { reverseSync: { conflictPolicy: 'merge' } }),
    field: 'spec.reverseSync.conflictPolicy',
    says: 'Unsupported value: "merge"',
  },
  'thickenBandwidthLimit with access copy': {
    kind: 'VirtualCopy',
    spec: withChanges(VIRTUAL_COPY, { thickenBandwidthLimit: '10Mi' }),
    field: 'spec.thickenBandwidthLimit',
    says: 'applies only to access cache',
  },
};

/** Changes to existing objects that must be refused: [kind, spec at creation, spec after, field, says]. */
const UPDATE_CASES: Record<string, [Case['kind'], Spec, Spec, string, string]> = {
  'changing fsName': [
    'KmeshInstance',
    LUSTRE_INSTANCE,
    withChanges(LUSTRE_INSTANCE, { backend: { lustre: { fsName: 'other' } } }),
    'spec.backend.lustre.fsName',
    'fsName cannot be changed',
  ],
  'changing backend type': [
    'KmeshInstance',
    LOCAL_INSTANCE,
    { backend: { type: 'lustre', local: null, lustre: { fsName: 'kmfs' } } },
    'spec.backend',
    'backend.type cannot be changed',
  ],
  'moving a DataFlow to another instance': [
    'DataFlow',
    DATAFLOW,
    { instanceRef: { name: 'other' } },
    'spec.instanceRef.name',
    'instanceRef cannot be changed',
  ],
  'changing a DataFlow path': [
    'DataFlow',
    withChanges(DATAFLOW, { path: '/a' }),
    withChanges(DATAFLOW, { path: '/b' }),
    'spec.path',
    'path cannot be set, changed or removed',
  ],
  'changing a Snapshot': ['Snapshot', SNAPSHOT, { dataFlowRef: { name: 'other' } }, 'spec', 'a Snapshot is immutable'],
  'changing a VirtualCopy source': [
    'VirtualCopy',
    VIRTUAL_COPY,
    { source: { dataFlowRef: { name: 'other' } } },
    'spec.source',
    'source cannot be changed',
  ],
  'changing a VirtualCopy path': [
    'VirtualCopy',
    withChanges(VIRTUAL_COPY, { path: '/virtualcopies/a' }),
    withChanges(VIRTUAL_COPY, { path: '/dataflows/b' }),
    'spec.path',
    'path cannot be set, changed or removed',
  ],
  'moving a VirtualCopy to another instance': [
    'VirtualCopy',
    VIRTUAL_COPY,
    withChanges(VIRTUAL_COPY, { instanceRef: { name: 'other' } }),
    'spec.instanceRef',
    'instanceRef cannot be set, changed or removed',
  ],
  'lowering refreshRequest': [
    'VirtualCopy',
    withChanges(VIRTUAL_COPY, { refreshRequest: 3 }),
    withChanges(VIRTUAL_COPY, { refreshRequest: 2 }),
    'spec.refreshRequest',
    'refreshRequest may only go up',
  ],
};

/**
 * The API server's rejection of `promise`, which must fail with 422 Invalid and a single cause, so
 * the test knows the object was refused for the one reason it is about.
 */
async function rejection(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error === undefined) throw new Error('the API server accepted it');
  if (!(error instanceof KubeApiError) || !error.status)
    throw error instanceof Error ? error : new Error('the request failed without an API status', { cause: error });
  const status = error.status;
  expect([status.code, status.reason]).toEqual([422, 'Invalid']);
  // After a schema error the server adds a note that it skipped the CEL rules; that is not a cause.
  const causes = (status.details?.causes ?? []).filter(
    (c) => !c.message?.includes('some validation rules were not checked'),
  );
  expect(causes.map((c) => `${c.field}: ${c.message}`)).toHaveLength(1);
  return status.message ?? '';
}

describe('the API server rejects invalid Kmesh objects, for the intended reason', () => {
  let client: KubeClient;
  let namespace: string;

  beforeAll(async () => {
    client = testClient();
    await installCrds(client);
    namespace = await createNamespace(client, 'validation');
  });
  afterAll(async () => {
    await deleteNamespace(client, namespace);
    client.close();
  });

  const inNamespace = (object: WireObject): WireObject => ({ ...object, metadata: { ...object.metadata, namespace } });
  const typeOf = (kind: Case['kind']) => Object.values(RESOURCES).find((t) => t.kind === kind)!;

  it('accepts the valid base objects the cases start from', async () => {
    const bases: Array<[Case['kind'], Spec]> = [
      ['KmeshInstance', LOCAL_INSTANCE],
      ['KmeshInstance', LUSTRE_INSTANCE],
      [
        'DataFlow',
        withChanges(DATAFLOW, { peers: [{ ...PEER, paths: ['/models'] }], sources: [{ name: 'raw', s3: S3 }] }),
      ],
      ['Snapshot', withChanges(SNAPSHOT, { hooks: { pre: HOOK } })],
      ['VirtualCopy', VIRTUAL_COPY],
    ];
    for (const [kind, spec] of bases)
      await client.create(typeOf(kind), inNamespace(manifest(kind, spec)), { dryRun: true });
  });

  // The worker reads bandwidthLimit with lib/quantity.ts: it must take every value the API server
  // takes, and refuse what the server refuses, or a stored DataFlow would stop its worker.
  it.each(['1e9', '2Pi', '500M', '100Mi', '1.5G', '500m', '1E3', '.5Ki', '+12', '0', '.', 1_000_000])(
    'accepts bandwidthLimit %s, and the worker reads it',
    async (limit) => {
      await client.create(
        typeOf('DataFlow'),
        inNamespace(manifest('DataFlow', withChanges(DATAFLOW, { policy: { bandwidthLimit: limit } }))),
        { dryRun: true },
      );
      expect(parseBandwidth(limit, 'policy.bandwidthLimit')).toBeGreaterThanOrEqual(0);
    },
  );
  it.each(['1K', '1 Mi', '1MB', '-1M', '1e', '1Mi1', 'fast'])(
    'refuses bandwidthLimit %j, and so does the worker',
    async (limit) => {
      const message = await rejection(
        client.create(
          typeOf('DataFlow'),
          inNamespace(manifest('DataFlow', withChanges(DATAFLOW, { policy: { bandwidthLimit: limit } }))),
          { dryRun: true },
        ),
      );
      expect(message).toContain('spec.policy.bandwidthLimit: ');
      expect(() => parseBandwidth(limit, 'policy.bandwidthLimit')).toThrow(/^policy\.bandwidthLimit: /);
    },
  );

  it(`has at least 30 invalid manifests (${Object.keys(CASES).length})`, () => {
    expect(Object.keys(CASES).length).toBeGreaterThanOrEqual(30);
  });

  it.each(Object.entries(CASES))('rejects %s', async (_title, c) => {
    const message = await rejection(
      client.create(typeOf(c.kind), inNamespace(manifest(c.kind, c.spec)), { dryRun: true }),
    );
    expect(message).toContain(`${c.field}: `);
    expect(message).toContain(c.says);
  });

  it.each(Object.entries(UPDATE_CASES))('refuses %s', async (title, [kind, before, after, field, says]) => {
    const name = title.replace(/[^a-z]+/gi, '-').toLowerCase();
    const created = await client.create(typeOf(kind), inNamespace(manifest(kind, before, name)));
    const changed = { ...created, spec: withChanges(created.spec as Spec, after) };
    const message = await rejection(client.replace(typeOf(kind), changed));
    expect(message).toContain(`${field}: `);
    expect(message).toContain(says);
  });
});
