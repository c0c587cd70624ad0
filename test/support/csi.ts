/**
 * The CSI Controller service for integration tests: served on a unix socket as the controller's
 * ServiceAccount (bound to csi/rbac/controller-cluster-role.yaml), against the test API server,
 * with Lustre quotas going to a recording runner (no test machine has a Lustre client).
 */
import { credentials, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControllerServer } from '../../csi/controller-server.js';
import { loadCsi } from '../../csi/proto.js';
import { FilesystemQuotas } from '../../csi/quota.js';
import { serveCsi } from '../../csi/server.js';
import { REPO_ROOT } from '../../hack/tools.js';
import { loggerFor } from '../../lib/logging.js';
import type { KubeClient } from '../../lib/kube/rest.js';
import { RecordingSystem } from './commands.js';
import { bindClusterRole, impersonating } from './operator.js';

type Rpc = (request: object, callback: (error: ServiceError | null, response: Record<string, unknown>) => void) => void;

export interface TestController {
  /** Calls a Controller RPC; rejects with the ServiceError. */
  call(method: string, request: object): Promise<Record<string, unknown>>;
  /** 'OK', or '<CODE>: <details>'. */
  codeOf(method: string, request: object): Promise<string>;
  /** The commands the controller ran (Lustre mounts and lfs). */
  system: RecordingSystem;
  stop(): Promise<void>;
}

export async function startTestController(admin: KubeClient): Promise<TestController> {
  const dir = mkdtempSync(join(tmpdir(), 'kmesh-csi-ctl-'));
  const proto = loadCsi();
  const endpoint = `unix://${join(dir, 'csi.sock')}`;
  const identity = impersonating(
    await bindClusterRole(admin, 'kmesh-csi-controller', join(REPO_ROOT, 'csi/rbac/controller-cluster-role.yaml')),
  );
  const system = new RecordingSystem();
  const quotas = new FilesystemQuotas(system.runner, system.table, join(dir, 'mounts'));
  const handlers = new ControllerServer({ client: identity, quotas, log: loggerFor('csi-controller-test') }).handlers();
  const server = await serveCsi(
    endpoint,
    [{ definition: proto.services.Controller, handlers }],
    loggerFor('csi-controller-test'),
  );
  const client = new proto.clients.Controller(endpoint, credentials.createInsecure()) as Client & Record<string, Rpc>;
  const call = (method: string, request: object): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) =>
      client[method]!(request, (error, response) => (error ? reject(error) : resolve(response))),
    );
  return {
    call,
    codeOf: (method, request) =>
      call(method, request).then(
        () => 'OK',
        (error: ServiceError) => `${status[error.code]}: ${error.details}`,
      ),
    system,
    async stop() {
      client.close();
      await server.close();
      identity.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
