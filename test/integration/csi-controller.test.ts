/**
 * The CSI Controller service over a unix socket against the real API server: StorageClass
 * parameters become the right DataFlows, CreateVolume is idempotent by name, bad input changes
 * nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { credentials, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataFlow } from '../../api/v1alpha1/index.js';
import { ControllerServer } from '../../csi/controller-server.js';
import { loadCsi } from '../../csi/proto.js';
import { serveCsi, type CsiServer } from '../../csi/server.js';
import { loggerFor } from '../../lib/logging.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import type { KubeClient } from '../../lib/kube/rest.js';
import { REPO_ROOT } from '../../hack/tools.js';
import { createNamespace, deleteNamespace, installCrds, testClient } from '../support/cluster.js';
import { bindClusterRole, impersonating } from '../support/operator.js';

type Rpc = (request: object, callback: (error: ServiceError | null, response: Record<string, unknown>) => void) => void;
let kube: KubeClient;
let namespace: string;
let dir: string;
let server: CsiServer;
let csi: Client & Record<string, Rpc>;
let controllerIdentity: KubeClient;
let sharedId: string;

const MOUNT = { mount: {}, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } };
const call = (method: string, request: object): Promise<Record<string, unknown>> =>
  new Promise((resolve, reject) => csi[method]!(request, (error, response) => (error ? reject(error) : resolve(response))));
const codeOf = (method: string, request: object): Promise<string> =>
  call(method, request).then(
    () => 'OK',
    (error: ServiceError) => `${status[error.code]}: ${error.details}`,
  );
const create = (name: string, parameters: Record<string, string>, requiredBytes = 2 ** 30): Promise<Record<string, unknown>> =>
  call('CreateVolume', { name, capacity_range: { required_bytes: requiredBytes }, volume_capabilities: [MOUNT], parameters: { 'csi.storage.k8s.io/pvc/namespace': namespace, instance: 'dev', ...parameters } });
const volumeOf = (response: Record<string, unknown>): { volume_id: string; capacity_bytes: number; volume_context: Record<string, string> } =>
  response['volume'] as { volume_id: string; capacity_bytes: number; volume_context: Record<string, string> };
const objectCounts = async (): Promise<[number, number]> => [
  (await kube.list(RESOURCES.dataFlow, { namespace })).items.length,
  (await kube.list(RESOURCES.configMap, { namespace, labelSelector: 'app.kubernetes.io/managed-by=kmesh-csi' })).items.length,
];

beforeAll(async () => {
  kube = testClient();
  await installCrds(kube);
  namespace = await createNamespace(kube, 'csi-ctl');
  await kube.create(RESOURCES.kmeshInstance, { apiVersion: 'kmesh.io/v1alpha1', kind: 'KmeshInstance', metadata: { name: 'dev', namespace }, spec: { backend: { type: 'local', local: { path: '/var/lib/kmesh/dev' } } } });
  await kube.create(RESOURCES.dataFlow, { apiVersion: 'kmesh.io/v1alpha1', kind: 'DataFlow', metadata: { name: 'shared-data', namespace }, spec: { instanceRef: { name: 'dev' } } });
  dir = mkdtempSync(join(tmpdir(), 'kmesh-csi-ctl-'));
  const proto = loadCsi();
  const endpoint = `unix://${join(dir, 'csi.sock')}`;
  // The controller acts as its ServiceAccount, bound to csi/rbac/controller-cluster-role.yaml.
  controllerIdentity = impersonating(await bindClusterRole(kube, 'kmesh-csi-controller', join(REPO_ROOT, 'csi/rbac/controller-cluster-role.yaml')));
  server = await serveCsi(endpoint, [{ definition: proto.services.Controller, handlers: new ControllerServer(controllerIdentity).handlers() }], loggerFor('csi-controller-test'));
  csi = new proto.clients.Controller(endpoint, credentials.createInsecure()) as typeof csi;
});

afterAll(async () => {
  csi.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
  controllerIdentity.close();
  await deleteNamespace(kube, namespace);
  kube.close();
});

describe('CSI Controller', () => {
  it('advertises only CREATE_DELETE_VOLUME so far', async () => {
    const capabilities = (await call('ControllerGetCapabilities', {}))['capabilities'] as Array<{ rpc: { type: string } }>;
    expect(capabilities.map((c) => c.rpc.type)).toEqual(['CREATE_DELETE_VOLUME']);
  });

  it('creates a DataFlow per volume from template parameters, idempotently by name', async () => {
    const first = volumeOf(await create('pvc-1111', { compression: 'zstd', dedup: 'false' }));
    expect(first).toMatchObject({ volume_id: `v1/${namespace}/dev/pvc-1111`, capacity_bytes: 0, volume_context: { namespace, instance: 'dev', dataFlow: 'pvc-1111' } });
    const dataFlow = await kube.get<DataFlow>(RESOURCES.dataFlow, namespace, 'pvc-1111');
    expect(dataFlow?.spec).toMatchObject({ instanceRef: { name: 'dev' }, mode: 'async', policy: { compression: 'zstd', dedup: false } });
    expect(dataFlow?.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'kmesh-csi' });
    expect(volumeOf(await create('pvc-1111', { compression: 'zstd', dedup: 'false' }))).toEqual(first);
    // A CO may send the parameter map in any order (Go's protobuf does): still the same request.
    const reordered = { dedup: 'false', compression: 'zstd', instance: 'dev', 'csi.storage.k8s.io/pvc/namespace': namespace };
    expect(volumeOf(await call('CreateVolume', { name: 'pvc-1111', capacity_range: { required_bytes: 2 ** 30 }, volume_capabilities: [MOUNT], parameters: reordered }))).toEqual(first);
    expect(await codeOf('CreateVolume', { name: 'pvc-1111', capacity_range: { required_bytes: 2 * 2 ** 30 }, volume_capabilities: [MOUNT], parameters: { 'csi.storage.k8s.io/pvc/namespace': namespace, instance: 'dev', compression: 'zstd', dedup: 'false' } })).toMatch(/^ALREADY_EXISTS: volume pvc-1111 exists with another capacity range/);
  });

  it('binds volumes to an existing DataFlow: its root when shared, a directory each when perVolume', async () => {
    // Shared volumes all see the DataFlow's root; a tag keeps each one's ID its own, as CSI requires.
    sharedId = volumeOf(await create('pvc-2222', { dataFlow: 'shared-data', accessPoint: 'shared' })).volume_id;
    expect(sharedId).toMatch(new RegExp(`^v1/${namespace}/dev/shared-data/@[a-f0-9]{20}$`));
    const other = volumeOf(await create('pvc-2223', { dataFlow: 'shared-data', accessPoint: 'shared' })).volume_id;
    expect(other).not.toBe(sharedId);
    await call('DeleteVolume', { volume_id: other });
    expect(volumeOf(await create('pvc-3333', { dataFlow: 'shared-data' })).volume_id).toBe(`v1/${namespace}/dev/shared-data/volumes/pvc-3333`);
    expect(await kube.get(RESOURCES.dataFlow, namespace, 'pvc-3333')).toBeUndefined();
  });

  it.each([
    [{ name: '', volume_capabilities: [MOUNT] }, /^INVALID_ARGUMENT: name is required/],
    [{ name: 'pvc-x', volume_capabilities: [] }, /^INVALID_ARGUMENT: volume_capabilities is required/],
    [{ name: 'pvc-x', volume_capabilities: [{ block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] }, /^INVALID_ARGUMENT: volume_capabilities\[0\]: Kmesh volumes are filesystems/],
    [{ name: 'pvc-x', volume_capabilities: [MOUNT], capacity_range: { required_bytes: 10, limit_bytes: 5 } }, /^OUT_OF_RANGE/],
    [{ name: 'pvc-x', volume_capabilities: [MOUNT], parameters: { instance: 'dev', colour: 'blue' } }, /^INVALID_ARGUMENT: unknown StorageClass parameter colour/],
    [{ name: 'pvc-x', volume_capabilities: [MOUNT], volume_content_source: { snapshot: { snapshot_id: 's' } } }, /^INVALID_ARGUMENT: volume_content_source/],
    [{ name: 'x'.repeat(129), volume_capabilities: [MOUNT] }, /^INVALID_ARGUMENT: name is longer than 128 bytes/],
  ])('refuses %j and creates nothing', async (request, expected) => {
    const before = await objectCounts();
    const parameters = { 'csi.storage.k8s.io/pvc/namespace': namespace, instance: 'dev', ...((request as { parameters?: object }).parameters ?? {}) };
    expect(await codeOf('CreateVolume', { ...request, parameters })).toMatch(expected);
    expect(await objectCounts()).toEqual(before);
  });

  it('refuses a missing or mismatched DataFlow and creates nothing', async () => {
    const before = await objectCounts();
    expect(await codeOf('CreateVolume', { name: 'pvc-y', volume_capabilities: [MOUNT], parameters: { 'csi.storage.k8s.io/pvc/namespace': namespace, instance: 'dev', dataFlow: 'absent' } })).toBe(`INVALID_ARGUMENT: parameter dataFlow: DataFlow ${namespace}/absent does not exist`);
    expect(await codeOf('CreateVolume', { name: 'pvc-y', volume_capabilities: [MOUNT], parameters: { 'csi.storage.k8s.io/pvc/namespace': namespace, instance: 'other', dataFlow: 'shared-data' } })).toMatch(/^INVALID_ARGUMENT: parameter instance other does not match DataFlow shared-data/);
    expect(await objectCounts()).toEqual(before);
  });

  it('confirms mount capabilities of an existing volume and answers NOT_FOUND for others', async () => {
    const volumeId = `v1/${namespace}/dev/pvc-1111`;
    expect(await call('ValidateVolumeCapabilities', { volume_id: volumeId, volume_capabilities: [MOUNT] })).toMatchObject({ confirmed: { volume_capabilities: [expect.objectContaining({ access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } })] } });
    expect(await call('ValidateVolumeCapabilities', { volume_id: volumeId, volume_capabilities: [{ block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }] })).toMatchObject({ message: expect.stringContaining('block access is not supported') });
    expect(await codeOf('ValidateVolumeCapabilities', { volume_id: `v1/${namespace}/dev/nope`, volume_capabilities: [MOUNT] })).toMatch(/^NOT_FOUND/);
    expect(await codeOf('ValidateVolumeCapabilities', { volume_id: 'garbage', volume_capabilities: [MOUNT] })).toMatch(/^NOT_FOUND/);
  });

  it('deletes what a volume created, keeps a shared DataFlow, and is idempotent', async () => {
    await call('DeleteVolume', { volume_id: `v1/${namespace}/dev/pvc-1111` });
    await call('DeleteVolume', { volume_id: `v1/${namespace}/dev/pvc-1111` });
    expect(await kube.get(RESOURCES.dataFlow, namespace, 'pvc-1111')).toBeUndefined();
    await call('DeleteVolume', { volume_id: `v1/${namespace}/dev/shared-data/volumes/pvc-3333` });
    await call('DeleteVolume', { volume_id: sharedId });
    expect(await kube.get(RESOURCES.dataFlow, namespace, 'shared-data')).toBeDefined();
    expect(await objectCounts()).toEqual([1, 0]);
    expect(await codeOf('DeleteVolume', { volume_id: 'never-ours' })).toBe('OK');
    expect(await codeOf('DeleteVolume', {})).toBe('INVALID_ARGUMENT: volume_id is required');
  });
});
