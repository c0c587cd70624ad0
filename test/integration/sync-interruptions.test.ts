/**
 * Interruptions over many seeds, on trees that are hard to sync (test/support/fault-tree.ts): the
 * link is cut at random points a few KB to several MB apart — during the TLS handshake, the
 * manifest exchange, the chunk streams and the commit — and, in the second test, the worker and
 * gateway processes are killed with SIGKILL in the first seconds of their first passes. After each
 * round the trees are identical (content, mode, mtime, symlinks, empty directories) with no
 * temporary file left; a second round of edits, renames, deletes and file/directory swaps must
 * converge the same way. The worker's metrics and totals never fail a pass and never go negative.
 *
 * Seeds: KMESH_FAULT_SEEDS="3,17" replays given seeds; KMESH_FAULT_RUNS=N runs N random ones
 * (default 3). A failing run prints its seed.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomInt } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePorts } from '../../hack/control-plane/process.js';
import { WorkerMetrics } from '../../sync/worker/status.js';
import { FaultBed, leftovers, workerStatus } from '../support/fault-bed.js';
import { mutateFaultTree, populateFaultTree, SeededRandom } from '../support/fault-tree.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { treeListing } from '../support/tree-hash.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const PARALLELISM = 4;

function seeds(): number[] {
  const given = process.env['KMESH_FAULT_SEEDS'];
  if (given) return given.split(',').map((s) => Number(s.trim()));
  return Array.from({ length: Number(process.env['KMESH_FAULT_RUNS'] ?? 3) }, () => randomInt(1, 1_000_000));
}

/** Cut points (absolute client→server byte counts) a few KB to several MB apart. */
function cutPoints(random: SeededRandom, count: number): number[] {
  const points: number[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const scale = random.pick([4 * KiB, 64 * KiB, 1 * MiB, 6 * MiB]);
    at += random.int(4 * KiB, scale + 4 * KiB);
    points.push(at);
  }
  return points;
}

const TREE = { bigBytes: 40 * MiB, smallFiles: 400, sparseBytes: 300 * MiB };

