/**
 * Hostile inputs (docs/security.md): host paths and access points that would let whoever may create
 * a Kmesh object read or write what is not theirs. Each is refused by the API server (422 naming the
 * field), by the operator (a False condition naming the field, a Warning Event, and no Deployment,
 * Pod, Service or ConfigMap made for it) or by the CSI node plugin (the gRPC code the CSI
 * specification asks for, nothing mounted and no directory created outside the instance). The
 * operator runs as its ServiceAccount against the real API server; the CSI node makes real mounts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { credentials, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Condition } from '../../api/v1alpha1/index.js';
import { systemRunner } from '../../lib/command.js';
import { loggerFor } from '../../lib/logging.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import { KubeApiError, type KubeClient, type ResourceType, type WireObject } from '../../lib/kube/rest.js';
import { mountPointsUnder, procMountTable } from '../../csi/mount/mount-table.js';
import { NodeServer } from '../../csi/node-server.js';
import { loadCsi } from '../../csi/proto.js';
import { PublicationLog } from '../../csi/publications.js';
import { ApiVolumeResolver } from '../../csi/resolver.js';
import { serveCsi, type CsiServer } from '../../csi/server.js';
import { REPO_ROOT } from '../../hack/tools.js';
import {
  createNamespace,
  deleteNamespace,
  installCrds,
  testClient,
  eventReasons as eventReasonsOf,
} from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import {
  bindClusterRole,
  impersonating,
  installOperatorRbac,
  startTestOperator,
  testOperatorConfig,
  type TestOperator,
} from '../support/operator.js';

type Kind = 'KmeshInstance' | 'DataFlow' | 'Snapshot' | 'VirtualCopy';
type Spec = Record<string, unknown>;
type Status = { phase?: string; conditions?: Condition[] };

let client: KubeClient;
let namespace: string;
let operator: TestOperator;

const TYPES: Record<Kind, ResourceType> = {
  KmeshInstance: RESOURCES.kmeshInstance,
  DataFlow: RESOURCES.dataFlow,
  Snapshot: RESOURCES.snapshot,
  VirtualCopy: RESOURCES.virtualCopy,
};
const create = (kind: Kind, name: string, spec: Spec): Promise<WireObject> =>
  client.create(TYPES[kind], { apiVersion: 'kmesh.io/v1alpha1', kind, metadata: { name, namespace }, spec });
const local = (path: string, extra: Spec = {}): Spec => ({ backend: { type: 'local', local: { path } }, ...extra });
/** The accepted instance that the others try to reach into; its directory is below /srv/kmesh, an allowed root. */
const goodPath = (): string => `/srv/kmesh/${namespace}/good`;

/** What Kmesh made for object `name` (by name, and by its owner UID when it exists): must stay empty. */
async function childrenOf(name: string, uid?: string): Promise<string[]> {
  const found: string[] = [];
  for (const type of [RESOURCES.deployment, RESOURCES.pod, RESOURCES.service, RESOURCES.configMap]) {
    for (const object of (await client.list(type, { namespace })).items) {
      const objectName = object.metadata?.name ?? '';
      const owned = uid !== undefined && (object.metadata?.ownerReferences ?? []).some((o) => o.uid === uid);
      if (owned || objectName.startsWith(`${name}-`)) found.push(`${type.kind}/${objectName}`);
    }
  }
  return found;
}

const eventReasons = (name: string): Promise<string[]> => eventReasonsOf(client, namespace, name);

beforeAll(async () => {
  client = testClient();
  await installCrds(client);
  await installOperatorRbac(client);
  namespace = await createNamespace(client, 'hostile');
  operator = await startTestOperator(testOperatorConfig(namespace));
  await create('KmeshInstance', 'good', local(goodPath()));
  await create('DataFlow', 'good-flow', { instanceRef: { name: 'good' } });
  // An instance the operator refuses, for the DataFlow, Snapshot and VirtualCopy cases to stand on.
  await create('KmeshInstance', 'on-etc', local('/etc'));
  await create('DataFlow', 'on-etc-flow', { instanceRef: { name: 'on-etc' } });
  await eventually(async () =>
    expect(await client.get(RESOURCES.deployment, namespace, 'good-flow-sync')).toBeDefined(),
  );
});

