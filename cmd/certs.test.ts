import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { webcrypto } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { parse } from 'yaml';
import { expectIdentity, identitiesOf, type TlsMaterial } from '../sync/wire/tls.js';
import { certsMain } from './certs.js';

let dir: string;
let caCert: string;
let caKey: string;
/** Everything the command printed to stderr in the last `kmesh` call. */
let stderr = '';

/** Runs `kmesh certs <argv>`; returns the exit code and what it printed to stdout. */
async function kmesh(...argv: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = jest.spyOn(console, 'error').mockImplementation((...args) => void (stderr += `${args.join(' ')}\n`));
  const log = jest.spyOn(console, 'log').mockImplementation((...args) => void (stdout += `${args.join(' ')}\n`));
  try {
    return { code: await certsMain(argv), stdout };
  } finally {
    out.mockRestore();
    err.mockRestore();
    log.mockRestore();
  }
}

interface SecretDoc {
  kind: string;
  type: string;
  metadata: { name: string; namespace?: string; labels: Record<string, string> };
  data: Record<string, string>;
}

/** `kmesh certs site <site> ...` from the CA in `ca` (default: the shared one); the Secret and its TLS files. */
async function site(
  name: string,
  extra: string[] = [],
  ca = { cert: caCert, key: caKey },
): Promise<{ secret: SecretDoc; tls: TlsMaterial }> {
  const { code, stdout } = await kmesh('site', name, '--ca-cert', ca.cert, '--ca-key', ca.key, ...extra);
  if (code !== 0) throw new Error(`kmesh certs site ${name} failed: ${stderr}`);
  const secret = parse(stdout) as SecretDoc;
  const file = (key: string) => Buffer.from(secret.data[key]!, 'base64');
  return { secret, tls: { ca: file('ca.crt'), cert: file('tls.crt'), key: file('tls.key') } };
}

interface Handshake {
  /** The client's names as the gateway reads them, when the server accepted it. */
  serverSaw?: string[];
  serverError?: string;
  clientError?: string;
  /** The client read the server's reply: the connection carried data both ways. */
  replied: boolean;
}

/**
 * A mutual-TLS exchange on loopback as a gateway and a worker run it: the server asks for and
 * verifies a client certificate; the client verifies the server and checks it is `expected`.
 */
