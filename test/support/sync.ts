/**
 * Test helpers for the sync data plane: site certificates from a throwaway CA, and a gateway on
 * loopback serving DataFlows in a temp directory.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CertificateAuthority } from '../../hack/pki.js';
import type { TlsMaterial } from '../../sync/wire/tls.js';

/** Server-and-client certificate for a site, named by CN and DNS SAN, plus the CA. */
export async function siteTls(ca: CertificateAuthority, name: string): Promise<TlsMaterial> {
  const { certPem, keyPem } = await ca.issue({
    commonName: name,
    dnsNames: [name],
    ipAddresses: ['127.0.0.1'],
    usage: 'both',
  });
  return { ca: Buffer.from(ca.certPem), cert: Buffer.from(certPem), key: Buffer.from(keyPem) };
}

/** Writes TLS material the way a mounted kubernetes.io/tls Secret looks. */
export function writeTlsDir(dir: string, tls: TlsMaterial): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'ca.crt'), tls.ca);
  writeFileSync(join(dir, 'tls.crt'), tls.cert);
  writeFileSync(join(dir, 'tls.key'), tls.key, { mode: 0o600 });
  return dir;
}
