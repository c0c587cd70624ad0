/** Registration with the kubelet: the kubelet's two calls, made over a real socket by a real gRPC client. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { credentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loggerFor } from '../lib/logging.js';
import { loadRegistration, registerWithKubelet, type Registration } from './registration.js';

let dir: string;
let registration: Registration;
let kubelet: Client &
  Record<
    string,
    (request: object, callback: (error: ServiceError | null, response: Record<string, unknown>) => void) => void
  >;

const call = (method: string, request: object = {}): Promise<Record<string, unknown>> =>
  new Promise((resolve, reject) =>
    kubelet[method]!(request, (error, response) => (error ? reject(error) : resolve(response))),
  );

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kmesh-registration-'));
  registration = await registerWithKubelet({
    driverName: 'csi.kmesh.io',
    registrationDir: dir,
    kubeletEndpoint: '/var/lib/kubelet/plugins/csi.kmesh.io/csi.sock',
    log: loggerFor('registration-test'),
  });
  const { client } = loadRegistration();
  kubelet = new client(`unix://${join(dir, 'csi.kmesh.io-reg.sock')}`, credentials.createInsecure()) as typeof kubelet;
});

afterAll(async () => {
  kubelet.close();
  await registration.server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('registration with the kubelet', () => {
  it('serves <driver>-reg.sock and tells the kubelet the driver and its CSI socket on the node', async () => {
    expect(await call('GetInfo')).toEqual({
      type: 'CSIPlugin',
      name: 'csi.kmesh.io',
      endpoint: '/var/lib/kubelet/plugins/csi.kmesh.io/csi.sock',
      supported_versions: ['1.0.0'],
    });
  });

  it('counts as registered only once the kubelet says so, and not after it reports a failure', async () => {
    expect(registration.registered()).toBe(false);
    await call('NotifyRegistrationStatus', { plugin_registered: true, error: '' });
    expect(registration.registered()).toBe(true);
    await call('NotifyRegistrationStatus', { plugin_registered: false, error: 'version 0.3 not supported' });
    expect(registration.registered()).toBe(false);
  });

  it('removes the socket when closed, so the kubelet drops the plugin', async () => {
    const other = await registerWithKubelet({
      driverName: 'other.example.com',
      registrationDir: dir,
      kubeletEndpoint: '/x.sock',
      log: loggerFor('registration-test'),
    });
    expect(existsSync(join(dir, 'other.example.com-reg.sock'))).toBe(true);
    await other.server.close();
    expect(existsSync(join(dir, 'other.example.com-reg.sock'))).toBe(false);
  });
});
