/**
 * Test helpers for the sync data plane: site certificates from a throwaway CA, and a gateway on
 * loopback serving DataFlows in a temp directory.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CertificateAuthority } from '../../lib/certs/authority.js';
import { issueSiteCertificate } from '../../lib/certs/site.js';
import type { TlsMaterial } from '../../sync/wire/tls.js';

/** A site's certificate as `kmesh certs site` issues it (plus loopback's address), and the CA. */
export async function siteTls(ca: CertificateAuthority, name: string): Promise<TlsMaterial> {
  const { certPem, keyPem } = await issueSiteCertificate(ca, { site: name, ipAddresses: ['127.0.0.1'] });
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
