/** Renders a kubeconfig with embedded certificates for one cluster and one client identity. */
import { stringify } from 'yaml';

export interface KubeconfigInput {
  name: string;
  server: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

const b64 = (pem: string): string => Buffer.from(pem).toString('base64');

export function renderKubeconfig(input: KubeconfigInput): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: input.name, cluster: { server: input.server, 'certificate-authority-data': b64(input.caPem) } }],
    users: [
      {
        name: `${input.name}-admin`,
        user: { 'client-certificate-data': b64(input.certPem), 'client-key-data': b64(input.keyPem) },
      },
    ],
    contexts: [
      { name: input.name, context: { cluster: input.name, user: `${input.name}-admin`, namespace: 'default' } },
    ],
    'current-context': input.name,
  });
}
