/**
 * The certificate authority the test control planes and sync tests build their PKI with: the
 * product's own (lib/certs/authority.ts, which `kmesh certs` issues site certificates with), so
 * tests run the same code users do.
 */
export { CertificateAuthority, type CertificateAndKey, type CertificateRequest } from '../lib/certs/authority.js';
