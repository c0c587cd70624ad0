/**
 * Rotating a site's certificate in place, as the kubelet updates a mounted Secret after
 * `kmesh certs site … | kubectl apply` or a cert-manager renewal: the running sync worker uses the
 * new files from its next pass, and the running gateway serves them to new connections within
 * seconds (it watches its Secret); neither restarts. See lib/certs/README.md#rotation.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePorts } from '../../hack/control-plane/process.js';
import { CertificateAuthority } from '../../lib/certs/authority.js';
import { eventually } from '../support/eventually.js';
import { FaultBed, workerStatus, type FaultWorkerStatus } from '../support/fault-bed.js';
import { updateSecretVolume } from '../support/secret-volume.js';
import { siteTls } from '../support/sync.js';

const SYNC_TIMEOUT_MS = 60_000;

describe('site certificate rotation', () => {
  let bed: FaultBed;
  let ca: CertificateAuthority;
  let worker: ChildProcess;
  let gateway: ChildProcess;
  let statusPort: number;
  let dir: string;

  /** West's mounted Secret (the gateway's tlsDir) now holds a certificate for west from `from`. */
  const mountWest = async (from: CertificateAuthority) => {
    const tls = await siteTls(from, 'west');
    updateSecretVolume(join(bed.top, 'tls/west'), {
      'ca.crt': Buffer.from(ca.certPem),
      'tls.crt': tls.cert,
      'tls.key': tls.key,
    });
  };
  /** East's mounted Secret now holds `tls` (the worker's peer tlsDir in the bed). */
  const mountEast = async (from: CertificateAuthority) => {
    const tls = await siteTls(from, 'east');
    // The Secret's ca.crt stays the sites' CA: only the leaf changes, as in a renewal (or a mistake).
    updateSecretVolume(join(bed.top, 'tls/east'), {
      'ca.crt': Buffer.from(ca.certPem),
      'tls.crt': tls.cert,
      'tls.key': tls.key,
    });
  };
  const status = async (): Promise<FaultWorkerStatus> => {
    const s = await workerStatus(statusPort);
    if (!s) throw new Error('the worker does not answer /status yet');
    return s;
  };
  /** Writes a file at east and waits until west holds it, and the worker says the peer is in sync. */
  const syncs = async (name: string) => {
    writeFileSync(join(dir, 'east/tree', name), `${name} ${Date.now()}`);
    await eventually(
      async () => {
        expect(readFileSync(join(dir, 'west/tree', name), 'utf8')).toBe(
          readFileSync(join(dir, 'east/tree', name), 'utf8'),
        );
        const s = await status();
        expect(s.peers[0]?.root).toBe(s.root);
      },
      SYNC_TIMEOUT_MS,
      250,
    );
  };

  beforeAll(async () => {
    bed = await FaultBed.create('kmesh-rotation-');
    ca = await CertificateAuthority.create('kmesh-rotation-sites-ca');
    rmSync(join(bed.top, 'tls/west'), { recursive: true, force: true });
    await mountWest(ca);
    rmSync(join(bed.top, 'tls/east'), { recursive: true, force: true });
    await mountEast(ca);
    dir = join(bed.top, 'flow');
    mkdirSync(join(dir, 'east/tree'), { recursive: true });
    mkdirSync(join(dir, 'west/tree'), { recursive: true });
    const [gatewayPort, gatewayMetrics, workerStatusPort] = await freePorts(3);
    statusPort = workerStatusPort!;
    writeFileSync(join(dir, 'gateway.yaml'), bed.gatewayYaml(dir, gatewayPort!, gatewayMetrics!));
    writeFileSync(join(dir, 'worker.yaml'), bed.workerYaml(dir, gatewayPort!, statusPort, 2));
    gateway = bed.launch('gateway', join(dir, 'gateway.yaml'));
    worker = bed.launch('sync', join(dir, 'worker.yaml'));
  });
  afterAll(() => bed?.close());

  it('the worker presents a renewed certificate from its next pass, and one from another CA is refused, without a restart', async () => {
    await syncs('before-rotation.txt');
    const pid = worker.pid;

    // A certificate from another CA in the Secret: the worker now presents it, and west refuses it.
    await mountEast(await CertificateAuthority.create('kmesh-rotation-other-ca'));
    writeFileSync(join(dir, 'east/tree/while-refused.txt'), 'not yet');
    await eventually(
      async () => expect((await status()).peers[0]?.lastError).toContain("it does not accept this site's certificate"),
      SYNC_TIMEOUT_MS,
      250,
    );

    // Renewed from the sites' CA: the same process syncs again.
    await mountEast(ca);
    await syncs('after-rotation.txt');
    expect(readFileSync(join(dir, 'west/tree/while-refused.txt'), 'utf8')).toBe('not yet');
    expect([worker.pid, worker.exitCode, worker.signalCode]).toEqual([pid, null, null]);
  });

  it('the gateway serves a renewed certificate to new connections without a restart, and one from another CA is refused by the worker', async () => {
    await syncs('gateway-before.txt');
    const pid = gateway.pid;
    // A certificate from another CA at west: the gateway picks it up (it checks every few seconds),
    // and east's worker, which trusts the sites' CA only, refuses to talk to it.
    await mountWest(await CertificateAuthority.create('kmesh-rotation-rogue-ca'));
    await eventually(
      async () => expect((await status()).peers[0]?.lastError).toMatch(/certificate/i),
      SYNC_TIMEOUT_MS,
      250,
    );
    // A change made while refused stays at east: the worker has scanned it, the peer is behind.
    writeFileSync(join(dir, 'east/tree/gateway-refused.txt'), 'not yet');
    await eventually(
      async () => {
        const s = await status();
        expect([s.peers[0]?.root === s.root, s.peers[0]?.lastError]).toEqual([
          false,
          expect.stringMatching(/certificate/i),
        ]);
      },
      SYNC_TIMEOUT_MS,
      250,
    );
    expect(() => readFileSync(join(dir, 'west/tree/gateway-refused.txt'))).toThrow(/ENOENT/);
    // Renewed from the sites' CA: the same gateway process serves it and the flow goes on.
    await mountWest(ca);
    await syncs('gateway-after.txt');
    expect(readFileSync(join(dir, 'west/tree/gateway-refused.txt'), 'utf8')).toBe('not yet');
    expect([gateway.pid, gateway.exitCode, gateway.signalCode]).toEqual([pid, null, null]);
  });
});
