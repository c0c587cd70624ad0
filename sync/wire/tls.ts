/**
 * mTLS material and peer identities. A site's identity is the name its certificate carries
 * (subject CN or a DNS SAN); a DataFlow's peer entry names the identity it expects, and each end
 * checks the other against it on top of the CA check.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';

/** PEM material, as a kubernetes.io/tls Secret with a `ca.crt` key holds it. */
export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** Reads `ca.crt`, `tls.crt` and `tls.key` from a mounted Secret; errors name the missing file. */
export function loadTlsDir(dir: string, field: string): TlsMaterial {
  const read = (name: string) => {
    try {
      return readFileSync(join(dir, name));
    } catch (error) {
      throw new Error(`${field}: cannot read ${join(dir, name)}: ${(error as Error).message}`, { cause: error });
    }
  };
  return { ca: read('ca.crt'), cert: read('tls.crt'), key: read('tls.key') };
}

/** Every name a certificate answers to: its subject CN and its DNS SANs. */
export function identitiesOf(cert: PeerCertificate | undefined): string[] {
  if (!cert || Object.keys(cert).length === 0) return [];
  const names = new Set<string>();
  const cn = cert.subject?.CN;
  if (typeof cn === 'string') names.add(cn);
  else if (Array.isArray(cn)) for (const n of cn) names.add(n);
  for (const part of (cert.subjectaltname ?? '').split(',')) {
    const m = /^\s*DNS:(.+)$/.exec(part);
    if (m) names.add(m[1]!.trim());
  }
  return [...names];
}

/** For tls/grpc `checkServerIdentity`: the server must be the peer we meant to reach. */
export function expectIdentity(expected: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const names = identitiesOf(cert);
    return names.includes(expected)
      ? undefined
      : new Error(`peer certificate is for ${names.join(', ') || 'no name'}, expected ${expected}`);
  };
}
