/**
 * A throwaway certificate authority for local clusters and tests: ECDSA P-256 keys, PEM output.
 * Production certificates come from Secrets; this only exists so tests can run real TLS.
 */
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// The library is typed against the DOM Crypto interface, which node:crypto's webcrypto implements.
x509.cryptoProvider.set(webcrypto);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;
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

async function exportKey(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** A CA that issues server and client certificates. */
export class CertificateAuthority {
  private constructor(
    private readonly certificate: x509.X509Certificate,
    private readonly keys: CryptoKeyPair,
  ) {}

  /** Creates a new self-signed CA valid for `validityDays`. */
  static async create(commonName: string, validityDays = 365): Promise<CertificateAuthority> {
    const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
    const now = Date.now();
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name: distinguishedName(commonName),
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + validityDays * DAY_MS),
      keys,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new CertificateAuthority(certificate, keys);
  }

  get certPem(): string {
    return this.certificate.toString('pem');
  }

  async keyPem(): Promise<string> {
    return exportKey(this.keys.privateKey);
  }

  /** Issues a leaf certificate signed by this CA. */
  async issue(request: CertificateRequest): Promise<CertificateAndKey> {
    const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
    const usages: string[] = [];
    if (request.usage !== 'client') usages.push(x509.ExtendedKeyUsage.serverAuth);
    if (request.usage !== 'server') usages.push(x509.ExtendedKeyUsage.clientAuth);
    const altNames = [
      ...(request.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
      ...(request.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ];
    const now = Date.now();
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: distinguishedName(request.commonName, request.organizations),
      issuer: this.certificate.subject,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + (request.validityDays ?? 365) * DAY_MS),
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension(usages, false),
        ...(altNames.length ? [new x509.SubjectAlternativeNameExtension(altNames, false)] : []),
        await x509.AuthorityKeyIdentifierExtension.create(this.certificate, false),
      ],
    });
    return { certPem: certificate.toString('pem'), keyPem: await exportKey(keys.privateKey) };
  }
}
