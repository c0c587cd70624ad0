/** GET on an arbitrary API server path (discovery, OpenAPI), with the kubeconfig's credentials. */
import { request, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

const RAW_GET_TIMEOUT_MS = 10_000;

export async function getRaw(kc: KubeConfig, path: string): Promise<{ status: number; body: string }> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error('the kubeconfig has no current cluster');
  const options: RequestOptions = { method: 'GET', timeout: RAW_GET_TIMEOUT_MS };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, server), options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out after ${RAW_GET_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}
