/**
 * A site's identity: one certificate its gateway serves with and its sync workers present to peer
 * gateways, in a `kubernetes.io/tls` Secret with the CA all sites share. The certificate names the
 * site as subject CN and DNS SAN, which is what the other end checks: a gateway accepts a client
 * whose name is a DataFlow peer's `name`, and a worker accepts a gateway whose name is the peer it
 * dialled (sync/wire/tls.ts). Model and rotation: lib/certs/README.md.
 */
import { isIP } from 'node:net';
import { stringify } from 'yaml';
import { isDnsLabel, isDnsSubdomain } from '../../api/v1alpha1/index.js';
import type { CertificateAndKey, CertificateAuthority } from './authority.js';

/** Label on every site Secret: which site's identity it holds. */
const SITE_LABEL = 'kmesh.io/site';

export interface SiteCertificateRequest {
  /** The site's name: what peers put in their DataFlow `peers[].name` for it. */
  site: string;
  /** More DNS names, e.g. the gateway's public host name (the site's own name is always there). */
  dnsNames?: string[];
  ipAddresses?: string[];
  validityDays?: number;
}

export interface SiteSecretOptions {
  name: string;
  /** Unset: the namespace `kubectl apply -n` gives it. */
  namespace?: string;
  site: string;
}

/** What is wrong with a site request: the field, and why. */
export interface SiteRequestProblem {
  field: 'site' | 'dnsNames' | 'ipAddresses';
  message: string;
}

/** Why a site request is refused; undefined when it is fine. */
export function siteRequestProblem(request: SiteCertificateRequest): SiteRequestProblem | undefined {
  if (!isDnsLabel(request.site))
    return {
      field: 'site',
      message: `"${request.site}" is not a DNS label (lower-case letters, digits and '-', at most 63 characters), which a DataFlow peer name must be`,
    };
  const badDns = (request.dnsNames ?? []).find((n) => !isDnsSubdomain(n));
  if (badDns !== undefined) return { field: 'dnsNames', message: `"${badDns}" is not a lower-case DNS name` };
  const badIp = (request.ipAddresses ?? []).find((ip) => isIP(ip) === 0);
  if (badIp !== undefined) return { field: 'ipAddresses', message: `"${badIp}" is not an IPv4 or IPv6 address` };
  return undefined;
}

/** Issues the site's certificate (server and client use); throws on a request `siteRequestProblem` refuses. */
export async function issueSiteCertificate(
  ca: CertificateAuthority,
  request: SiteCertificateRequest,
): Promise<CertificateAndKey> {
  const problem = siteRequestProblem(request);
  if (problem) throw new Error(`${problem.field}: ${problem.message}`);
  const dnsNames = [...new Set([request.site, ...(request.dnsNames ?? [])])];
  return ca.issue({
    commonName: request.site,
    dnsNames,
    ipAddresses: request.ipAddresses ?? [],
    usage: 'both',
    ...(request.validityDays !== undefined ? { validityDays: request.validityDays } : {}),
  });
}

/** The Secret as the API takes it: type kubernetes.io/tls with tls.crt, tls.key and ca.crt. */
export function siteSecret(
  options: SiteSecretOptions,
  material: CertificateAndKey,
  caPem: string,
): Record<string, unknown> {
  const base64 = (text: string): string => Buffer.from(text).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: options.name,
      ...(options.namespace ? { namespace: options.namespace } : {}),
      labels: { 'app.kubernetes.io/part-of': 'kmesh', [SITE_LABEL]: options.site },
    },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': base64(material.certPem), 'tls.key': base64(material.keyPem), 'ca.crt': base64(caPem) },
  };
}

/** The Secret as YAML, with a comment saying whom it names, who signed it and until when. */
export function siteSecretYaml(
  secret: Record<string, unknown>,
  about: { site: string; issuer: string; notAfter: Date },
): string {
  return `# Site ${about.site}: certificate signed by ${about.issuer}, valid until ${about.notAfter.toISOString()}.\n# Holds a private key: apply with kubectl apply --server-side (no copy in an annotation), keep no copy.\n${stringify(secret)}`;
}