afterAll(async () => {
  await operator?.stop();
  await deleteNamespace(client, namespace);
  client?.close();
});

/** Objects the API server itself refuses: [kind, spec, field the error names, what it says]. */
const API_REFUSED: [string, Kind, () => Spec, string, string][] = [
  [
    'a local path at the host root',
    'KmeshInstance',
    () => local('/'),
    'spec.backend.local.path',
    "must not be the host's root directory",
  ],
  [
    'a local path climbing out with ..',
    'KmeshInstance',
    () => local('/var/lib/kmesh/../../etc'),
    'spec.backend.local.path',
    "'..' segments",
  ],
  [
    'a relative local path',
    'KmeshInstance',
    () => local('var/lib/kmesh/x'),
    'spec.backend.local.path',
    'normalised absolute path',
  ],
  [
    'a local path with a trailing slash',
    'KmeshInstance',
    () => local('/var/lib/kmesh/x/'),
    'spec.backend.local.path',
    'normalised absolute path',
  ],
  [
    'a local path with a NUL byte',
    'KmeshInstance',
    () => local('/var/lib/kmesh/x\u0000/../../../etc'),
    'spec.backend.local.path',
    'control characters',
  ],
  [
    'a local path with a . segment',
    'KmeshInstance',
    () => local('/var/lib/kmesh/./x'),
    'spec.backend.local.path',
    "'.' or '..' segments",
  ],
  [
    'a DataFlow at the filesystem root',
    'DataFlow',
    () => ({ instanceRef: { name: 'good' }, path: '/' }),
    'spec.path',
    "Kmesh's own state",
  ],
  [
    'a DataFlow over Kmesh state',
    'DataFlow',
    () => ({ instanceRef: { name: 'good' }, path: '/.kmesh' }),
    'spec.path',
    "Kmesh's own state",
  ],
  [
    'a DataFlow inside Kmesh state',
    'DataFlow',
    () => ({ instanceRef: { name: 'good' }, path: '/.kmesh/snapshots' }),
    'spec.path',
    "Kmesh's own state",
  ],
  [
    'a DataFlow path climbing out with ..',
    'DataFlow',
    () => ({ instanceRef: { name: 'good' }, path: '/dataflows/../..' }),
    'spec.path',
    "'..' segments",
  ],
  [
    'a relative DataFlow path',
    'DataFlow',
    () => ({ instanceRef: { name: 'good' }, path: 'dataflows/x' }),
    'spec.path',
    'normalised absolute path',
  ],
  [
    'an NFS source path climbing out',
    'DataFlow',
    () => ({
      instanceRef: { name: 'good' },
      sources: [{ name: 'nas', nfs: { server: 'nas', path: '/exports/../..' } }],
    }),
    'spec.sources[0].nfs.path',
    "'..' segments",
  ],
  [
    'a peer path climbing out',
    'DataFlow',
    () => ({
      instanceRef: { name: 'good' },
      peers: [{ name: 'w', endpoint: 'gw.example.com:7443', tlsSecretRef: { name: 't' }, paths: ['/../x'] }],
    }),
    'spec.peers[0].paths[0]',
    "'..' segments",
  ],
  [
    'a Snapshot export path climbing out',
    'Snapshot',
    () => ({ dataFlowRef: { name: 'good-flow' }, exportTo: { nfs: { server: 'nas', path: '/backups/../../etc' } } }),
    'spec.exportTo.nfs.path',
    "'..' segments",
  ],
  [
    'a VirtualCopy at the filesystem root',
    'VirtualCopy',
    () => ({ source: { dataFlowRef: { name: 'good-flow' } }, path: '/' }),
    'spec.path',
    "Kmesh's own state",
  ],
  [
    'a VirtualCopy in Kmesh state',
    'VirtualCopy',
    () => ({ source: { dataFlowRef: { name: 'good-flow' } }, path: '/.kmesh/gateway' }),
    'spec.path',
    "Kmesh's own state",
  ],
  [
    'a VirtualCopy path climbing out with ..',
    'VirtualCopy',
    () => ({ source: { dataFlowRef: { name: 'good-flow' } }, path: '/virtualcopies/../../etc' }),
    'spec.path',
    "'..' segments",
  ],
];

