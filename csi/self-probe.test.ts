/** The plugins' liveness: a Probe through their own socket, against a real Identity server. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loggerFor } from '../lib/logging.js';
import { Driver } from './driver.js';
import { identityHandlers } from './identity-server.js';
import { loadCsi } from './proto.js';
import { SelfProbe } from './self-probe.js';
import { serveCsi, type CsiServer } from './server.js';

let dir: string;
let endpoint: string;
let driver: Driver;
let server: CsiServer | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kmesh-self-probe-'));
  endpoint = `unix://${join(dir, 'csi.sock')}`;
  driver = new Driver({ name: 'csi.kmesh.io', version: '1.2.3', endpoint });
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SelfProbe', () => {
  it('is dead while nothing serves the socket, not ready while the driver is not, live once it is', async () => {
    const probe = new SelfProbe(endpoint);
    expect(await probe.live()).toBe(false);
    server = await serveCsi(
      endpoint,
      [{ definition: loadCsi().services.Identity, handlers: identityHandlers(driver) }],
      loggerFor('self-probe-test'),
    );
    expect(await probe.live()).toBe(false); // serving, but Probe answers ready: false
    driver.markReady();
    expect(await probe.live()).toBe(true);
    await server.close();
    server = undefined;
    expect(await probe.live()).toBe(false);
  });
});