function handshake(server: TlsMaterial, client: TlsMaterial, expected: string): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const result: Handshake = { replied: false };
    // Done once the client's connection has closed and the server has judged the client (accepted
    // it, or refused it: a handshake the client aborts fails on the server too).
    let clientClosed = false;
    let serverJudged = false;
    const timer = setTimeout(
      () => reject(new Error(`handshake did not finish within 10 s: ${JSON.stringify(result)}`)),
      10_000,
    );
    const finish = () => {
      if (!clientClosed || !serverJudged) return;
      clearTimeout(timer);
      gateway.close(() => resolve(result));
    };
    const gateway = createServer(
      { ca: server.ca, cert: server.cert, key: server.key, requestCert: true, rejectUnauthorized: true },
      (socket) => {
        result.serverSaw = identitiesOf(socket.getPeerCertificate());
        socket.on('error', () => undefined);
        socket.end('hello from the gateway');
        serverJudged = true;
        finish();
      },
    );
    gateway.on('tlsClientError', (error) => {
      result.serverError = error.message;
      serverJudged = true;
      finish();
    });
    gateway.listen(0, '127.0.0.1', () => {
      const { port } = gateway.address() as AddressInfo;
      const socket = connect({
        host: '127.0.0.1',
        port,
        ca: client.ca,
        cert: client.cert,
        key: client.key,
        servername: expected,
        checkServerIdentity: expectIdentity(expected),
      });
      socket.on('data', () => (result.replied = true));
      socket.on('error', (error: Error) => (result.clientError = error.message));
      socket.on('close', () => {
        clientClosed = true;
        finish();
      });
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kmesh-certs-'));
  caCert = join(dir, 'shared', 'ca.crt');
  caKey = join(dir, 'shared', 'ca.key');
  expect((await kmesh('ca', '--out', join(dir, 'shared'), '--name', 'acme-sites-ca')).code).toBe(0);
  expect((await kmesh('ca', '--out', join(dir, 'other'))).code).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('kmesh certs ca', () => {
  it('writes the CA certificate and a key only its owner can read', () => {
    expect(statSync(caKey).mode & 0o777).toBe(0o600);
    const cert = new x509.X509Certificate(readFileSync(caCert, 'utf8'));
    expect(cert.subject).toBe('CN=acme-sites-ca');
    expect(cert.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(true);
  });

  it('never overwrites a CA, and changes nothing when refusing', async () => {
    const before = readFileSync(caKey, 'utf8');
    expect((await kmesh('ca', '--out', join(dir, 'shared'))).code).toBe(2);
    expect(stderr).toMatch(/--out .*ca\.crt exists/);
    expect(readFileSync(caKey, 'utf8')).toBe(before);
  });
});

describe('kmesh certs site', () => {
  it('prints a kubernetes.io/tls Secret with tls.crt, tls.key and ca.crt naming the site', async () => {
    const { secret, tls } = await site('east', [
      '--namespace',
      'ml',
      '--dns',
      'gw.east.example.com',
      '--ip',
      '192.0.2.10',
    ]);
    expect(secret).toMatchObject({
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: 'east-tls', namespace: 'ml', labels: { 'kmesh.io/site': 'east' } },
    });
    expect(Object.keys(secret.data).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(tls.ca.toString().trim()).toBe(readFileSync(caCert, 'utf8').trim());
    const cert = new x509.X509Certificate(tls.cert.toString());
    expect(cert.subject).toBe('CN=east');
    expect(cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON()).toEqual([
      { type: 'dns', value: 'east' },
      { type: 'dns', value: 'gw.east.example.com' },
      { type: 'ip', value: '192.0.2.10' },
    ]);
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([
      x509.ExtendedKeyUsage.serverAuth,
      x509.ExtendedKeyUsage.clientAuth,
    ]);
  });

  it('gives two sites of one CA mutual TLS in both roles, each checking the other’s name', async () => {
    const east = (await site('east')).tls;
    const west = (await site('west')).tls;
    // east's worker pushes to west's gateway, and the other way round.
    expect(await handshake(west, east, 'west')).toEqual({ serverSaw: ['east'], replied: true });
    expect(await handshake(east, west, 'east')).toEqual({ serverSaw: ['west'], replied: true });
  });

  it('refuses a client and a gateway whose certificate comes from another CA', async () => {
    // A stranger that calls itself east and trusts the sites' CA (ca.crt is public), but whose own
    // certificate another CA signed.
    const other = (await site('east', [], { cert: join(dir, 'other', 'ca.crt'), key: join(dir, 'other', 'ca.key') }))
      .tls;
    const west = (await site('west')).tls;
    const stranger = { ...other, ca: west.ca };
    const asClient = await handshake(west, stranger, 'west');
    expect(asClient.serverSaw).toBeUndefined();
    expect(asClient.replied).toBe(false);
    // The gateway ends the handshake (TLS 1.3 reports it as a hang-up, without an alert); it never
    // gets to read the stranger's name.
    expect(asClient.serverError).toEqual(expect.any(String));
    const asGateway = await handshake(stranger, west, 'east');
    expect(asGateway.replied).toBe(false);
    expect(asGateway.clientError).toMatch(/self[- ]signed|unable to (get|verify)/i);
  });

  it('adds the CAs given with --trust to ca.crt, so sites of an old and a new CA trust each other while they change CAs', async () => {
    const next = { cert: join(dir, 'other', 'ca.crt'), key: join(dir, 'other', 'ca.key') };
    const east = (await site('east', ['--trust', next.cert])).tls; // still from the old CA
    const west = (await site('west', ['--trust', caCert], next)).tls; // already from the new one
    expect(east.ca.toString()).toBe(
      `${readFileSync(caCert, 'utf8').trim()}\n${readFileSync(next.cert, 'utf8').trim()}\n`,
    );
    expect(await handshake(west, east, 'west')).toEqual({ serverSaw: ['east'], replied: true });
    expect(await handshake(east, west, 'east')).toEqual({ serverSaw: ['west'], replied: true });
    // Giving the signing CA again changes nothing.
    expect((await site('north', ['--trust', caCert])).tls.ca.toString().trim()).toBe(
      readFileSync(caCert, 'utf8').trim(),
    );
  });

  it('lets a worker refuse a gateway of the right CA but another site’s name', async () => {
    const north = (await site('north')).tls;
    const east = (await site('east')).tls;
    const result = await handshake(north, east, 'west');
    expect(result.replied).toBe(false);
    expect(result.clientError).toBe('peer certificate is for north, expected west');
  });

  it('issues from an RSA CA a team already has (PKCS#1 key, its own key identifier)', async () => {
    const algorithm = {
      name: 'RSASSA-PKCS1-v1_5',
      hash: 'SHA-256',
      publicExponent: new Uint8Array([1, 0, 1]),
      modulusLength: 2048,
    };
    const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=org-root',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 30 * 86_400_000),
      keys,
      signingAlgorithm: algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.SubjectKeyIdentifierExtension('0badc0ffee'),
      ],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    const { createPrivateKey } = await import('node:crypto');
    const pkcs1 = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
      .export({ format: 'pem', type: 'pkcs1' })
      .toString();
    writeFileSync(join(dir, 'org.crt'), ca.toString('pem'));
    writeFileSync(join(dir, 'org.key'), pkcs1);
    const org = { cert: join(dir, 'org.crt'), key: join(dir, 'org.key') };
    const east = (await site('east', ['--days', '20'], org)).tls;
    const west = (await site('west', ['--days', '20'], org)).tls;
    expect(await handshake(west, east, 'west')).toEqual({ serverSaw: ['east'], replied: true });
    expect((await kmesh('site', 'east', '--ca-cert', org.cert, '--ca-key', org.key, '--days', '31')).code).toBe(2);
    expect(stderr).toContain('--days 31: a certificate valid for 31 days would outlive the CA');
  });

  it('writes the Secret to --out with mode 0600', async () => {
    const out = join(dir, 'east.yaml');
    expect(
      (await kmesh('site', 'east', '--ca-cert', caCert, '--ca-key', caKey, '--secret-name', 'site-east', '--out', out))
        .code,
    ).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect((parse(readFileSync(out, 'utf8')) as SecretDoc).metadata.name).toBe('site-east');
  });

  it.each([
    [['site', 'east', '--ca-key', '<K>'], '--ca-cert is required'],
    [['site', 'East', '--ca-cert', '<C>', '--ca-key', '<K>'], 'site name: "East" is not a DNS label'],
    [['site', '--ca-cert', '<C>', '--ca-key', '<K>'], 'the site name is required'],
    [['site', 'east', 'west', '--ca-cert', '<C>', '--ca-key', '<K>'], 'unexpected arguments: west'],
    [['site', 'east', '--ca-cert', '<C>', '--ca-key', '<K>', '--bogus=1'], 'unknown flag --bogus'],
    [
      ['site', 'east', '--ca-cert', '<C>', '--ca-key', '<K>', '--dns', 'Not_A_Name'],
      '--dns: "Not_A_Name" is not a lower-case DNS name',
    ],
    [
      ['site', 'east', '--ca-cert', '<C>', '--ca-key', '<K>', '--ip', '10.0.0.300'],
      '--ip: "10.0.0.300" is not an IPv4 or IPv6 address',
    ],
    [
      ['site', 'east', '--ca-cert', '<C>', '--ca-key', '<K>', '--namespace', 'Bad NS'],
      '--namespace: "Bad NS" is not a namespace name',
    ],
    [
      ['site', 'east', '--ca-cert', '<C>', '--ca-key', '<K>', '--secret-name', 'a/b'],
      '--secret-name: "a/b" is not an object name',
    ],
    [['site', 'east', '--ca-cert', '<C>', '--ca-key', '<K>', '--days', '0'], '--days: "0" is not an integer'],
    [['site', 'east', '--ca-cert', '<MISSING>', '--ca-key', '<K>'], '--ca-cert <MISSING>: cannot read it (ENOENT)'],
    [['site', 'east', '--ca-cert', '<C>', '--ca-key', '<C>'], '--ca-key <C>: not an unencrypted PEM private key'],
    [['site', 'east', '--ca-cert', '<K>', '--ca-key', '<K>'], '--ca-cert <K>: not a PEM certificate'],
    [
      ['site', 'east', '--ca-cert', '<C>', '--ca-key', '<OTHER>'],
      '--ca-key <OTHER>: this key does not belong to the certificate in --ca-cert <C>',
    ],
    [
      ['site', 'east', '--ca-cert', '<LEAF>', '--ca-key', '<LEAFKEY>'],
      '--ca-cert <LEAF>: CN=east is not a CA certificate',
    ],
    [
      ['site', 'east', '--ca-cert', '<C>', '--ca-key', '<K>', '--trust', '<K>'],
      '--trust <K>: holds no PEM certificate',
    ],
    [
      ['site', 'east', '--ca-cert', '<C>', '--ca-key', '<K>', '--trust', '<LEAF>'],
      '--trust <LEAF>: CN=east is not a CA certificate',
    ],
    [
      ['site', 'east', '--ca-cert', '<C>', '--ca-key', '<K>', '--trust', '<MISSING>'],
      '--trust <MISSING>: cannot read it (ENOENT)',
    ],
    [['ca'], '--out is required'],
    [['ca', '--out', '<NEW>', '--ca-cert', '<C>'], 'unknown flag --ca-cert'],
    [['rotate'], 'unknown action "rotate"'],
  ])('refuses %j with exit code 2, naming the problem, writing nothing', async (argv, message) => {
    // Real files behind the placeholders: the shared CA, another CA's key, a site's own certificate.
    const leaf = (await site('east')).tls;
    writeFileSync(join(dir, 'leaf.crt'), leaf.cert);
    writeFileSync(join(dir, 'leaf.key'), leaf.key);
    const files: Record<string, string> = {
      '<C>': caCert,
      '<K>': caKey,
      '<OTHER>': join(dir, 'other', 'ca.key'),
      '<LEAF>': join(dir, 'leaf.crt'),
      '<LEAFKEY>': join(dir, 'leaf.key'),
      '<MISSING>': join(dir, 'missing.crt'),
      '<NEW>': join(dir, 'new-ca'),
    };
    const real = (text: string) => text.replace(/<[A-Z]+>/g, (p) => files[p] ?? p);
    const out = join(dir, 'refused.yaml');
    const before = readdirSync(dir).sort();
    const { code, stdout } = await kmesh(...argv.map(real), ...(argv[0] === 'site' ? ['--out', out] : []));
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(real(message));
    expect(readdirSync(dir).sort()).toEqual(before);
    expect(existsSync(out)).toBe(false);
  });
});
