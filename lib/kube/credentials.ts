/**
 * Where the API server is and how to authenticate to it. Two ways, one interface:
 * - in a pod, the service account (this file): components running in the cluster never load
 *   @kubernetes/client-node, which would cost them about 80 MB of memory;
 * - anywhere else, a person's kubeconfig through @kubernetes/client-node (kubeconfig.ts), so every
 *   kubeconfig a person has works, cloud `exec` and `auth-provider` plugins included.
 * `loadCredentials` picks one; production and tests log in through it (or kubeconfig.ts).
 */
import { readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { join } from 'node:path';

/** What KubeClient needs; @kubernetes/client-node's KubeConfig has the same two methods. */
export interface CredentialSource {
  getCurrentCluster(): { server: string } | null;
  applyToHTTPSOptions(options: RequestOptions): Promise<void>;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Whether this process runs in a pod (the kubelet sets these for every container). */
export function inCluster(): boolean {
  return Boolean(process.env['KUBERNETES_SERVICE_HOST'] && process.env['KUBERNETES_SERVICE_PORT']);
}

/**
 * `kubeconfig` if given; else the service account when running in a pod; else $KUBECONFIG or
 * ~/.kube/config. Loads @kubernetes/client-node only for a kubeconfig.
 */
export async function loadCredentials(kubeconfig?: string): Promise<CredentialSource> {
  if (!kubeconfig && inCluster()) return ClusterCredentials.inCluster();
  const { kubeconfigCredentials } = await import('./kubeconfig.js');
  return kubeconfigCredentials(kubeconfig);
}

interface Material {
  server: string;
  ca: Buffer;
  tokenFile: string;
}

/** The lean path: the pod's service account token (re-read per request, it rotates) and CA. */
export class ClusterCredentials implements CredentialSource {
  private constructor(private readonly material: Material) {}

  /** In a pod (`dir`: where the kubelet mounts the service account); throws when not in one. */
  static inCluster(dir = SERVICE_ACCOUNT_DIR): ClusterCredentials {
    const host = process.env['KUBERNETES_SERVICE_HOST'];
    const port = process.env['KUBERNETES_SERVICE_PORT'];
    if (!host || !port)
      throw new Error('not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset');
    return new ClusterCredentials({
      server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
      ca: readFileSync(join(dir, 'ca.crt')),
      tokenFile: join(dir, 'token'),
    });
  }

  getCurrentCluster(): { server: string } {
    return { server: this.material.server };
  }

  async applyToHTTPSOptions(options: RequestOptions): Promise<void> {
    options.ca = this.material.ca;
    options.headers = {
      ...options.headers,
      Authorization: `Bearer ${readFileSync(this.material.tokenFile, 'utf8').trim()}`,
    };
    return Promise.resolve();
  }
}
