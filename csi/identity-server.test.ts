/** The Identity service over a real unix socket, called by a real gRPC client. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { credentials, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { invalidArgument } from '../lib/errors.js';
import { loggerFor } from '../lib/logging.js';
import { Driver } from './driver.js';
import { identityHandlers } from './identity-server.js';
import { loadCsi } from './proto.js';
import { serveCsi, type CsiServer } from './server.js';

let dir: string;
let server: CsiServer;
let client: Client &
  Record<
    string,
    (request: object, callback: (error: ServiceError | null, response: Record<string, unknown>) => void) => void
  >;
let driver: Driver;

const call = (method: string, request: object = {}): Promise<Record<string, unknown>> =>
  new Promise((resolve, reject) =>
    client[method]!(request, (error, response) => (error ? reject(error) : resolve(response))),
  );

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kmesh-csi-'));
  const endpoint = `unix://${join(dir, 'csi.sock')}`;
  driver = new Driver({ name: 'csi.kmesh.io', version: '1.2.3', endpoint });
  const csi = loadCsi();
  server = await serveCsi(
    endpoint,
    [{ definition: csi.services.Identity, handlers: identityHandlers(driver) }],
    loggerFor('csi-test'),
  );
  client = new csi.clients.Identity(endpoint, credentials.createInsecure()) as typeof client;
});

afterAll(async () => {
  client.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Identity', () => {
  it('names the driver and its version', async () => {
    expect(await call('GetPluginInfo')).toEqual({ name: 'csi.kmesh.io', vendor_version: '1.2.3', manifest: {} });
  });

  it('advertises the Controller service, topology and online expansion', async () => {
    const { capabilities } = (await call('GetPluginCapabilities')) as {
      capabilities: Array<{ service?: { type: string }; volume_expansion?: { type: string } }>;
    };
    expect(capabilities.map((c) => c.service?.type ?? `expansion ${c.volume_expansion?.type}`)).toEqual([
      'CONTROLLER_SERVICE',
      'VOLUME_ACCESSIBILITY_CONSTRAINTS',
      'expansion ONLINE',
    ]);
  });

  it('reports readiness through Probe', async () => {
    expect(await call('Probe')).toEqual({ ready: { value: false } });
    driver.markReady();
    expect(await call('Probe')).toEqual({ ready: { value: true } });
  });

  it('removes its socket when closed, and replaces a stale one on start', async () => {
    const endpoint = `unix://${join(dir, 'second.sock')}`;
    const csi = loadCsi();
    const first = await serveCsi(
      endpoint,
      [{ definition: csi.services.Identity, handlers: identityHandlers(driver) }],
      loggerFor('csi-test'),
    );
    // A second start on the same path (a restarted plugin) takes the path over.
    const second = await serveCsi(
      endpoint,
      [{ definition: csi.services.Identity, handlers: identityHandlers(driver) }],
      loggerFor('csi-test'),
    );
    await first.close().catch(() => undefined);
    await second.close();
    expect(() => rmSync(join(dir, 'second.sock'))).toThrow(/ENOENT/);
  });
});

describe('Driver configuration', () => {
  it.each([
    [{ name: '-bad', version: '1', endpoint: 'unix:///x' }, /driver name "-bad" must be a domain name/],
    [{ name: 'a'.repeat(64), version: '1', endpoint: 'unix:///x' }, /must be a domain name of at most 63 characters/],
    [{ name: 'csi.kmesh.io', version: '', endpoint: 'unix:///x' }, /driver version must not be empty/],
  ])('refuses %j naming the field', (config, message) => {
    expect(() => new Driver(config)).toThrow(message);
  });

  it('answers a StatusError with its code, and any other error with INTERNAL', async () => {
    const endpoint = `unix://${join(dir, 'errors.sock')}`;
    const csi = loadCsi();
    const failing = await serveCsi(
      endpoint,
      [
        {
          definition: csi.services.Identity,
          handlers: {
            GetPluginInfo: () => Promise.reject(invalidArgument('volume_id "../x" leaves the filesystem')),
            Probe: () => Promise.reject(new Error('disk on fire')),
          },
        },
      ],
      loggerFor('csi-test'),
    );
    const other = new csi.clients.Identity(endpoint, credentials.createInsecure()) as typeof client;
    const code = (method: string): Promise<[number, string]> =>
      new Promise((resolve) =>
        other[method]!({}, (error) => resolve([error?.code ?? status.OK, error?.details ?? ''])),
      );
    try {
      expect(await code('GetPluginInfo')).toEqual([status.INVALID_ARGUMENT, 'volume_id "../x" leaves the filesystem']);
      expect(await code('Probe')).toEqual([status.INTERNAL, 'internal error: disk on fire']);
      expect((await code('GetPluginCapabilities'))[0]).toBe(status.UNIMPLEMENTED);
    } finally {
      other.close();
      await failing.close();
    }
  });
});
