import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ClusterCredentials } from './credentials.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kmesh-credentials-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = { server: 'https://127.0.0.1:6443', 'certificate-authority-data': Buffer.from('CA').toString('base64') }): string {
  const path = join(dir, 'config');
  writeFileSync(path, stringify({
    'current-context': 'main',
    contexts: [{ name: 'main', context: { cluster: 'c', user: 'u' } }, { name: 'other', context: { cluster: 'c', user: 'other' } }],
    clusters: [{ name: 'c', cluster }],
    users: [{ name: 'u', user }, { name: 'other', user: { token: 'other-token' } }],
  }));
  return path;
}

async function applied(credentials: ClusterCredentials): Promise<RequestOptions> {
  const options: RequestOptions = {};
  await credentials.applyToHTTPSOptions(options);
  return options;
}

describe('ClusterCredentials', () => {
  it('reads the server, the CA and an embedded client certificate of the current context', async () => {
    const credentials = ClusterCredentials.fromFile(kubeconfig({ 'client-certificate-data': Buffer.from('CERT').toString('base64'), 'client-key-data': Buffer.from('KEY').toString('base64') }));
    expect(credentials.getCurrentCluster()).toEqual({ server: 'https://127.0.0.1:6443' });
    const options = await applied(credentials);
    expect([options.ca, options.cert, options.key]).toEqual([Buffer.from('CA'), Buffer.from('CERT'), Buffer.from('KEY')]);
    expect(options.headers).toBeUndefined();
  });

  it('reads certificate files relative to the kubeconfig, and a named context', async () => {
    writeFileSync(join(dir, 'client.crt'), 'FILECERT');
    writeFileSync(join(dir, 'client.key'), 'FILEKEY');
    const path = kubeconfig({ 'client-certificate': 'client.crt', 'client-key': 'client.key' });
    expect((await applied(ClusterCredentials.fromFile(path))).cert).toEqual(Buffer.from('FILECERT'));
    expect((await applied(ClusterCredentials.fromFile(path, 'other'))).headers).toEqual({ Authorization: 'Bearer other-token' });
  });

  it('re-reads a token file on every request (service-account tokens rotate)', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'first\n');
    const credentials = ClusterCredentials.fromFile(kubeconfig({ tokenFile }));
    expect((await applied(credentials)).headers).toEqual({ Authorization: 'Bearer first' });
    writeFileSync(tokenFile, 'second\n');
    expect((await applied(credentials)).headers).toEqual({ Authorization: 'Bearer second' });
  });

  it.each([
    [{ exec: { command: 'aws' } }, /user "u" authenticates with exec, which is not supported here/],
    [{ 'auth-provider': { name: 'gcp' } }, /user "u" authenticates with auth-provider/],
  ])('refuses %j naming the user', (user, message) => {
    expect(() => ClusterCredentials.fromFile(kubeconfig(user))).toThrow(message);
  });

  it('refuses a context that does not exist, naming it', () => {
    expect(() => ClusterCredentials.fromFile(kubeconfig({ token: 't' }), 'nope')).toThrow(/no context "nope"/);
  });
});