/** Objects the operator refuses: [kind, spec, reason, what the message says (field included)]. */
const OPERATOR_REFUSED: [string, Kind, () => Spec, string, string][] = [
  [
    'a local path outside the allowed roots',
    'KmeshInstance',
    () => local('/etc'),
    'PathNotAllowed',
    'spec.backend.local.path /etc is not below an allowed root; allowed: directories below /var/lib/kmesh, /srv/kmesh',
  ],
  [
    'the kubelet’s directory, with a gateway',
    'KmeshInstance',
    () => local('/var/lib/kubelet', { gateway: { tlsSecretRef: { name: 'gw-tls' } } }),
    'PathNotAllowed',
    'spec.backend.local.path /var/lib/kubelet is not below an allowed root',
  ],
  [
    'root’s home',
    'KmeshInstance',
    () => local('/root/.ssh'),
    'PathNotAllowed',
    'spec.backend.local.path /root/.ssh is not below an allowed root',
  ],
  [
    'an allowed root itself',
    'KmeshInstance',
    () => local('/var/lib/kmesh'),
    'PathNotAllowed',
    'spec.backend.local.path /var/lib/kmesh is not below an allowed root',
  ],
  [
    'a sibling that shares a root’s prefix',
    'KmeshInstance',
    () => local('/var/lib/kmeshy/x'),
    'PathNotAllowed',
    'spec.backend.local.path /var/lib/kmeshy/x is not below an allowed root',
  ],
  [
    'another instance’s directory',
    'KmeshInstance',
    () => local(goodPath()),
    'PathConflict',
    `overlaps ${'/srv/kmesh/'}`,
  ],
  [
    'a directory inside another instance’s',
    'KmeshInstance',
    () => local(`${goodPath()}/dataflows/good-flow`),
    'PathConflict',
    'of KmeshInstance',
  ],
  [
    'a directory around another instance’s',
    'KmeshInstance',
    () => local(`/srv/kmesh/${namespace}`),
    'PathConflict',
    'each instance needs a directory of its own',
  ],
  [
    'a DataFlow on a refused instance',
    'DataFlow',
    () => ({ instanceRef: { name: 'on-etc' } }),
    'PathNotAllowed',
    'is refused, so no worker mounts it: spec.backend.local.path /etc',
  ],
  [
    'a Snapshot on a refused instance',
    'Snapshot',
    () => ({ dataFlowRef: { name: 'on-etc-flow' } }),
    'PathNotAllowed',
    'is refused, so no task pod mounts it: spec.backend.local.path /etc',
  ],
  [
    'a VirtualCopy on a refused instance',
    'VirtualCopy',
    () => ({ source: { dataFlowRef: { name: 'on-etc-flow' } } }),
    'PathNotAllowed',
    'is refused, so no task pod mounts it',
  ],
  [
    'a VirtualCopy over a DataFlow’s files',
    'VirtualCopy',
    () => ({ source: { dataFlowRef: { name: 'good-flow' } }, path: '/dataflows/good-flow/x' }),
    'PathConflict',
    'overlaps the access point /dataflows/good-flow of DataFlow good-flow',
  ],
  [
    'a VirtualCopy around every DataFlow',
    'VirtualCopy',
    () => ({ source: { dataFlowRef: { name: 'good-flow' } }, path: '/dataflows' }),
    'PathConflict',
    'overlaps the access point /dataflows/good-flow',
  ],
];

// The CSI node plugin, with real mounts below an allowed root of its own (csiDir/root).
type Rpc = (request: object, callback: (error: ServiceError | null, response: Record<string, unknown>) => void) => void;
const MOUNT = { mount: {}, access_mode: { mode: 'SINGLE_NODE_MULTI_WRITER' } };
let csiDir: string;
let outside: string;
let csiServer: CsiServer;
let csiNode: Client & Record<string, Rpc>;