describe('sync interrupted at random points, many seeds', () => {
  let bed: FaultBed;
  let top: string;

  beforeAll(async () => {
    bed = await FaultBed.create('kmesh-interrupt-');
    top = bed.top;
  });
  afterAll(() => bed.close());

  describe.each(seeds())('seed %i: cut links', (seed) => {
    it('converges after every round of cuts, then after a second round of changes', async () => {
      const random = new SeededRandom(seed);
      const dir = join(top, `cuts-${seed}`);
      const src = join(dir, 'east/tree');
      populateFaultTree(src, random, TREE);
      mkdirSync(join(dir, 'west/tree'), { recursive: true });
      const gateway = await bed.startGateway(dir, 'interrupt-gateway');
      const proxy = await TcpProxy.start({ targetPort: gateway.port });
      const metrics = new WorkerMetrics();
      try {
        const worker = bed.worker(dir, proxy.port, PARALLELISM, 'interrupt-worker', metrics);
        const converge = async (round: string) => {
          let passes = 0;
          let afterLastCut = 0;
          while (!(await worker.pass())) {
            passes++;
            if (proxy.remainingCuts === 0) afterLastCut++;
            const error = worker.status().peers[0]?.lastError;
            expect(error ?? '').not.toMatch(/counter|decrease/i);
            // Once the link stops failing, one pass must do (a second if the cut fell in the commit).
            if (afterLastCut > 2)
              throw new Error(
                `seed ${seed}, ${round}: no convergence ${afterLastCut} passes after the last cut (${passes} passes): ${error}`,
              );
            expect(passes).toBeLessThan(200);
          }
          expect({ seed, round, tree: treeListing(join(dir, 'west/tree')) }).toEqual({
            seed,
            round,
            tree: treeListing(src),
          });
          expect({ seed, round, leftovers: leftovers(join(dir, 'west')) }).toEqual({ seed, round, leftovers: [] });
        };
        proxy.cutAt(cutPoints(random, 12));
        await converge('first');
        const changes = mutateFaultTree(src, random);
        proxy.cutAt(cutPoints(random, 6).map((p) => p + proxy.upBytes));
        await converge(`second (${changes.length} changes)`);
        const totals = worker.status().transfer;
        for (const [name, value] of Object.entries(totals))
          expect({ name, negative: value < 0 }).toEqual({ name, negative: false });
        const exposed = await metrics.registry.getMetricsAsJSON();
        for (const metric of exposed)
          for (const v of metric.values)
            expect({ metric: metric.name, negative: v.value < 0 }).toEqual({ metric: metric.name, negative: false });
        expect(proxy.cuts).toBeGreaterThan(0);
        console.log(`seed ${seed}: ${proxy.cuts} cuts, ${(proxy.upBytes / MiB).toFixed(1)} MiB up`);
      } finally {
        await proxy.close();
        await gateway.close();
      }
    }, 300_000);
  });

  describe('kill -9 in the first seconds, with cuts', () => {
    const launch = (command: 'sync' | 'gateway', config: string) => bed.launch(command, config);
    const kill = (child: ReturnType<typeof launch>) => bed.kill(child);

    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    it.each(seeds().slice(0, 2))(
      'seed %i: converges after kills of either side and cuts, in two rounds',
      async (seed) => {
        const random = new SeededRandom(seed);
        const dir = join(top, `kills-${seed}`);
        const src = join(dir, 'east/tree');
        populateFaultTree(src, random, TREE);
        mkdirSync(join(dir, 'west/tree'), { recursive: true });
        const [gwPort, gwMetrics, statusPort] = await freePorts(3);
        const proxy = await TcpProxy.start({ targetPort: gwPort! });
        writeFileSync(join(dir, 'gateway.yaml'), bed.gatewayYaml(dir, gwPort!, gwMetrics!));
        writeFileSync(join(dir, 'worker.yaml'), bed.workerYaml(dir, proxy.port, statusPort!, PARALLELISM));
        let gateway = launch('gateway', join(dir, 'gateway.yaml'));
        let worker = launch('sync', join(dir, 'worker.yaml'));
        try {
          const round = async (name: string) => {
            proxy.cutAt(cutPoints(random, 4).map((p) => p + proxy.upBytes));
            for (let i = 0; i < 5; i++) {
              // Start-up of a process takes about a second here: 1–6 s lands in its first passes.
              await sleep(random.int(1000, 6000));
              if (random.int(0, 3) > 0) {
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
              // Converged, and the last pass succeeded too: a pass right after a gateway restart can
              // fail its Hello while the peer still holds the root (then it retries).
              if (
                status?.root &&
                status.peers[0]?.root === status.root &&
                !status.peers[0]?.lastError &&
                status.root === (await workerStatus(statusPort!))?.root
              )
                break;
              await sleep(500);
            }
            expect({ seed, name, peer: status?.peers[0]?.root, error: status?.peers[0]?.lastError }).toEqual({
              seed,
              name,
              peer: status?.root,
              error: undefined,
            });
            for (const [field, value] of Object.entries(status?.transfer ?? {}))
              expect({ field, negative: value < 0 }).toEqual({ field, negative: false });
          };
          await round('first');
          await kill(worker);
          mutateFaultTree(src, random);
          worker = launch('sync', join(dir, 'worker.yaml'));
          await round('second');
          await kill(worker);
          await kill(gateway);
          expect({ seed, tree: treeListing(join(dir, 'west/tree')) }).toEqual({ seed, tree: treeListing(src) });
          expect({ seed, leftovers: leftovers(join(dir, 'west')) }).toEqual({ seed, leftovers: [] });
        } finally {
          await kill(worker);
          await kill(gateway);
          await proxy.close();
        }
      },
      400_000,
    );
  });
});
