/**
 * A certificate authority that issues site, server and client certificates: a new one (ECDSA
 * P-256), or one a platform team already has, loaded from its PEM certificate and key (RSA or
 * ECDSA P-256/P-384). Leaf keys are always ECDSA P-256; everything is PEM, keys PKCS#8.
 * `kmesh certs` issues site certificates with it; the test control planes issue theirs with it too.
 */
import { createPrivateKey, webcrypto, X509Certificate as NodeCertificate, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// The library is typed against the DOM Crypto interface, which node:crypto's webcrypto implements.
x509.cryptoProvider.set(webcrypto);

type CryptoKey = webcrypto.CryptoKey;

/** How a key signs: an algorithm webcrypto imports the key with and signs certificates with. */
type SigningAlgorithm =
  | { name: 'ECDSA'; namedCurve: 'P-256' | 'P-384'; hash: 'SHA-256' | 'SHA-384' }
  | { name: 'RSASSA-PKCS1-v1_5'; hash: 'SHA-256' };

const LEAF_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;
/** A CA outlives what it issues: ten years, against a year for a leaf. */
export const DEFAULT_CA_VALIDITY_DAYS = 3650;
export const DEFAULT_LEAF_VALIDITY_DAYS = 365;
/** Clock skew tolerated between the issuing process and the verifying one. */
const BACKDATE_MS = 5 * 60 * 1000;

/** A certificate and its private key, both PEM (the key is PKCS#8). */
export interface CertificateAndKey {
  certPem: string;
  keyPem: string;
}

/** What a certificate is for and whom it names. */
export interface CertificateRequest {
  commonName: string;
  /** Subject O= entries; Kubernetes reads them as groups (e.g. system:masters). */
  organizations?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  usage: 'server' | 'client' | 'both';
  validityDays?: number;
}

/** What the caller calls the two inputs of `fromPem`, so errors name them (e.g. `--ca-cert ca.crt`). */
export interface CaSources {
  cert: string;
  key: string;
}

function serialNumber(): string {
  // Positive 16-byte serial: clear the top bit so DER does not read it as negative.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

function distinguishedName(commonName: string, organizations: string[] = []): string {
  const escape = (value: string): string => value.replace(/([,+"\\<>;=])/g, '\\$1');
  return [`CN=${escape(commonName)}`, ...organizations.map((o) => `O=${escape(o)}`)].join(', ');
}

/** PEM text ends with a newline, as files written by other tools do. */
const withNewline = (pem: string): string => (pem.endsWith('\n') ? pem : `${pem}\n`);

async function exportKey(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return withNewline(x509.PemConverter.encode(der, 'PRIVATE KEY'));
}

/** The algorithm a CA key signs with, or an error naming what is supported. */
function signingAlgorithmOf(key: KeyObject, source: string): SigningAlgorithm {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType === 'rsa') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  if (key.asymmetricKeyType === 'ec' && (curve === 'prime256v1' || curve === 'P-256'))
    return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  if (key.asymmetricKeyType === 'ec' && (curve === 'secp384r1' || curve === 'P-384'))
    return { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
  throw new Error(
    `${source}: a ${key.asymmetricKeyType}${curve ? ` ${curve}` : ''} key cannot sign here; use an RSA or ECDSA P-256/P-384 CA key`,
  );
}

/** A CA that issues server and client certificates. */
export class CertificateAuthority {
  private constructor(
    private readonly certificate: x509.X509Certificate,
    private readonly signingKey: CryptoKey,
    private readonly algorithm: SigningAlgorithm,
    private readonly keyPemText: string,
  ) {}

  /** Creates a new self-signed ECDSA P-256 CA valid for `validityDays`. */
  static async create(commonName: string, validityDays = DEFAULT_CA_VALIDITY_DAYS): Promise<CertificateAuthority> {
    const keys = await webcrypto.subtle.generateKey(LEAF_ALGORITHM, true, ['sign', 'verify']);
    const now = Date.now();
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name: distinguishedName(commonName),
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + validityDays * DAY_MS),
      keys,
      signingAlgorithm: LEAF_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new CertificateAuthority(certificate, keys.privateKey, LEAF_ALGORITHM, await exportKey(keys.privateKey));
  }

  /**
   * An existing CA from its PEM certificate and private key (PKCS#8, PKCS#1 or SEC1, unencrypted).
   * Refuses, naming `sources.cert` or `sources.key`: text that is no certificate or key, a
   * certificate that is not a CA or has expired, a key that is not the certificate's.
   */
  static async fromPem(
    certPem: string,
    keyPem: string,
    sources: CaSources = { cert: 'CA certificate', key: 'CA key' },
  ): Promise<CertificateAuthority> {
    let cert: NodeCertificate;
    try {
      cert = new NodeCertificate(certPem);
    } catch (error) {
      throw new Error(`${sources.cert}: not a PEM certificate (${(error as Error).message})`, { cause: error });
    }
    if (!cert.ca)
      throw new Error(
        `${sources.cert}: ${cert.subject.replace(/\n/g, ', ')} is not a CA certificate (its basicConstraints lack CA:TRUE)`,
      );
    if (new Date(cert.validTo).getTime() <= Date.now())
      throw new Error(`${sources.cert}: the CA expired on ${new Date(cert.validTo).toISOString()}`);
    let key: KeyObject;
    try {
      key = createPrivateKey(keyPem);
    } catch (error) {
      throw new Error(`${sources.key}: not an unencrypted PEM private key (${(error as Error).message})`, {
        cause: error,
      });
    }
    if (!cert.checkPrivateKey(key))
      throw new Error(`${sources.key}: this key does not belong to the certificate in ${sources.cert}`);
    const algorithm = signingAlgorithmOf(key, sources.key);
    const der = key.export({ format: 'der', type: 'pkcs8' });
    const signingKey = await webcrypto.subtle.importKey('pkcs8', der, algorithm, true, ['sign']);
    return new CertificateAuthority(
      new x509.X509Certificate(certPem),
      signingKey,
      algorithm,
      key.export({ format: 'pem', type: 'pkcs8' }).toString(),
    );
  }

  get certPem(): string {
    return withNewline(this.certificate.toString('pem'));
  }

  /** When the CA itself expires: nothing it issues may outlive it. */
  get notAfter(): Date {
    return this.certificate.notAfter;
  }

  /** The CA's subject, e.g. `CN=acme-sites-ca`. */
  get subject(): string {
    return this.certificate.subject;
  }

  /** The CA's private key, PEM PKCS#8 (async for the callers written when export was). */
  keyPem(): Promise<string> {
    return Promise.resolve(this.keyPemText);
  }

  /** Why a certificate valid for `validityDays` from now cannot be issued (it would outlive the CA); undefined when it can. */
  validityProblem(validityDays: number): string | undefined {
    const notAfter = Date.now() + validityDays * DAY_MS;
    return notAfter > this.notAfter.getTime()
      ? `a certificate valid for ${validityDays} days would outlive the CA, which expires on ${this.notAfter.toISOString()}`
      : undefined;
  }

  /** Issues a leaf certificate signed by this CA; refuses one that would outlive the CA. */
  async issue(request: CertificateRequest): Promise<CertificateAndKey> {
    const validityDays = request.validityDays ?? DEFAULT_LEAF_VALIDITY_DAYS;
    const problem = this.validityProblem(validityDays);
    if (problem) throw new Error(problem);
    const now = Date.now();
    const notAfter = new Date(now + validityDays * DAY_MS);
    const keys = await webcrypto.subtle.generateKey(LEAF_ALGORITHM, true, ['sign', 'verify']);
    const usages: string[] = [];
    if (request.usage !== 'client') usages.push(x509.ExtendedKeyUsage.serverAuth);
    if (request.usage !== 'server') usages.push(x509.ExtendedKeyUsage.clientAuth);
    const altNames = [
      ...(request.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
      ...(request.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ];
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: distinguishedName(request.commonName, request.organizations),
      issuer: this.certificate.subject,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter,
      publicKey: keys.publicKey,
      signingKey: this.signingKey,
      signingAlgorithm: this.algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension(usages, false),
        ...(altNames.length ? [new x509.SubjectAlternativeNameExtension(altNames, false)] : []),
        await this.authorityKeyIdentifier(),
      ],
    });
    return { certPem: withNewline(certificate.toString('pem')), keyPem: await exportKey(keys.privateKey) };
  }

  /** The CA's own subject key identifier when it has one: verifiers match the two byte for byte. */
  private async authorityKeyIdentifier(): Promise<x509.AuthorityKeyIdentifierExtension> {
    const ski = this.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
    return ski
      ? new x509.AuthorityKeyIdentifierExtension(ski.keyId, false)
      : x509.AuthorityKeyIdentifierExtension.create(this.certificate, false);
  }
}
