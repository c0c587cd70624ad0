/**
 * Faults on a real link: a worker pushes through a TCP proxy that cuts every connection at 50
 * random points, and worker and gateway processes are killed with SIGKILL at 10 random moments.
 * After each fault the trees converge byte for byte, no temporary file is left, and a cut costs
 * at most one window (one chunk) per stream in re-sent bytes.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePorts } from '../../hack/control-plane/process.js';
import { DEFAULT_CHUNKING } from '../../sync/engine/chunker.js';
import { FaultBed, leftovers, workerStatus } from '../support/fault-bed.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { treeListing } from '../support/tree-hash.js';

const PARALLELISM = 4;

function populate(src: string, totalMiB: number): void {
  mkdirSync(join(src, 'small'), { recursive: true });
  for (let i = 0; i < 200; i++) writeFileSync(join(src, 'small', `f${i}.txt`), randomBytes(randomInt(0, 20_000)));
  for (let i = 0; i < totalMiB / 16; i++) writeFileSync(join(src, `big-${i}.bin`), randomBytes(16 * 1024 * 1024));
}

describe('sync under faults', () => {
  let bed: FaultBed;
  let top: string;

  beforeAll(async () => {
    bed = await FaultBed.create('kmesh-faults-');
    top = bed.top;
  });
  afterAll(() => bed.close());

  it('converges after the link is cut at 50 random points, re-sending at most one window per stream per cut', async () => {
    const dir = join(top, 'cuts');
    const src = join(dir, 'east/tree');
    populate(src, 64);
    mkdirSync(join(dir, 'west/tree'), { recursive: true });
    const gateway = await bed.startGateway(dir, 'fault-gateway');
    const proxy = await TcpProxy.start({ targetPort: gateway.port });
    try {
      const worker = bed.worker(dir, proxy.port, PARALLELISM, 'fault-worker');
      const uniqueBytes = 64 * 1024 * 1024 + 200 * 20_000; // upper bound of the data to move
      // 50 distinct points, at least 256 KiB apart so each is its own cut.
      const gap = 256 * 1024;
      const points = Array.from({ length: 50 }, () => randomInt(0, uniqueBytes - 50 * gap)).sort((a, b) => a - b);
      proxy.cutAt(points.map((p, i) => p + i * gap));
      let passes = 0;
      while (!(await worker.pass())) {
        passes++;
        expect(passes).toBeLessThan(200);
      }
      expect(proxy.remainingCuts).toBe(0);
      expect(proxy.cuts).toBe(50);
      expect(treeListing(join(dir, 'west/tree'))).toEqual(treeListing(src));
      expect(leftovers(join(dir, 'west'))).toEqual([]);
      expect(existsSync(join(dir, 'west/state/tmp'))).toBe(false);
      const status = worker.status();
      const sentBytes = status.transfer.wireBytes; // sealed lz4 of random data ≈ plain + 28 bytes per chunk
      const resent = sentBytes - status.transfer.logicalBytes;
      const window = DEFAULT_CHUNKING.maxBytes + 64 * 1024;
      expect(resent).toBeLessThanOrEqual(proxy.cuts * PARALLELISM * window);
      console.log(
        `cuts: 50, passes: ${passes + 1}, re-sent ${(resent / 1024 / 1024).toFixed(1)} MiB (${(resent / proxy.cuts / 1024).toFixed(0)} KiB per cut; bound ${(PARALLELISM * window) / 1024} KiB)`,
      );
    } finally {
      await proxy.close();
      await gateway.close();
    }
  });

  it('a link that silently drops everything fails the pass within the timeouts, and the trees converge once it returns', async () => {
    const dir = join(top, 'held');
    const src = join(dir, 'east/tree');
    populate(src, 32);
    mkdirSync(join(dir, 'west/tree'), { recursive: true });
    const gateway = await bed.startGateway(dir, 'held-gateway');
    const proxy = await TcpProxy.start({ targetPort: gateway.port });
    try {
      const worker = bed.worker(dir, proxy.port, PARALLELISM, 'held-worker', undefined, {
        connectTimeout: '500ms',
        stallTimeout: '1s',
      });
      // Mid-transfer the link starts dropping everything: the streams wait for acknowledgements.
      proxy.hold(8 * 1024 * 1024);
      expect(await worker.pass()).toBe(false);
      expect(proxy.held).toBe(true);
      expect(worker.status().peers[0]).toMatchObject({ name: 'west', connected: false });
      // While it lasts, a pass fails at the hello instead of waiting for the call's deadline.
      expect(await worker.pass()).toBe(false);
      proxy.release();
      let passes = 0;
      while (!(await worker.pass())) expect(++passes).toBeLessThan(20);
      expect(treeListing(join(dir, 'west/tree'))).toEqual(treeListing(src));
      expect(worker.status().peers[0]).toMatchObject({ name: 'west', connected: true, pendingBytes: 0 });
    } finally {
      await proxy.close();
      await gateway.close();
    }
  });

  describe('kill -9', () => {
    const launch = (command: 'sync' | 'gateway', config: string) => bed.launch(command, config);
    const kill = (child: ReturnType<typeof launch>) => bed.kill(child);

    it('converges after worker and gateway are killed at 10 random moments', async () => {
      const dir = join(top, 'kills');
      const src = join(dir, 'east/tree');
      populate(src, 128);
      mkdirSync(join(dir, 'west/tree'), { recursive: true });
      const [gwPort, gwMetrics, statusPort] = await freePorts(3);
      writeFileSync(join(dir, 'gateway.yaml'), bed.gatewayYaml(dir, gwPort!, gwMetrics!));
      writeFileSync(join(dir, 'worker.yaml'), bed.workerYaml(dir, gwPort!, statusPort!, PARALLELISM));
      let gateway = launch('gateway', join(dir, 'gateway.yaml'));
      let worker = launch('sync', join(dir, 'worker.yaml'));
      for (let i = 0; i < 10; i++) {
        await new Promise((resolve) => setTimeout(resolve, randomInt(300, 2500)));
        if (i % 2 === 0) {
          await kill(worker);
          worker = launch('sync', join(dir, 'worker.yaml'));
        } else {
          await kill(gateway);
          gateway = launch('gateway', join(dir, 'gateway.yaml'));
        }
      }
      let status;
      for (let i = 0; i < 240; i++) {
        status = await workerStatus(statusPort!);
        if (status?.root && status.peers[0]?.root === status.root) break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      expect(status?.peers[0]?.root).toBe(status?.root);
      await kill(worker);
      await kill(gateway);
      expect(treeListing(join(dir, 'west/tree'))).toEqual(treeListing(src));
      expect(leftovers(join(dir, 'west'))).toEqual([]);
      expect(existsSync(join(dir, 'west/state/tmp'))).toBe(false);
    });
  });
});
