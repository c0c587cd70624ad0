/**
 * The Helm chart (charts/kmesh): `helm lint --strict`, `helm template` validated by kubeconform
 * -strict against the schemas of the real API server the tests run (Kmesh CRDs included), the
 * RBAC it grants equal to the rules the operator and CSI tests run under, and the values a user
 * sets reaching the objects. Installing it into a real cluster is the end-to-end test's job.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, parseAllDocuments, stringify } from 'yaml';
import { chartFiles, CHART_DIR } from '../../hack/chart-files.js';
import { REPO_ROOT, toolPath } from '../../hack/tools.js';
import type { KubeClient } from '../../lib/kube/rest.js';
import { installCrds, testClient } from '../support/cluster.js';
import { SCHEMA_LOCATION_TEMPLATE, writeKubeSchemas } from '../support/kube-schemas.js';

const run = promisify(execFile);
const chart = join(REPO_ROOT, CHART_DIR);
let client: KubeClient;
let dir: string;

type Manifest = {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
};
type PodSpec = {
  containers: {
    name: string;
    image: string;
    args?: string[];
    resources?: unknown;
    volumeMounts?: { name: string; mountPropagation?: string }[];
  }[];
  nodeSelector?: unknown;
  tolerations?: unknown;
};
type Workload = Manifest & { spec: { replicas?: number; template: { spec: PodSpec } } };

/** `helm template` of the chart with these values; the documents it renders. */
async function render(values: Record<string, unknown> = {}): Promise<Manifest[]> {
  const file = join(dir, `values-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, stringify(values));
  const { stdout } = await run(
    toolPath('helm'),
    ['template', 'kmesh', chart, '--namespace', 'kmesh-system', '--kube-version', '1.34.4', '--values', file],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return parseAllDocuments(stdout)
    .map((d) => d.toJSON() as Manifest)
    .filter((m) => m !== null);
}
const find = <T extends Manifest>(manifests: Manifest[], kind: string, name: string): T => {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found)
    throw new Error(
      `${kind} ${name} not rendered; rendered: ${manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ')}`,
    );
  return found as T;
};

/** Site certificates through cert-manager, for two sites. */
const CERT_MANAGER = {
  enabled: true,
  issuerRef: { name: 'kmesh-sites-ca' },
  sites: [
    { site: 'east', namespace: 'ml', dnsNames: ['gw.east.example.com'], ipAddresses: ['192.0.2.10'] },
    { site: 'west', secretName: 'site-west' },
  ],
};

/** Everything optional switched on. */
const FULL = {
  storageClasses: [{ name: 'kmesh-site-a', isDefault: true, parameters: { instance: 'site-a', mode: 'async' } }],
  volumeSnapshotClass: { create: true },
  metrics: { serviceMonitor: { enabled: true } },
  certificates: { certManager: CERT_MANAGER },
};

beforeAll(async () => {
  client = testClient();
  await installCrds(client);
  dir = mkdtempSync(join(tmpdir(), 'kmesh-chart-'));
});
afterAll(() => {
  client?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the Helm chart', () => {
  it.each(chartFiles().map((f) => [f.path, f.content]))(
    'carries %s as generated (run `npm run generate` if not)',
    (path, content) => {
      let onDisk = '(missing)';
      try {
        onDisk = readFileSync(join(REPO_ROOT, path), 'utf8');
      } catch {
        // reported by the comparison
      }
      expect(onDisk).toBe(content);
    },
  );

  it('passes helm lint --strict', async () => {
    const values = join(dir, 'full.yaml');
    writeFileSync(values, stringify(FULL));
    const { stdout } = await run(toolPath('helm'), [
      'lint',
      '--strict',
      chart,
      '--kube-version',
      '1.34.4',
      '--values',
      values,
    ]);
    expect(stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it('renders only objects the API server’s own schemas accept (kubeconform -strict)', async () => {
    const schemas = join(dir, 'schemas');
    expect(await writeKubeSchemas(client, schemas)).toBeGreaterThan(50);
    const rendered = join(dir, 'rendered.yaml');
    writeFileSync(rendered, (await render(FULL)).map((m) => stringify(m)).join('---\n'));
    // ServiceMonitor, VolumeSnapshotClass and Certificate belong to CRDs this API server does not
    // have (Prometheus Operator, external-snapshotter, cert-manager); other tests check their fields.
    const { stdout } = await run(toolPath('kubeconform'), [
      '-strict',
      '-summary',
      '-schema-location',
      join(schemas, SCHEMA_LOCATION_TEMPLATE),
      '-skip',
      'ServiceMonitor,VolumeSnapshotClass,Certificate',
      rendered,
    ]).catch((error: Error & { stdout?: string }) => {
      throw new Error(`kubeconform refused the chart:\n${error.stdout ?? error.message}`);
    });
    expect(stdout).toMatch(/Summary: \d+ resources found in 1 file - Valid: \d+, Invalid: 0, Errors: 0, Skipped: 4/);
  });

  it('grants exactly the RBAC rules the operator and CSI tests run under', async () => {
    const manifests = await render();
    const rules = (file: string) =>
      (parseYaml(readFileSync(join(REPO_ROOT, file), 'utf8')) as { rules: unknown }).rules;
    expect(find(manifests, 'ClusterRole', 'kmesh-operator')['rules']).toEqual(rules('operator/rbac/cluster-role.yaml'));
    expect(find(manifests, 'Role', 'kmesh-operator-leader-election')['rules']).toEqual(
      rules('operator/rbac/leader-election-role.yaml'),
    );
    expect(find(manifests, 'ClusterRole', 'kmesh-csi-controller')['rules']).toEqual(
      rules('csi/rbac/controller-cluster-role.yaml'),
    );
    expect(find(manifests, 'ClusterRole', 'kmesh-csi-node')['rules']).toEqual(rules('csi/rbac/node-cluster-role.yaml'));
    expect(find(manifests, 'Role', 'kmesh-csi-node')).toMatchObject({
      metadata: { namespace: 'kmesh-system' },
      rules: rules('csi/rbac/node-role.yaml'),
    });
    const binding = find(manifests, 'ClusterRoleBinding', 'kmesh-operator');
    expect(binding).toMatchObject({
      roleRef: { kind: 'ClusterRole', name: 'kmesh-operator' },
      subjects: [{ kind: 'ServiceAccount', name: 'kmesh-operator', namespace: 'kmesh-system' }],
    });
  });

  it('renders the driver and its sidecars as Kubernetes expects them', async () => {
    const manifests = await render(FULL);
    expect(find(manifests, 'CSIDriver', 'csi.kmesh.io')['spec']).toMatchObject({
      attachRequired: false,
      podInfoOnMount: true,
    });
    const controller = find<Workload>(manifests, 'Deployment', 'kmesh-csi-controller').spec.template.spec.containers;
    expect(controller.map((c) => c.name)).toEqual(['kmesh-csi', 'csi-provisioner', 'csi-snapshotter', 'csi-resizer']);
    expect(controller.find((c) => c.name === 'csi-provisioner')!.args).toEqual(
      expect.arrayContaining(['--feature-gates=Topology=true', '--extra-create-metadata']),
    );
    expect(controller[0]!.args).toContain('--controller=true');
    const node = find<Workload>(manifests, 'DaemonSet', 'kmesh-csi-node').spec.template.spec.containers;
    // The node plugin registers itself and probes itself: no registrar or livenessprobe sidecars.
    expect(node.map((c) => c.name)).toEqual(['kmesh-csi']);
    expect(node[0]!.volumeMounts).toEqual(
      expect.arrayContaining([
        { name: 'kubelet-dir', mountPath: '/var/lib/kubelet', mountPropagation: 'Bidirectional' },
      ]),
    );
    expect(node[0]!.args).toEqual(
      expect.arrayContaining([
        '--registration-dir=/registration',
        '--kubelet-endpoint=/var/lib/kubelet/plugins/csi.kmesh.io/csi.sock',
        '--health-port=9808',
      ]),
    );
    expect(node[0]!.volumeMounts).toEqual(
      expect.arrayContaining([{ name: 'registration-dir', mountPath: '/registration' }]),
    );
    const operator = find<Workload>(manifests, 'Deployment', 'kmesh-operator');
    expect(operator.spec.replicas).toBe(2);
    expect(operator.spec.template.spec.containers[0]!.args).toEqual(
      expect.arrayContaining(['operator', '--leader-election-id=kmesh-operator', '--image=ghcr.io/kmesh/kmesh:0.1.0']),
    );
    expect(find(manifests, 'StorageClass', 'kmesh-site-a')).toMatchObject({
      provisioner: 'csi.kmesh.io',
      parameters: { instance: 'site-a', mode: 'async' },
      allowVolumeExpansion: true,
      volumeBindingMode: 'WaitForFirstConsumer',
      metadata: { annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
    });
    expect(find(manifests, 'VolumeSnapshotClass', 'kmesh')).toMatchObject({
      driver: 'csi.kmesh.io',
      deletionPolicy: 'Delete',
    });
    expect(find(manifests, 'ServiceMonitor', 'kmesh-operator')['spec']).toMatchObject({
      endpoints: [{ port: 'metrics', path: '/metrics' }],
    });
    const dashboard = JSON.parse(
      find<Manifest & { data: Record<string, string> }>(manifests, 'ConfigMap', 'kmesh-dashboard').data['kmesh.json']!,
    ) as { panels: { targets: { expr: string }[] }[] };
    expect(dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join(' ')).toMatch(
      /kmesh_sync_wire_bytes_total.*controller_runtime_reconcile_total/s,
    );
  });

  it('takes image, resources, nodeSelector and tolerations for every component from the values', async () => {
    const placement = {
      nodeSelector: { 'kmesh.io/pool': 'storage' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'storage', effect: 'NoSchedule' }],
    };
    const resources = { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '2Gi' } };
    const manifests = await render({
      image: { repository: 'registry.local/kmesh', tag: 'v9' },
      operator: { ...placement, resources, lustreServerImage: 'registry.local/lustre:2.15' },
      csi: {
        controller: { ...placement, resources },
        node: { ...placement, resources },
        sidecars: { provisioner: 'registry.local/csi-provisioner:v5' },
      },
    });
    for (const [kind, name] of [
      ['Deployment', 'kmesh-operator'],
      ['Deployment', 'kmesh-csi-controller'],
      ['DaemonSet', 'kmesh-csi-node'],
    ] as const) {
      const pod = find<Workload>(manifests, kind, name).spec.template.spec;
      expect([name, pod.nodeSelector, pod.tolerations]).toEqual([name, placement.nodeSelector, placement.tolerations]);
      expect([name, pod.containers[0]!.image, pod.containers[0]!.resources]).toEqual([
        name,
        'registry.local/kmesh:v9',
        resources,
      ]);
    }
    const operatorArgs = find<Workload>(manifests, 'Deployment', 'kmesh-operator').spec.template.spec.containers[0]!
      .args;
    expect(operatorArgs).toEqual(
      expect.arrayContaining(['--image=registry.local/kmesh:v9', '--lustre-image=registry.local/lustre:2.15']),
    );
    expect(
      find<Workload>(manifests, 'Deployment', 'kmesh-csi-controller').spec.template.spec.containers[1]!.image,
    ).toBe('registry.local/csi-provisioner:v5');
  });

  it('passes localRoots to the operator and the CSI node plugin, which mounts each root, and refuses a root that allows everything', async () => {
    const manifests = await render({ localRoots: ['/var/lib/kmesh', '/srv/data'] });
    expect(find<Workload>(manifests, 'Deployment', 'kmesh-operator').spec.template.spec.containers[0]!.args).toContain(
      '--local-roots=/var/lib/kmesh,/srv/data',
    );
    const node = find<Workload & { spec: { template: { spec: { volumes: unknown[] } } } }>(
      manifests,
      'DaemonSet',
      'kmesh-csi-node',
    ).spec.template.spec;
    expect(node.containers[0]!.args).toContain('--local-roots=/var/lib/kmesh,/srv/data');
    expect(node.containers[0]!.volumeMounts).toEqual(
      expect.arrayContaining([
        { name: 'local-root-0', mountPath: '/var/lib/kmesh', mountPropagation: 'Bidirectional' },
        { name: 'local-root-1', mountPath: '/srv/data', mountPropagation: 'Bidirectional' },
      ]),
    );
    expect(node.volumes).toEqual(
      expect.arrayContaining([{ name: 'local-root-1', hostPath: { path: '/srv/data', type: 'DirectoryOrCreate' } }]),
    );
    await expect(render({ localRoots: ['/'] })).rejects.toThrow(
      /localRoots: "\/" must be an absolute directory other than \//,
    );
    await expect(render({ localRoots: ['var/lib'] })).rejects.toThrow(
      /localRoots: "var\/lib" must be an absolute directory/,
    );
  });

  it('renders no Certificate unless cert-manager is switched on', async () => {
    expect((await render()).filter((m) => m.kind === 'Certificate')).toEqual([]);
  });

  it('asks cert-manager for each site’s certificate, its Secret the one KmeshInstances and DataFlows name', async () => {
    const manifests = await render({ certificates: { certManager: CERT_MANAGER } });
    const usages = ['digital signature', 'key encipherment', 'server auth', 'client auth'];
    const issuerRef = { name: 'kmesh-sites-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' };
    expect(find(manifests, 'Certificate', 'east-tls')).toMatchObject({
      apiVersion: 'cert-manager.io/v1',
      metadata: { namespace: 'ml', labels: { 'kmesh.io/site': 'east' } },
      spec: {
        secretName: 'east-tls',
        secretTemplate: { labels: { 'kmesh.io/site': 'east' } },
        commonName: 'east',
        dnsNames: ['east', 'gw.east.example.com'],
        ipAddresses: ['192.0.2.10'],
        duration: '2160h',
        renewBefore: '360h',
        privateKey: { algorithm: 'ECDSA', size: 256, encoding: 'PKCS8', rotationPolicy: 'Always' },
        usages,
        issuerRef,
      },
    });
    const west = find<Manifest & { spec: Record<string, unknown> }>(manifests, 'Certificate', 'site-west');
    expect(west.metadata.namespace).toBe('kmesh-system');
    expect(west.spec).toMatchObject({
      secretName: 'site-west',
      commonName: 'west',
      dnsNames: ['west'],
      usages,
      issuerRef,
    });
    expect(west.spec).not.toHaveProperty('ipAddresses');
  });

  it.each([
    [{ enabled: true, sites: CERT_MANAGER.sites }, /certificates\.certManager\.issuerRef\.name is required/],
    [{ enabled: true, issuerRef: { name: 'ca' } }, /certificates\.certManager\.sites needs at least one site/],
    [
      { enabled: true, issuerRef: { name: 'ca' }, sites: [{ site: 'east' }, { site: 'West' }] },
      /certificates\.certManager\.sites\[1\]\.site: "West" must be a DNS label/,
    ],
    [
      { enabled: true, issuerRef: { name: 'ca' }, sites: [{ namespace: 'ml' }] },
      /certificates\.certManager\.sites\[0\]\.site: "" must be a DNS label/,
    ],
  ])('refuses cert-manager values %j, naming the value', async (certManager, message) => {
    await expect(render({ certificates: { certManager } })).rejects.toThrow(message);
  });

  it('refuses a StorageClass without a name, saying which value is missing', async () => {
    await expect(render({ storageClasses: [{ parameters: { instance: 'site-a' } }] })).rejects.toThrow(
      /storageClasses\[\]\.name is required/,
    );
  });
});
