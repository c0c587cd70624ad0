/**
 * Plays the kubelet for the operator's snapshot and copy task pods in integration tests (there is
 * no kubelet beside the test API server): runs each pod's `kmesh` command as a real process with
 * the instance's filesystem at `dataRoot` instead of /kmesh/data, and writes what a kubelet would
 * into the pod's status: Succeeded with the termination message, or a failed run that is retried
 * (restartPolicy OnFailure) after `retryMs`.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../hack/tools.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import type { KubeClient, WireObject } from '../../lib/kube/rest.js';

const run = promisify(execFile);
const SELECTOR = 'app.kubernetes.io/managed-by=kmesh-operator,app.kubernetes.io/component in (snapshot,virtual-copy)';

type TaskPod = WireObject & { spec: { containers: { name: string; args: string[] }[] }; status?: { phase?: string } };

export interface TaskKubelet {
  /** Pods run so far, by name, with how often each ran. */
  readonly runs: Map<string, number>;
  stop(): Promise<void>;
}

export function startTaskKubelet(
  client: KubeClient,
  namespace: string,
  dataRoot: string,
  retryMs = 1_000,
): TaskKubelet {
  const scratch = mkdtempSync(join(tmpdir(), 'kmesh-task-kubelet-'));
  const runs = new Map<string, number>();
  const failedAt = new Map<string, number>(); // pod UID → when its last run failed
  let stopped = false;

  const runPod = async (pod: TaskPod): Promise<void> => {
    const name = pod.metadata!.name!;
    const container = pod.spec.containers[0]!;
    const result = join(scratch, `${name}.result`);
    const args = container.args.map((a) =>
      a === '/dev/termination-log' ? result : a.replace(/^\/kmesh\/data(?=\/|$)/, dataRoot),
    );
    rmSync(result, { force: true });
    let exitCode = 0;
    try {
      await run(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'cmd', 'kmesh.ts'), ...args], {
        cwd: REPO_ROOT,
        env: { ...process.env, KMESH_LOG_LEVEL: 'warn' },
      });
    } catch (error) {
      exitCode = (error as { code?: number }).code ?? 1;
    }
    runs.set(name, (runs.get(name) ?? 0) + 1);
    let message = '';
    try {
      message = readFileSync(result, 'utf8');
    } catch {
      // no result written: the message stays empty, as a kubelet's would
    }
    const terminated = {
      exitCode,
      reason: exitCode === 0 ? 'Completed' : 'Error',
      message,
      startedAt: new Date().toISOString(),
      finishedAt: new Date().toISOString(),
    };
    const containerStatus = {
      name: container.name,
      ready: false,
      restartCount: (runs.get(name) ?? 1) - 1,
      image: 'kmesh',
      imageID: '',
      state: { terminated },
    };
    if (exitCode === 0) failedAt.delete(pod.metadata!.uid!);
    else failedAt.set(pod.metadata!.uid!, Date.now());
    await client.mergePatch(
      RESOURCES.pod,
      namespace,
      name,
      { status: { phase: exitCode === 0 ? 'Succeeded' : 'Running', containerStatuses: [containerStatus] } },
      'status',
    );
  };

  const loop = (async () => {
    while (!stopped) {
      const pods = (await client.list<TaskPod>(RESOURCES.pod, { namespace, labelSelector: SELECTOR })).items;
      for (const pod of pods) {
        if (stopped || pod.metadata?.deletionTimestamp) continue;
        const failed = failedAt.get(pod.metadata!.uid!);
        const due =
          failed === undefined
            ? pod.status?.phase === undefined || pod.status.phase === 'Pending'
            : Date.now() - failed >= retryMs;
        if (due) await runPod(pod).catch(() => undefined); // a pod deleted meanwhile
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();

  return {
    runs,
    stop: async () => {
      stopped = true;
      await loop;
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
