import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ClusterCredentials, inCluster, loadCredentials, type CredentialSource } from './credentials.js';
import { kubeconfigCredentials } from './kubeconfig.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kmesh-credentials-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(
  user: Record<string, unknown>,
  cluster: Record<string, unknown> = {
    server: 'https://127.0.0.1:6443',
    'certificate-authority-data': Buffer.from('CA').toString('base64'),
  },
): string {
  const path = join(dir, 'config');
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'main',
      contexts: [
        { name: 'main', context: { cluster: 'c', user: 'u' } },
        { name: 'other', context: { cluster: 'c', user: 'other' } },
      ],
      clusters: [{ name: 'c', cluster }],
      users: [
        { name: 'u', user },
        { name: 'other', user: { token: 'other-token' } },
      ],
    }),
  );
  return path;
}

/** The kubeconfig with another current context. */
function current(context: string): string {
  const path = kubeconfig({ token: 't' });
  writeFileSync(path, readFileSync(path, 'utf8').replace('current-context: main', `current-context: ${context}`));
  return path;
}

async function applied(credentials: CredentialSource): Promise<RequestOptions> {
  const options: RequestOptions = {};
  await credentials.applyToHTTPSOptions(options);
  return options;
}

const bearer = async (credentials: CredentialSource): Promise<unknown> =>
  ((await applied(credentials)).headers as Record<string, unknown> | undefined)?.['Authorization'];

/** An unsigned JWT that expires in an hour (what an OIDC provider hands out as id-token). */
function idToken(): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part({ iss: 'https://issuer.example', sub: 'alice', exp: Math.floor(Date.now() / 1000) + 3600 })}.c2ln`;
}

describe("a person's kubeconfig", () => {
  it('reads the server, the CA and an embedded client certificate of the current context', async () => {
    const credentials = await loadCredentials(
      kubeconfig({
        'client-certificate-data': Buffer.from('CERT').toString('base64'),
        'client-key-data': Buffer.from('KEY').toString('base64'),
      }),
    );
    expect(credentials.getCurrentCluster()).toMatchObject({ server: 'https://127.0.0.1:6443' });
    const options = await applied(credentials);
    expect([options.ca, options.cert, options.key].map(String)).toEqual(['CA', 'CERT', 'KEY']);
    expect(await bearer(credentials)).toBeUndefined();
  });

  it('reads certificate files relative to the kubeconfig, and a named context', async () => {
    writeFileSync(join(dir, 'client.crt'), 'FILECERT');
    writeFileSync(join(dir, 'client.key'), 'FILEKEY');
    const path = kubeconfig({ 'client-certificate': 'client.crt', 'client-key': 'client.key' });
    expect(String((await applied(await loadCredentials(path))).cert)).toBe('FILECERT');
    expect(await bearer(kubeconfigCredentials(path, 'other'))).toBe('Bearer other-token');
  });

  it('runs an exec plugin (how EKS, GKE and AKS kubeconfigs log in) and sends the token it prints', async () => {
    const plugin = join(dir, 'credential-plugin');
    const calls = join(dir, 'calls');
    const credential = {
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: 'exec-token' },
    };
    writeFileSync(
      plugin,
      `#!/bin/sh\necho "$KMESH_TEST_AUDIENCE" >> '${calls}'\necho '${JSON.stringify(credential)}'\n`,
    );
    chmodSync(plugin, 0o755);
    const credentials = await loadCredentials(
      kubeconfig({
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: plugin,
          env: [{ name: 'KMESH_TEST_AUDIENCE', value: 'kmesh' }],
          interactiveMode: 'Never',
        },
      }),
    );
    expect(await bearer(credentials)).toBe('Bearer exec-token');
    expect(readFileSync(calls, 'utf8')).toBe('kmesh\n'); // the plugin got its env
  });

  it('uses an auth-provider user (OIDC) with its id-token', async () => {
    const token = idToken();
    const credentials = await loadCredentials(
      kubeconfig({
        'auth-provider': {
          name: 'oidc',
          config: { 'client-id': 'kubernetes', 'idp-issuer-url': 'https://issuer.example', 'id-token': token },
        },
      }),
    );
    expect(await bearer(credentials)).toBe(`Bearer ${token}`);
  });

  it.each([
    [() => kubeconfigCredentials(kubeconfig({ token: 't' }), 'nope'), /config: no context "nope"/],
    [() => kubeconfigCredentials(join(dir, 'absent')), /absent: .*ENOENT/],
    [
      () => kubeconfigCredentials(kubeconfig({ token: 't' }, { 'insecure-skip-tls-verify': true })),
      /config: clusters\[0\]\.cluster\.server is missing/,
    ],
    [() => kubeconfigCredentials(current('gone')), /config: context "gone" names no cluster with a server/],
  ])('refuses a kubeconfig it cannot use, naming the file and what is wrong (%#)', (load, message) => {
    expect(load).toThrow(message);
  });
});

describe('in a pod', () => {
  const saved = { host: process.env['KUBERNETES_SERVICE_HOST'], port: process.env['KUBERNETES_SERVICE_PORT'] };
  afterEach(() => {
    for (const [key, value] of [
      ['KUBERNETES_SERVICE_HOST', saved.host],
      ['KUBERNETES_SERVICE_PORT', saved.port],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('takes the service account, re-reading its token on every request (it rotates)', async () => {
    process.env['KUBERNETES_SERVICE_HOST'] = 'fd00::1';
    process.env['KUBERNETES_SERVICE_PORT'] = '443';
    writeFileSync(join(dir, 'ca.crt'), 'POD-CA');
    writeFileSync(join(dir, 'token'), 'first\n');
    expect(inCluster()).toBe(true);
    const credentials = ClusterCredentials.inCluster(dir);
    expect(credentials.getCurrentCluster()).toEqual({ server: 'https://[fd00::1]:443' });
    expect([String((await applied(credentials)).ca), await bearer(credentials)]).toEqual(['POD-CA', 'Bearer first']);
    writeFileSync(join(dir, 'token'), 'second\n');
    expect(await bearer(credentials)).toBe('Bearer second');
  });

  it('is not in a pod without the service environment', () => {
    delete process.env['KUBERNETES_SERVICE_HOST'];
    expect(inCluster()).toBe(false);
    expect(() => ClusterCredentials.inCluster(dir)).toThrow(/not in a cluster/);
  });
});
