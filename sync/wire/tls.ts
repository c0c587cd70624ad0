/**
 * mTLS material and peer identities. A site's identity is the name its certificate carries
 * (subject CN or a DNS SAN); a DataFlow's peer entry names the identity it expects, and each end
 * checks the other against it on top of the CA check.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, type PeerCertificate } from 'node:tls';

/** PEM material, as a kubernetes.io/tls Secret with a `ca.crt` key holds it. */
export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/**
 * The directory that holds a mounted Secret's current files: the kubelet keeps them in a versioned
 * directory that `..data` links to and swaps that link on an update, so reading all three files
 * through the resolved link gives one version, never an old certificate with a new key.
 */
function currentVersion(dir: string): string {
  const data = join(dir, '..data');
  return existsSync(data) ? realpathSync(data) : dir;
}

/** Reads `ca.crt`, `tls.crt` and `tls.key` from a mounted Secret; errors name the missing file. */
export function loadTlsDir(dir: string, field: string): TlsMaterial {
  const from = currentVersion(dir);
  const read = (name: string) => {
    try {
      return readFileSync(join(from, name));
    } catch (error) {
      throw new Error(`${field}: cannot read ${join(dir, name)}: ${(error as Error).message}`, { cause: error });
    }
  };
  return { ca: read('ca.crt'), cert: read('tls.crt'), key: read('tls.key') };
}

/** Throws (naming `field`) unless the key belongs to the certificate and every PEM parses. */
function checkTlsMaterial(tls: TlsMaterial, field: string): void {
  try {
    createSecureContext({ ca: tls.ca, cert: tls.cert, key: tls.key });
  } catch (error) {
    throw new Error(`${field}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Calls `onChange` with the new material each time the mounted Secret in `dir` changes (checked
 * every `intervalMs`): how a long-running server takes a renewed certificate without a restart.
 * Material that does not load or whose key is not the certificate's is reported to `onError` and
 * skipped; the previous stays in use. Returns the function that stops watching.
 */
export function watchTlsDir(
  dir: string,
  field: string,
  onChange: (tls: TlsMaterial) => void,
  onError: (error: Error) => void,
  intervalMs = 5_000,
): () => void {
  const versionOf = () => {
    const from = currentVersion(dir);
    return [
      from,
      ...['ca.crt', 'tls.crt', 'tls.key'].map((name) => statSync(join(from, name), { throwIfNoEntry: false })?.mtimeMs),
    ].join(' ');
  };
  let seen = versionOf();
  /** A version that could not be used: reported once, not every interval. */
  let refused: string | undefined;
  const timer = setInterval(() => {
    let version: string | undefined;
    try {
      version = versionOf();
      if (version === seen || version === refused) return;
      const tls = loadTlsDir(dir, field);
      checkTlsMaterial(tls, field);
      seen = version;
      onChange(tls);
    } catch (error) {
      refused = version;
      onError(error as Error);
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
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
