/**
 * `npm run bench:csi [-- --cycles=50 --concurrent=100]`: latency of a volume's whole life on the
 * local backend (CreateVolume → NodeStage → NodePublish → NodeUnpublish → NodeUnstage →
 * DeleteVolume), p50 and p99 per step and for the cycle, then `concurrent` volumes taken through
 * the same life all at once, counting errors. Runs the compiled `kmesh csi` (as the image does)
 * against a control plane of its own, with real bind mounts (as root). Prints figures; asserts
 * nothing.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { credentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { systemRunner } from '../../lib/command.js';
import { mountPointsUnder } from '../../csi/mount/mount-table.js';
import { loadCsi } from '../../csi/proto.js';
import { applyObjects } from '../../lib/kube/apply.js';
import { kubeconfigCredentials } from '../../lib/kube/kubeconfig.js';
import { waitForCrdsEstablished } from '../../lib/kube/crds.js';
import { readManifestDir } from '../../lib/kube/manifests.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import { KubeClient } from '../../lib/kube/rest.js';
import { killControlPlaneSync, startControlPlane, stopControlPlane } from '../control-plane/control-plane.js';
import { REPO_ROOT } from '../tools.js';
import { integerFlag, scriptFlags } from '../../lib/flags.js';

const { CYCLES, CONCURRENT } = scriptFlags(
  'usage: npm run bench:csi [-- --cycles=50 --concurrent=100]',
  {
    cycles: { help: 'volume lives measured one after another', default: '50' },
    concurrent: { help: 'volumes taken through their life at once', default: '100' },
  },
  (flags) => ({
    CYCLES: integerFlag('cycles', flags.value('cycles'), 1, 100_000),
    CONCURRENT: integerFlag('concurrent', flags.value('concurrent'), 1, 10_000),
  }),
);
const NAMESPACE = 'bench';
const STEPS = [
  'CreateVolume',
  'NodeStageVolume',
  'NodePublishVolume',
  'NodeUnpublishVolume',
  'NodeUnstageVolume',
  'DeleteVolume',
] as const;
const MOUNT = { mount: {}, access_mode: { mode: 'SINGLE_NODE_MULTI_WRITER' } };

type Rpc = (request: object, callback: (error: ServiceError | null, response: Record<string, unknown>) => void) => void;
type CsiClient = Client & Record<string, Rpc>;

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};

/** One volume's whole life; returns the milliseconds of each step. */
async function lifecycle(controller: CsiClient, node: CsiClient, dir: string, name: string): Promise<number[]> {
  const call = (client: CsiClient, method: string, request: object): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) =>
      client[method]!(request, (error, response) =>
        error ? reject(new Error(`${method} ${name}: ${error.details}`)) : resolve(response),
      ),
    );
  const timed = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
    const started = process.hrtime.bigint();
    const result = await work();
    return [result, Number(process.hrtime.bigint() - started) / 1e6];
  };
  const staging = join(dir, 'staging', name);
  const target = join(dir, 'target', name);
  const [created, createMs] = await timed(() =>
    call(controller, 'CreateVolume', {
      name,
      volume_capabilities: [MOUNT],
      parameters: { instance: 'dev', namespace: NAMESPACE },
    }),
  );
  const volumeId = (created['volume'] as { volume_id: string }).volume_id;
  const [, stageMs] = await timed(() =>
    call(node, 'NodeStageVolume', { volume_id: volumeId, staging_target_path: staging, volume_capability: MOUNT }),
  );
  const [, publishMs] = await timed(() =>
    call(node, 'NodePublishVolume', {
      volume_id: volumeId,
      staging_target_path: staging,
      target_path: target,
      volume_capability: MOUNT,
    }),
  );
  const [, unpublishMs] = await timed(() =>
    call(node, 'NodeUnpublishVolume', { volume_id: volumeId, target_path: target }),
  );
  const [, unstageMs] = await timed(() =>
    call(node, 'NodeUnstageVolume', { volume_id: volumeId, staging_target_path: staging }),
  );
  const [, deleteMs] = await timed(() => call(controller, 'DeleteVolume', { volume_id: volumeId }));
  return [createMs, stageMs, publishMs, unpublishMs, unstageMs, deleteMs];
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the CSI benchmark makes real bind mounts and must run as root');
  console.log(
    `CSI benchmark: ${CYCLES} volume lifecycles one after another, then ${CONCURRENT} at once (local backend)`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'kmesh-bench-csi-'));
  const plane = await startControlPlane({ controllerManager: false });
  const cleanup = async (): Promise<void> => {
    for (const mountPoint of await mountPointsUnder(dir)) await systemRunner.run('umount', ['-l', mountPoint], 10_000);
    rmSync(dir, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killControlPlaneSync(plane.workDir);
      void cleanup().finally(() => process.exit(130));
    });
  }
  const kube = new KubeClient(kubeconfigCredentials(plane.kubeconfigPath));
  let driver: ReturnType<typeof spawn> | undefined;
  try {
    const crds = (await readManifestDir(join(REPO_ROOT, 'crds'))).flatMap((f) => f.objects);
    await applyObjects(kube, crds, 'kmesh-bench');
    await waitForCrdsEstablished(
      kube,
      crds.map((c) => c.metadata!.name!),
      30_000,
    );
    await kube.create(RESOURCES.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
    mkdirSync(join(dir, 'data'));
    await kube.create(RESOURCES.kmeshInstance, {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'KmeshInstance',
      metadata: { name: 'dev', namespace: NAMESPACE },
      spec: { backend: { type: 'local', local: { path: join(dir, 'data') } } },
    });

    execFileSync(
      process.execPath,
      [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json')],
      { stdio: 'inherit' },
    );
    const socket = join(dir, 'csi.sock');
    driver = spawn(
      process.execPath,
      [
        join(REPO_ROOT, 'dist', 'cmd', 'kmesh.js'),
        'csi',
        `--endpoint=unix://${socket}`,
        '--controller=true',
        '--node-id=node-1',
        `--state-dir=${join(dir, 'state')}`,
        `--namespace=${NAMESPACE}`,
        `--kubeconfig=${plane.kubeconfigPath}`,
      ],
      {
        env: { ...process.env, KMESH_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    for (let i = 0; i < 100 && !existsSync(socket); i++) await sleep(100);
    const proto = loadCsi();
    const controller = new proto.clients.Controller(`unix://${socket}`, credentials.createInsecure()) as CsiClient;
    const node = new proto.clients.Node(`unix://${socket}`, credentials.createInsecure()) as CsiClient;

    await lifecycle(controller, node, dir, 'warmup'); // connections, caches, JIT
    const steps: number[][] = STEPS.map(() => []);
    const totals: number[] = [];
    for (let i = 0; i < CYCLES; i++) {
      const times = await lifecycle(controller, node, dir, `seq-${i}`);
      times.forEach((ms, step) => steps[step]!.push(ms));
      totals.push(times.reduce((a, b) => a + b, 0));
    }
    console.log('');
    console.log(`${'step'.padEnd(22)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`);
    STEPS.forEach((step, i) =>
      console.log(
        `${step.padEnd(22)} ${percentile(steps[i]!, 50).toFixed(1).padStart(8)} ${percentile(steps[i]!, 99).toFixed(1).padStart(8)}`,
      ),
    );
    console.log(
      `${'whole lifecycle'.padEnd(22)} ${percentile(totals, 50).toFixed(1).padStart(8)} ${percentile(totals, 99).toFixed(1).padStart(8)}`,
    );
    const upToPublish = steps[0]!.map((_, i) => steps[0]![i]! + steps[1]![i]! + steps[2]![i]!);
    console.log(
      `${'create+stage+publish'.padEnd(22)} ${percentile(upToPublish, 50).toFixed(1).padStart(8)} ${percentile(upToPublish, 99).toFixed(1).padStart(8)}`,
    );
    console.log('goal (issue 4): p50 <= 50 ms');

    const started = Date.now();
    const results = await Promise.allSettled(
      Array.from({ length: CONCURRENT }, (_, i) => lifecycle(controller, node, dir, `par-${i}`)),
    );
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    console.log('');
    console.log(
      `${CONCURRENT} volumes at once: ${CONCURRENT - failures.length} whole lifecycles succeeded, ${failures.length} failed, in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    for (const failure of failures.slice(0, 5)) console.log(`  ${(failure.reason as Error).message}`);
    controller.close();
    node.close();
  } finally {
    if (driver && driver.exitCode === null) {
      const exited = once(driver, 'exit');
      driver.kill('SIGTERM');
      await exited;
    }
    kube.close();
    await cleanup();
    await stopControlPlane(plane.workDir);
  }
}

await main();
