/**
 * Where the API server is and how to authenticate to it, for processes that should not load
 * @kubernetes/client-node (about 70 MB of memory for what the operator needs from it: this file).
 * Supports the in-cluster service account, and kubeconfig files whose user has a client certificate
 * or a token. Exec and auth-provider plugins are refused with a message naming the user.
 */
import { readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

/** What KubeClient needs; @kubernetes/client-node's KubeConfig has the same two methods. */
export interface CredentialSource {
  getCurrentCluster(): { server: string } | null;
  applyToHTTPSOptions(options: RequestOptions): Promise<void>;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface Material {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecure?: boolean;
  token?: string;
  tokenFile?: string;
}

interface KubeconfigFile {
  'current-context'?: string;
  contexts?: Array<{ name: string; context: { cluster: string; user: string } }>;
  clusters?: Array<{ name: string; cluster: Record<string, string | boolean> }>;
  users?: Array<{ name: string; user: Record<string, unknown> }>;
}

export class ClusterCredentials implements CredentialSource {
  private constructor(private readonly material: Material) {}

  /** In a pod: the service account's token (re-read per request, it rotates) and CA. */
  static inCluster(): ClusterCredentials {
    const host = process.env['KUBERNETES_SERVICE_HOST'];
    const port = process.env['KUBERNETES_SERVICE_PORT'];
    if (!host || !port) throw new Error('not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset');
    return new ClusterCredentials({
      server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
      ca: readFileSync(join(SERVICE_ACCOUNT_DIR, 'ca.crt')),
      tokenFile: join(SERVICE_ACCOUNT_DIR, 'token'),
    });
  }

  /** A kubeconfig file's current context (or `contextName`). */
  static fromFile(path: string, contextName?: string): ClusterCredentials {
    const config = parse(readFileSync(path, 'utf8')) as KubeconfigFile;
    const name = contextName ?? config['current-context'];
    const context = config.contexts?.find((c) => c.name === name)?.context;
    if (!context) throw new Error(`${path}: no context "${name ?? ''}"`);
    const cluster = config.clusters?.find((c) => c.name === context.cluster)?.cluster;
    const user = config.users?.find((u) => u.name === context.user)?.user ?? {};
    if (!cluster || typeof cluster['server'] !== 'string') throw new Error(`${path}: cluster "${context.cluster}" has no server`);
    for (const plugin of ['exec', 'auth-provider', 'username']) {
      if (plugin in user) throw new Error(`${path}: user "${context.user}" authenticates with ${plugin}, which is not supported here; use a token or a client certificate`);
    }
    const base = dirname(path);
    const file = (value: unknown): Buffer | undefined => (typeof value === 'string' ? readFileSync(isAbsolute(value) ? value : join(base, value)) : undefined);
    const data = (value: unknown): Buffer | undefined => (typeof value === 'string' ? Buffer.from(value, 'base64') : undefined);
    return new ClusterCredentials({
      server: cluster['server'],
      ca: data(cluster['certificate-authority-data']) ?? file(cluster['certificate-authority']),
      insecure: cluster['insecure-skip-tls-verify'] === true,
      cert: data(user['client-certificate-data']) ?? file(user['client-certificate']),
      key: data(user['client-key-data']) ?? file(user['client-key']),
      ...(typeof user['token'] === 'string' ? { token: user['token'] } : {}),
      ...(typeof user['tokenFile'] === 'string' ? { tokenFile: user['tokenFile'] } : {}),
    });
  }

  /** `path` if given; else in-cluster when running in a pod; else $KUBECONFIG (first entry); else ~/.kube/config. */
  static load(path?: string): ClusterCredentials {
    if (path) return ClusterCredentials.fromFile(path);
    if (process.env['KUBERNETES_SERVICE_HOST']) return ClusterCredentials.inCluster();
    const fromEnv = process.env['KUBECONFIG']?.split(':').find(Boolean);
    return ClusterCredentials.fromFile(fromEnv ?? join(homedir(), '.kube', 'config'));
  }

  getCurrentCluster(): { server: string } {
    return { server: this.material.server };
  }

  async applyToHTTPSOptions(options: RequestOptions): Promise<void> {
    const { ca, cert, key, insecure, token, tokenFile } = this.material;
    if (ca) options.ca = ca;
    if (cert) options.cert = cert;
    if (key) options.key = key;
    if (insecure) options.rejectUnauthorized = false;
    const bearer = tokenFile ? readFileSync(tokenFile, 'utf8').trim() : token;
    if (bearer) options.headers = { ...options.headers, Authorization: `Bearer ${bearer}` };
    return Promise.resolve();
  }
}
