/**
 * What an end-to-end test does with one hack/cluster cluster: REST calls in a namespace, waiting for
 * pods, conditions, Events and `kubectl exec`. One per cluster, so a two-site test holds two.
 */
import type { ClusterState } from '../../hack/cluster/cluster.js';
import { kubectl } from '../../hack/cluster/kmesh-release.js';
import { kubeconfigCredentials } from '../../lib/kube/kubeconfig.js';
import { KubeClient } from '../../lib/kube/rest.js';
import { eventReasons } from './cluster.js';
import { eventually } from './eventually.js';

export type Obj = {
  metadata: { name: string; uid?: string; generation?: number; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
};
export type Pod = Obj & {
  status?: {
    phase?: string;
    hostIP?: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: Array<{ restartCount: number; ready: boolean }>;
  };
};
export type Condition = { type: string; status: string; reason?: string; message?: string };

export function condition(object: Obj, type: string): Condition | undefined {
  return ((object.status?.['conditions'] as Condition[] | undefined) ?? []).find((c) => c.type === type);
}

export class ClusterApi {
  readonly client: KubeClient;

  constructor(
    readonly state: ClusterState,
    readonly namespace: string,
  ) {
    this.client = new KubeClient(kubeconfigCredentials(state.kubeconfigPath));
  }

  get<T = Obj>(path: string): Promise<T> {
    return this.client.request<T>('GET', path);
  }
  post(path: string, body: object): Promise<unknown> {
    return this.client.request('POST', path, { body });
  }
  /** DELETE that ignores an object already gone. */
  del(path: string): Promise<unknown> {
    return this.client.request('DELETE', path).catch(() => undefined);
  }
  exists(path: string): Promise<boolean> {
    return this.get(path).then(
      () => true,
      () => false,
    );
  }
  /** Path of a core resource (or one object) in the namespace. */
  ns(resource: string, name = ''): string {
    return `/api/v1/namespaces/${this.namespace}/${resource}${name ? `/${name}` : ''}`;
  }
  /** Path of a kmesh.io resource (or one object) in the namespace. */
  kmesh(resource: string, name = ''): string {
    return `/apis/kmesh.io/v1alpha1/namespaces/${this.namespace}/${resource}${name ? `/${name}` : ''}`;
  }

  async podLog(name: string): Promise<string> {
    return String(await this.client.request<unknown>('GET', `${this.ns('pods', name)}/log`));
  }

  /** Reasons of the Events recorded for the object `name` in the namespace. */
  eventReasons(name: string): Promise<string[]> {
    return eventReasons(this.client, this.namespace, name);
  }

  waitPodRunning(name: string, timeoutMs = 3 * 60_000): Promise<Pod> {
    return eventually(
      async () => {
        const pod = await this.get<Pod>(this.ns('pods', name));
        if (pod.status?.phase !== 'Running') {
          const events = await this.get<{ items: Array<{ reason: string; message: string }> }>(
            `${this.ns('events')}?fieldSelector=involvedObject.name=${name}`,
          );
          throw new Error(
            `pod ${name} is ${pod.status?.phase}; events: ${events.items.map((e) => `${e.reason}: ${e.message}`).join(' | ')}`,
          );
        }
        return pod;
      },
      timeoutMs,
      1000,
    );
  }

  /** Runs a Node.js script in a pod's container (kubectl exec); returns what it printed. */
  execNode(pod: string, script: string): Promise<string> {
    return kubectl(this.state, 'exec', '-n', this.namespace, pod, '--', 'node', '-e', script);
  }

  close(): void {
    this.client.close();
  }
}