/** Node RPCs the plugin refuses: [title, method, request fields (volume_id…), CSI code]. */
const CSI_REFUSED: [
  string,
  'NodeStageVolume' | 'NodePublishVolume',
  () => { volume_id: string; target_path?: string },
  string,
][] = [
  [
    'a volume ID climbing out with ..',
    'NodeStageVolume',
    () => ({ volume_id: `v1/${namespace}/csi-good/flow/../../../etc` }),
    'NOT_FOUND',
  ],
  [
    'a volume ID with an absolute sub-path',
    'NodeStageVolume',
    () => ({ volume_id: `v1/${namespace}/csi-good/flow//etc` }),
    'NOT_FOUND',
  ],
  [
    'a volume ID with a NUL byte',
    'NodeStageVolume',
    () => ({ volume_id: `v1/${namespace}/csi-good/flow/a\u0000b` }),
    'NOT_FOUND',
  ],
  [
    'an overlong volume ID',
    'NodeStageVolume',
    () => ({ volume_id: `v1/${namespace}/csi-good/flow/${'a/'.repeat(80)}b` }),
    'NOT_FOUND',
  ],
  [
    'a volume of an instance outside the allowed roots',
    'NodeStageVolume',
    () => ({ volume_id: `v1/${namespace}/csi-etc/flow` }),
    'FAILED_PRECONDITION',
  ],
  [
    'a volume of an instance whose directory is a symlink out of the root',
    'NodeStageVolume',
    () => ({ volume_id: `v1/${namespace}/csi-linked/flow` }),
    'FAILED_PRECONDITION',
  ],
  [
    'a volume of an instance inside another instance’s directory',
    'NodeStageVolume',
    () => ({ volume_id: `v1/${namespace}/csi-nested/flow` }),
    'FAILED_PRECONDITION',
  ],
  [
    'an access point that a symlink leads out of the instance',
    'NodePublishVolume',
    () => ({ volume_id: `v1/${namespace}/csi-good/escape`, target_path: join(csiDir, 'target') }),
    'FAILED_PRECONDITION',
  ],
];

