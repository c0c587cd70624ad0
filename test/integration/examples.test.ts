import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { readManifestDir } from '../../lib/kube/manifests.js';
import { REPO_ROOT, toolPath } from '../../hack/tools.js';
import type { KubeClient, WireObject } from '../../lib/kube/rest.js';
import { createNamespace, deleteNamespace, installCrds, testClient } from '../support/cluster.js';

/**
 * Defaults the API server must fill in, per example file (`file#Kind` for one kind of a file with
 * several): [path inside the object, value].
 */
const EXPECTED_DEFAULTS: Record<string, Array<[string, unknown]>> = {
  'kmesh-instance-local.yaml': [['spec.backend.type', 'local']],
  'kmesh-instance-lustre.yaml': [
    ['spec.backend.lustre.ha.topologyKey', 'topology.kubernetes.io/zone'],
    ['spec.backend.lustre.atRest.encryption.keySecretRef.key', 'key'],
    ['spec.tiering.target.s3.forcePathStyle', false],
  ],
  'dataflow-replicated.yaml': [
    ['spec.policy.encryption.keySecretRef.key', 'key'],
    ['spec.policy.deleteAfterUse', false],
    ['spec.suspend', false],
  ],
  'dataflow-s3-ingest.yaml': [
    ['spec.mode', 'async'],
    ['spec.policy.dedup', true],
    ['spec.policy.parallelism', 16],
    ['spec.policy.deletedRetention', '168h'],
    ['spec.policy.encryption', undefined],
    ['spec.snapshots.retention', { hourly: 24, daily: 7, weekly: 5, monthly: 12 }],
    ['spec.sources.0.access', 'copy'],
    ['spec.sources.0.s3.forcePathStyle', false],
  ],
  'dataflow-azure-cache.yaml': [
    ['spec.policy.compression', 'none'],
    ['spec.policy.encryption', undefined],
    ['spec.sources.0.writeBack', false],
  ],
  'two-sites-east.yaml#KmeshInstance': [['spec.gateway.service.type', 'ClusterIP']],
  'two-sites-east.yaml#DataFlow': [
    ['spec.mode', 'async'],
    ['spec.policy.encryption.keySecretRef.key', 'key'],
    ['spec.policy.deleteAfterUse', false],
  ],
  'two-sites-west.yaml#KmeshInstance': [
    ['spec.gateway.service.port', 7443],
    ['spec.gateway.replicas', 1],
  ],
  'two-sites-west.yaml#DataFlow': [['spec.policy.compression', 'none']],
  'snapshot.yaml': [['spec.exportTo.s3.forcePathStyle', false]],
  'virtual-copy.yaml': [['spec.refreshRequest', 0]],
};

function at(object: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], object);
}

describe('examples/', () => {
  let client: KubeClient;
  let namespace: string;
  let files: Array<{ file: string; objects: WireObject[] }>;

  beforeAll(async () => {
    client = testClient();
    await installCrds(client);
    namespace = await createNamespace(client, 'examples');
    files = await readManifestDir(join(REPO_ROOT, 'examples'));
  });
  afterAll(async () => {
    await deleteNamespace(client, namespace);
    client.close();
  });

  it('has a manifest of every Kmesh kind, and expectations for every file', () => {
    const kinds = new Set(files.flatMap((f) => f.objects.map((o) => o.kind)));
    expect([...kinds].sort()).toEqual(['DataFlow', 'KmeshInstance', 'Snapshot', 'VirtualCopy']);
    const described = new Set(Object.keys(EXPECTED_DEFAULTS).map((key) => key.split('#')[0]));
    expect(files.map((f) => f.file).sort()).toEqual([...described].sort());
  });

  it('every example is accepted and reads back with its values and the schema defaults', async () => {
    for (const { file, objects } of files) {
      for (const object of objects) {
        const type = await client.resourceFor(object.apiVersion!, object.kind!);
        await client.create(type, { ...object, metadata: { ...object.metadata, namespace } });
        const stored = await client.get(type, namespace, object.metadata!.name!);
        // What the example says is what the server stored...
        expect(stored).toMatchObject(object);
        // ...plus the defaults.
        const expected = [...(EXPECTED_DEFAULTS[file] ?? []), ...(EXPECTED_DEFAULTS[`${file}#${object.kind}`] ?? [])];
        for (const [path, value] of expected) {
          expect([file, path, at(stored, path)]).toEqual([file, path, value]);
        }
      }
    }
  });

  it('kubectl get kmesh lists every kind with its printer columns', () => {
    const out = execFileSync(
      toolPath('kubectl'),
      ['get', 'kmesh', '-n', namespace, '--kubeconfig', process.env['KUBECONFIG']!],
      {
        encoding: 'utf8',
      },
    );
    expect(out).toMatch(/NAME\s+BACKEND\s+REGION\s+PHASE\s+READY\s+USED%\s+AGE/);
    expect(out).toMatch(/kmeshinstance\.kmesh\.io\/aws-east\s+lustre\s+us-east-1/);
    expect(out).toMatch(/NAME\s+INSTANCE\s+MODE\s+PHASE\s+READY\s+SYNCED\s+MOUNTS\s+AGE/);
    expect(out).toMatch(/dataflow\.kmesh\.io\/ml-data\s+aws-east\s+sync/);
    expect(out).toMatch(/snapshot\.kmesh\.io\/ml-data-before-retrain\s+ml-data/);
    expect(out).toMatch(/virtualcopy\.kmesh\.io\/ml-data-experiment/);
  });

  it('kubectl get kmi -o wide shows the site’s cloud', () => {
    const out = execFileSync(
      toolPath('kubectl'),
      ['get', 'kmi', '-o', 'wide', '-n', namespace, '--kubeconfig', process.env['KUBECONFIG']!],
      { encoding: 'utf8' },
    );
    expect(out).toMatch(/NAME\s+BACKEND\s+CLOUD\s+REGION/);
    expect(out).toMatch(/aws-east\s+lustre\s+aws\s+us-east-1/);
    expect(out).toMatch(/dev\s+local\s+onprem\s+lab/);
  });
});
