import { describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { CertificateAuthority } from './authority.js';

describe('CertificateAuthority', () => {
  it('issues with its defaults from a CA made with its defaults, the leaf expiring before the CA', async () => {
    const ca = await CertificateAuthority.create('defaults-ca');
    const leaf = new X509Certificate((await ca.issue({ commonName: 'east', usage: 'both' })).certPem);
    expect(new Date(leaf.validTo).getTime()).toBeLessThan(ca.notAfter.getTime());
    expect(leaf.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
  });

  it('refuses a certificate that would outlive the CA, saying when the CA expires', async () => {
    const ca = await CertificateAuthority.create('short-ca', 10);
    await expect(ca.issue({ commonName: 'east', usage: 'both', validityDays: 11 })).rejects.toThrow(
      `a certificate valid for 11 days would outlive the CA, which expires on ${ca.notAfter.toISOString()}`,
    );
  });

  it('loads itself back from its PEM files and issues what the original CA verifies', async () => {
    const ca = await CertificateAuthority.create('round-trip-ca');
    const loaded = await CertificateAuthority.fromPem(ca.certPem, await ca.keyPem());
    const leaf = new X509Certificate(
      (await loaded.issue({ commonName: 'west', usage: 'both', validityDays: 1 })).certPem,
    );
    expect(leaf.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
  });
});