describe('hostile inputs are refused and nothing is created', () => {
  it(`covers at least 30 cases across the four kinds and CSI (${API_REFUSED.length} + ${OPERATOR_REFUSED.length} + ${CSI_REFUSED.length})`, () => {
    expect(API_REFUSED.length + OPERATOR_REFUSED.length + CSI_REFUSED.length).toBeGreaterThanOrEqual(30);
  });

  it.each(API_REFUSED.map((c, i) => [...c, `api-${i}`] as const))(
    'the API server refuses %s',
    async (_title, kind, spec, field, says, name) => {
      const error = await create(kind, name, spec()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(KubeApiError);
      expect((error as KubeApiError).code).toBe(422);
      expect((error as KubeApiError).message).toContain(field);
      expect((error as KubeApiError).message).toContain(says);
      expect(await client.get(TYPES[kind], namespace, name)).toBeUndefined();
      expect(await childrenOf(name)).toEqual([]);
    },
  );

  it.each(OPERATOR_REFUSED.map((c, i) => [...c, `op-${i}`] as const))(
    'the operator refuses %s',
    async (_title, kind, spec, reason, says, name) => {
      const created = await create(kind, name, spec());
      const condition = await eventually(async () => {
        const found = (await client.get<WireObject & { status?: Status }>(TYPES[kind], namespace, name))!;
        const refused = found.status?.conditions?.find((c) => c.status === 'False' && c.reason === reason);
        expect(refused).toBeDefined();
        return refused!;
      });
      expect(condition.message).toContain(says);
      await eventually(async () => expect(await eventReasons(name)).toContain('PathRefused'));
      expect(await childrenOf(name, created.metadata!.uid)).toEqual([]);
    },
  );

  it('keeps the accepted instance and its DataFlow running: a refusal of another changes nothing of theirs', async () => {
    const good = await eventually(async () => {
      const found = (await client.get<WireObject & { status?: Status }>(RESOURCES.kmeshInstance, namespace, 'good'))!;
      expect(found.status?.conditions?.find((c) => c.type === 'FilesystemReady')?.status).toBe('True');
      return found;
    });
    expect(good.status?.conditions?.find((c) => c.type === 'Reconciled')?.status).toBe('True');
    const worker = (await client.get<WireObject & { spec: { template: { spec: { volumes: unknown[] } } } }>(
      RESOURCES.deployment,
      namespace,
      'good-flow-sync',
    ))!;
    expect(worker.spec.template.spec.volumes).toContainEqual({
      name: 'data',
      csi: { driver: 'csi.kmesh.io', volumeAttributes: { 'kmesh.io/instance': 'good' } },
    });
  });
});

describe('the CSI node plugin refuses hostile volumes, mounting and creating nothing', () => {
  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('these tests make real bind mounts and must run as root (CI does)');
    csiDir = mkdtempSync(join(tmpdir(), 'kmesh-hostile-'));
    outside = mkdtempSync(join(tmpdir(), 'kmesh-hostile-outside-'));
    const root = join(csiDir, 'root');
    mkdirSync(join(root, 'good', 'dataflows'), { recursive: true });
    // What an application with a volume of csi-good could write: a symlink out of its filesystem.
    symlinkSync(outside, join(root, 'good', 'dataflows', 'escape'));
    symlinkSync('/', join(root, 'linked'));
    for (const [name, path] of [
      ['csi-good', join(root, 'good')],
      ['csi-etc', '/etc'],
      ['csi-linked', join(root, 'linked')],
      ['csi-nested', join(root, 'good', 'dataflows')],
    ] as const) {
      await create('KmeshInstance', name, local(path));
    }
    for (const [name, instance] of [
      ['flow', 'csi-good'],
      ['escape', 'csi-good'],
    ] as const) {
      await create('DataFlow', name, { instanceRef: { name: instance }, path: `/dataflows/${name}` });
    }
    const nodeUser = impersonating(
      await bindClusterRole(client, 'kmesh-csi-node', join(REPO_ROOT, 'csi/rbac/node-cluster-role.yaml')),
    );
    const roots = [root];
    const node = new NodeServer({
      nodeId: 'node-1',
      resolver: new ApiVolumeResolver(nodeUser, roots),
      runner: systemRunner,
      table: procMountTable,
      publications: new PublicationLog(join(csiDir, 'state'), procMountTable),
      reporter: { report: () => Promise.resolve() },
      log: loggerFor('hostile-csi'),
      localRoots: roots,
      instanceMountDir: join(csiDir, 'instances'),
    });
    const csi = loadCsi();
    const endpoint = `unix://${join(csiDir, 'csi.sock')}`;
    csiServer = await serveCsi(
      endpoint,
      [{ definition: csi.services.Node, handlers: node.handlers() }],
      loggerFor('hostile-csi'),
    );
    csiNode = new csi.clients.Node(endpoint, credentials.createInsecure()) as typeof csiNode;
  });

  afterAll(async () => {
    csiNode?.close();
    await csiServer?.close();
    for (const mountPoint of await mountPointsUnder(csiDir))
      await systemRunner.run('umount', ['-l', mountPoint], 10_000);
    rmSync(csiDir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  const rpc = (method: string, request: object): Promise<string> =>
    new Promise((resolve) =>
      csiNode[method]!(request, (error) => resolve(error ? `${status[error.code]}: ${error.details}` : 'OK')),
    );

  it.each(CSI_REFUSED)('refuses %s', async (_title, method, fields, expected) => {
    const staging = join(csiDir, 'staging');
    const request = { staging_target_path: staging, volume_capability: MOUNT, ...fields() };
    if (method === 'NodePublishVolume')
      expect(await rpc('NodeStageVolume', { ...request, target_path: undefined })).toBe('OK');
    try {
      expect(await rpc(method, request)).toMatch(new RegExp(`^${expected}: `));
      const target = request.target_path;
      expect(await procMountTable.isMountPoint(target ?? staging)).toBe(false);
      expect(readdirSync(outside)).toEqual([]);
    } finally {
      await rpc('NodeUnstageVolume', { volume_id: request.volume_id, staging_target_path: staging });
    }
    expect(await procMountTable.isMountPoint(staging)).toBe(false);
  });

  it('still mounts a volume that stays inside its instance (the refusals are not a blanket no)', async () => {
    const staging = join(csiDir, 'staging-ok');
    const request = {
      volume_id: `v1/${namespace}/csi-good/flow`,
      staging_target_path: staging,
      volume_capability: MOUNT,
    };
    expect(await rpc('NodeStageVolume', request)).toBe('OK');
    expect(await rpc('NodePublishVolume', { ...request, target_path: join(csiDir, 'target-ok') })).toBe('OK');
    expect(await procMountTable.isMountPoint(join(csiDir, 'target-ok'))).toBe(true);
    expect(
      await rpc('NodeUnpublishVolume', { volume_id: request.volume_id, target_path: join(csiDir, 'target-ok') }),
    ).toBe('OK');
    expect(await rpc('NodeUnstageVolume', request)).toBe('OK');
  });
});
