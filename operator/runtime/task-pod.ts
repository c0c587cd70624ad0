/**
 * One-shot work on an instance's filesystem (taking a snapshot, making a virtual copy, removing
 * either): a pod that runs `kmesh snapshot …` with the filesystem mounted, owned by the object it
 * works for. The pod writes its outcome as one line of JSON to its termination message, which is
 * how the operator reads it without reaching into the pod. `restartPolicy: OnFailure` lets the
 * kubelet retry a failed run with its own backoff; the operator reports the last failure meanwhile.
 * Every task is idempotent, so a retry or a repeated pod finishes the same work.
 */
import type { KubeObject } from '../../api/meta.js';
import { EventReasons } from '../../api/v1alpha1/index.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import { isConflictError, type WireObject } from '../../lib/kube/rest.js';
import type { FilesystemAccess } from '../backends/backend.js';
import { filesystemPod } from '../backends/pod.js';
import type { OperatorSettings } from '../settings.js';
import { childName, ownedBy } from './children.js';
import type { ReconcileContext } from './controller.js';

/** Where the task writes its outcome (the kubelet's default terminationMessagePath). */
const RESULT_PATH = '/dev/termination-log';
const CONTAINER = 'task';

export interface TaskSpec {
  owner: KubeObject;
  /** What the task does, e.g. `snapshot` or `remove`: the pod is `<owner>-<role>`. */
  role: string;
  /** `app.kubernetes.io/component` of the pod. */
  component: string;
  access: FilesystemAccess;
  settings: OperatorSettings;
  /** Arguments of `kmesh`, e.g. ['snapshot', 'take', …]; `--result` is added. */
  args: string[];
}

export type TaskOutcome =
  | { state: 'running'; message: string }
  | { state: 'succeeded'; result: Record<string, unknown> }
  | { state: 'failing'; message: string };

export function taskPodName(owner: KubeObject, role: string): string {
  return childName(owner.metadata!.name!, role);
}

export function taskPod(task: TaskSpec): WireObject {
  const owner = ownedBy(task.owner, task.component);
  const shared = filesystemPod(task.access, task.settings);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: taskPodName(task.owner, task.role),
      namespace: task.owner.metadata!.namespace,
      labels: owner.labels,
      ownerReferences: owner.ownerReferences,
    },
    spec: {
      ...shared.pod,
      restartPolicy: 'OnFailure',
      automountServiceAccountToken: false, // it works on files only, never the API
      containers: [
        {
          name: CONTAINER,
          image: task.settings.image,
          args: [...task.args, '--result', RESULT_PATH],
          terminationMessagePath: RESULT_PATH,
          ...shared.container,
          resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } },
          volumeMounts: task.access.volumeMounts,
        },
      ],
      volumes: task.access.volumes,
    },
  };
}

type PodStatus = {
  phase?: string;
  containerStatuses?: {
    name: string;
    state?: { terminated?: { exitCode?: number; message?: string }; waiting?: { reason?: string; message?: string } };
    lastState?: { terminated?: { exitCode?: number; message?: string } };
  }[];
};

/** What the task's JSON line says: a result, or the error it reported (or its raw text). */
function parseOutcome(message: string | undefined): { result?: Record<string, unknown>; error?: string } {
  if (!message) return {};
  try {
    const parsed = JSON.parse(message) as Record<string, unknown>;
    return typeof parsed['error'] === 'string' ? { error: parsed['error'] } : { result: parsed };
  } catch {
    return { error: message.trim() };
  }
}

/** The state of a task pod as the kubelet reports it. */
export function taskOutcome(pod: WireObject): TaskOutcome {
  const name = pod.metadata?.name ?? '';
  const status = (pod as { status?: PodStatus }).status ?? {};
  const container = status.containerStatuses?.find((c) => c.name === CONTAINER);
  if (status.phase === 'Succeeded') {
    const { result, error } = parseOutcome(container?.state?.terminated?.message);
    return result
      ? { state: 'succeeded', result }
      : { state: 'failing', message: `pod ${name} succeeded but reported ${error ? `"${error}"` : 'no result'}` };
  }
  if (status.phase === 'Failed')
    return { state: 'failing', message: `pod ${name} failed${status.containerStatuses ? '' : ' before it started'}` };
  const last = container?.state?.terminated ?? container?.lastState?.terminated;
  if (last && last.exitCode !== 0) {
    const { error } = parseOutcome(last.message);
    return {
      state: 'failing',
      message: `pod ${name} failed (exit ${last.exitCode}): ${error ?? 'see its log'}; the kubelet retries`,
    };
  }
  const waiting = container?.state?.waiting;
  if (waiting?.reason && waiting.reason !== 'ContainerCreating')
    return {
      state: 'failing',
      message: `pod ${name}: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`,
    };
  return { state: 'running', message: `pod ${name} is ${status.phase === 'Running' ? 'running' : 'starting'}` };
}

/**
 * Starts the task unless its pod exists and returns how it stands. A pod that failed for good
 * (evicted, its node gone) is deleted, so the next reconcile starts it again.
 */
export async function runTask<T extends KubeObject>(
  context: ReconcileContext<T>,
  task: TaskSpec,
): Promise<TaskOutcome> {
  const name = taskPodName(task.owner, task.role);
  const pod = context.owned(RESOURCES.pod, task.owner.metadata!.uid!).find((p) => p.metadata?.name === name);
  if (!pod) {
    try {
      await context.client.create(RESOURCES.pod, taskPod(task));
      await context.events.normal(task.owner, EventReasons.Created, `created Pod ${name}`);
    } catch (error) {
      if (!isConflictError(error)) throw error; // 409: it exists, the cache has not seen it yet
    }
    return { state: 'running', message: `pod ${name} is starting` };
  }
  const outcome = taskOutcome(pod);
  if ((pod as { status?: PodStatus }).status?.phase === 'Failed')
    await context.client.delete(RESOURCES.pod, pod.metadata!.namespace, name);
  return outcome;
}

/** Deletes a finished task's pod (its outcome is in the owner's status by then). */
export function endTask<T extends KubeObject>(
  context: ReconcileContext<T>,
  owner: KubeObject,
  role: string,
): Promise<void> {
  return context.client.delete(RESOURCES.pod, owner.metadata!.namespace, taskPodName(owner, role));
}
