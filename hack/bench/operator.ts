/**
 * `npm run bench:operator [-- --instances=1000 --workers=4]`: how fast the operator brings many
 * KmeshInstances to Ready, and how much memory it needs for it.
 *
 * On a control plane of its own, it creates N local-backend KmeshInstances with a gateway (so each
 * one means a finalizer, a Deployment, a Service, events and status writes), while a kubelet
 * stand-in marks every gateway Deployment available as soon as it appears. It reports the time
 * from the first create until every instance is Ready, and the operator process's peak RSS
 * (VmHWM) and CPU time. A benchmark, not a test: it asserts nothing and prints figures.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KmeshInstance } from '../../api/v1alpha1/index.js';
import { killControlPlaneSync, startControlPlane, stopControlPlane } from '../control-plane/control-plane.js';
import { freePorts } from '../control-plane/process.js';
import { applyObjects } from '../../lib/kube/apply.js';
import { waitForCrdsEstablished } from '../../lib/kube/crds.js';
import { readManifestDir } from '../../lib/kube/manifests.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import { kubeconfigCredentials } from '../../lib/kube/kubeconfig.js';
import { KubeClient, type WireObject } from '../../lib/kube/rest.js';
import { REPO_ROOT } from '../tools.js';
import { integerFlag, scriptFlags } from '../../lib/flags.js';

const { INSTANCES, WORKERS } = scriptFlags(
  'usage: npm run bench:operator [-- --instances=1000 --workers=4]',
  {
    instances: { help: 'KmeshInstances to bring to Ready', default: '1000' },
    workers: { help: "the operator's parallel reconciles per controller", default: '4' },
  },
  (flags) => ({
    INSTANCES: integerFlag('instances', flags.value('instances'), 1, 100_000),
    WORKERS: integerFlag('workers', flags.value('workers'), 1, 64),
  }),
);
const CREATE_PARALLELISM = 16;
const NAMESPACE = 'bench';
const TIMEOUT_MS = 10 * 60_000;
const OPERATOR_LOG = join(tmpdir(), 'kmesh-bench-operator.log');

function procStatus(pid: number): { peakRssMb: number; cpuSeconds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwmKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]); // utime + stime, in clock ticks (100/s on Linux)
  return { peakRssMb: hwmKb / 1024, cpuSeconds: ticks / 100 };
}

async function main(): Promise<void> {
  console.log(`operator benchmark: ${INSTANCES} KmeshInstances (local backend, with gateway), ${WORKERS} workers`);
  const plane = await startControlPlane({ controllerManager: false });
  // Interrupted (Ctrl-C, a timeout): leave nothing behind. The processes die with us (setpriv's
  // parent-death signal); the directory needs removing.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killControlPlaneSync(plane.workDir);
      process.exit(130);
    });
  }
  console.log(`control plane: export KUBECONFIG=${plane.kubeconfigPath}; operator log: ${OPERATOR_LOG}`);
  const client = new KubeClient(kubeconfigCredentials(plane.kubeconfigPath), { maxSockets: 32 });
  const stopping = new AbortController();
  let operatorPid: number | undefined;
  try {
    const crds = (await readManifestDir(join(REPO_ROOT, 'crds'))).flatMap((f) => f.objects);
    await applyObjects(client, crds, 'kmesh-bench');
    await waitForCrdsEstablished(
      client,
      crds.map((c) => c.metadata!.name!),
      30_000,
    );
    await client.create(RESOURCES.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
    await client.create(RESOURCES.secret, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'gateway-tls', namespace: NAMESPACE },
      stringData: { 'tls.crt': 'c', 'tls.key': 'k' },
    });

    // The compiled operator, as the image runs it (tsx would add its transpiler to the figures).
    execFileSync(
      process.execPath,
      [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json')],
      { stdio: 'inherit' },
    );
    const [healthPort] = await freePorts(1);
    const operator = spawn(
      process.execPath,
      [
        ...(process.env['BENCH_OPERATOR_NODE_FLAGS']?.split(' ').filter(Boolean) ?? []),
        join(REPO_ROOT, 'dist', 'cmd', 'kmesh.js'),
        'operator',
        `--kubeconfig=${plane.kubeconfigPath}`,
        '--leader-elect=false',
        `--health-port=${healthPort}`,
        `--workers=${WORKERS}`,
      ],
      // Its logs (pino, on stdout) go to a file, not into the figures.
      {
        cwd: REPO_ROOT,
        env: { ...process.env, KMESH_LOG_LEVEL: process.env['BENCH_OPERATOR_LOG_LEVEL'] ?? 'warn' },
        stdio: ['ignore', openSync(OPERATOR_LOG, 'w'), 'inherit'],
      },
    );
    operatorPid = operator.pid!;
    await new Promise((resolve) => setTimeout(resolve, 2000)); // let it start before the clock runs
    const idle = procStatus(operatorPid);
    const planeBefore = plane.processes.map((p) => procStatus(p.pid).cpuSeconds);

    // Kubelet stand-in: every gateway Deployment becomes available as soon as it exists.
    const marked = new Set<string>();
    void client.watch<WireObject>(
      RESOURCES.deployment,
      { namespace: NAMESPACE, timeoutSeconds: 3600 },
      (event) => {
        const name = event.object.metadata?.name;
        if (event.type !== 'ADDED' || !name || marked.has(name)) return;
        marked.add(name);
        void client
          .mergePatch(
            RESOURCES.deployment,
            NAMESPACE,
            name,
            { status: { replicas: 1, readyReplicas: 1, availableReplicas: 1, updatedReplicas: 1 } },
            'status',
          )
          .catch((e: unknown) => console.error(`stand-in: ${String(e)}`));
      },
      stopping.signal,
    );

    const ready = new Set<string>();
    let allReady!: () => void;
    const allReadyPromise = new Promise<void>((resolve) => (allReady = resolve));
    void client.watch<KmeshInstance>(
      RESOURCES.kmeshInstance,
      { namespace: NAMESPACE, timeoutSeconds: 3600 },
      (event) => {
        const instance = event.object;
        if (instance.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
          ready.add(instance.metadata.name!);
        if (ready.size === INSTANCES) allReady();
      },
      stopping.signal,
    );

    const started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CREATE_PARALLELISM }, async () => {
        for (let i = next++; i < INSTANCES; i = next++) {
          await client.create(RESOURCES.kmeshInstance, {
            apiVersion: 'kmesh.io/v1alpha1',
            kind: 'KmeshInstance',
            metadata: { name: `site-${i}`, namespace: NAMESPACE },
            spec: {
              backend: { type: 'local', local: { path: `/var/lib/kmesh/site-${i}` } },
              gateway: { replicas: 1, tlsSecretRef: { name: 'gateway-tls' } },
            },
          });
        }
      }),
    );
    const createdMs = Date.now() - started;
    const progress = setInterval(
      () => console.log(`  ${ready.size}/${INSTANCES} Ready after ${((Date.now() - started) / 1000).toFixed(1)} s`),
      5000,
    );
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`not all Ready after ${TIMEOUT_MS / 1000} s: ${ready.size}/${INSTANCES}`)),
        TIMEOUT_MS,
      ).unref(),
    );
    await Promise.race([allReadyPromise, timeout]);
    clearInterval(progress);
    const totalMs = Date.now() - started;
    const usage = procStatus(operatorPid);

    console.log('');
    console.log(
      `created ${INSTANCES} instances in ${(createdMs / 1000).toFixed(1)} s (client side, ${CREATE_PARALLELISM} in parallel)`,
    );
    console.log(
      `all ${INSTANCES} Ready after      ${(totalMs / 1000).toFixed(1)} s  (${(INSTANCES / (totalMs / 1000)).toFixed(0)} instances/s)   goal: <= 30 s`,
    );
    console.log(
      `operator peak RSS             ${usage.peakRssMb.toFixed(0)} MB (idle ${idle.peakRssMb.toFixed(0)} MB)   goal: <= 150 MB`,
    );
    console.log(`operator CPU time             ${(usage.cpuSeconds - idle.cpuSeconds).toFixed(1)} s`);
    console.log(
      `control plane CPU time        ${plane.processes.map((p, i) => `${p.name} ${(procStatus(p.pid).cpuSeconds - planeBefore[i]!).toFixed(1)} s`).join(', ')}`,
    );
    // What the API server had to take from the operator, per instance (rest_client_requests_total).
    const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
    const byMethod = new Map<string, number>();
    for (const [, method, count] of metrics.matchAll(
      /^rest_client_requests_total\{method="(\w+)",code="\d+"\} (\d+)$/gm,
    ))
      byMethod.set(method!, (byMethod.get(method!) ?? 0) + Number(count));
    console.log(
      `operator requests / instance  ${[...byMethod].map(([method, count]) => `${method} ${(count / INSTANCES).toFixed(1)}`).join(', ')}`,
    );
    operator.kill('SIGTERM');
    await once(operator, 'exit');
    operatorPid = undefined;
  } finally {
    stopping.abort();
    if (operatorPid) process.kill(operatorPid, 'SIGKILL');
    client.close();
    await stopControlPlane(plane.workDir);
  }
}

await main();
