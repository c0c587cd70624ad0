/**
 * `kmesh certs` the way the README has a platform team run it: a CA, then each site's Secret piped
 * into `kubectl apply --server-side` against the real API server, which must take it as a
 * kubernetes.io/tls Secret; issuing again and applying again rotates it in place.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, toolPath } from '../../hack/tools.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import type { KubeClient, WireObject } from '../../lib/kube/rest.js';
import { createNamespace, deleteNamespace, testClient } from '../support/cluster.js';

let client: KubeClient;
let namespace: string;
let dir: string;

/** Runs a command, feeding `input` to its standard input; rejects with its stderr on failure. */
function run(command: string, args: string[], input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${stderr || error.message}`));
      else resolve(stdout);
    });
    child.stdin!.end(input);
  });
}

/** `kmesh certs <args>` through the real entry point. */
const kmeshCerts = (...args: string[]): Promise<string> =>
  run(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'cmd', 'kmesh.ts'), 'certs', ...args]);
const kubectlApply = (yaml: string): Promise<string> =>
  run(
    toolPath('kubectl'),
    ['apply', '--server-side', '-n', namespace, '-f', '-', '--kubeconfig', process.env['KUBECONFIG']!],
    yaml,
  );

type Secret = WireObject & { type: string; data: Record<string, string> };
const getSecret = async (name: string): Promise<Secret> =>
  (await client.get(RESOURCES.secret, namespace, name)) as Secret;
const certOf = (secret: Secret, key = 'tls.crt'): X509Certificate =>
  new X509Certificate(Buffer.from(secret.data[key]!, 'base64'));

beforeAll(async () => {
  client = testClient();
  namespace = await createNamespace(client, 'certs');
  dir = mkdtempSync(join(tmpdir(), 'kmesh-site-certs-'));
  await kmeshCerts('ca', '--out', dir, '--name', 'acme-sites-ca');
});
afterAll(async () => {
  if (namespace) await deleteNamespace(client, namespace);
  client?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('kmesh certs site | kubectl apply', () => {
  const ca = () => ['--ca-cert', join(dir, 'ca.crt'), '--ca-key', join(dir, 'ca.key')];

  it('makes a kubernetes.io/tls Secret the API server accepts, with tls.crt, tls.key and ca.crt for the site', async () => {
    await kubectlApply(await kmeshCerts('site', 'east', ...ca(), '--dns', 'gw.east.example.com'));
    const secret = await getSecret('east-tls');
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Object.keys(secret.data).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(secret.metadata?.labels).toMatchObject({ 'kmesh.io/site': 'east' });
    const cert = certOf(secret);
    expect([cert.subject, cert.subjectAltName]).toEqual(['CN=east', 'DNS:east, DNS:gw.east.example.com']);
    expect(cert.checkIssued(certOf(secret, 'ca.crt'))).toBe(true);
    // Server-side apply keeps no copy of the private key in an annotation.
    expect(Object.keys(secret.metadata?.annotations ?? {})).not.toContain(
      'kubectl.kubernetes.io/last-applied-configuration',
    );
  });

  it('puts the Secret in the namespace and under the name given', async () => {
    const other = await createNamespace(client, 'certs-west');
    try {
      await run(
        toolPath('kubectl'),
        ['apply', '--server-side', '-f', '-', '--kubeconfig', process.env['KUBECONFIG']!],
        await kmeshCerts('site', 'west', ...ca(), '--namespace', other, '--secret-name', 'site-west'),
      );
      const secret = (await client.get(RESOURCES.secret, other, 'site-west')) as Secret;
      expect([secret.type, certOf(secret).subject]).toEqual(['kubernetes.io/tls', 'CN=west']);
    } finally {
      await deleteNamespace(client, other);
    }
  });

  it('rotates in place: issuing again and applying again replaces the certificate and key in the same Secret', async () => {
    await kubectlApply(await kmeshCerts('site', 'north', ...ca()));
    const before = await getSecret('north-tls');
    await kubectlApply(await kmeshCerts('site', 'north', ...ca()));
    const after = await getSecret('north-tls');
    expect(after.metadata?.uid).toBe(before.metadata?.uid);
    expect(certOf(after).serialNumber).not.toBe(certOf(before).serialNumber);
    expect(after.data['tls.key']).not.toBe(before.data['tls.key']);
    expect(after.data['ca.crt']).toBe(before.data['ca.crt']);
  });
});
