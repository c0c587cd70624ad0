/**
 * `kmesh certs ca | site`: site certificates for people without cert-manager. `ca` makes a CA the
 * sites share; `site` issues one site's certificate from it and prints (or writes) the
 * `kubernetes.io/tls` Secret that its KmeshInstance's gateway and its DataFlows' peers name.
 * Bad input is refused naming the flag, with exit code 2, and nothing is written.
 * See lib/certs/README.md.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate as Certificate } from 'node:crypto';
import { join, resolve } from 'node:path';
import { isDnsLabel, isDnsSubdomain } from '../api/v1alpha1/index.js';
import { CertificateAuthority, DEFAULT_CA_VALIDITY_DAYS, DEFAULT_LEAF_VALIDITY_DAYS } from '../lib/certs/authority.js';
import {
  issueSiteCertificate,
  siteRequestProblem,
  siteSecret,
  siteSecretYaml,
  type SiteCertificateRequest,
} from '../lib/certs/site.js';
import { writeFileAtomic } from '../lib/durable.js';
import { flagHelp, integerFlag, parseFlags, UsageError, type FlagSpecs, type ParsedFlags } from '../lib/flags.js';

const CA_USAGE = 'usage: kmesh certs ca --out <dir> [--name <common name>] [--days N]';
const SITE_USAGE =
  'usage: kmesh certs site <site> --ca-cert <file> --ca-key <file> [--namespace ns] [--secret-name name] [--dns name ...] [--ip addr ...] [--days N] [--trust ca.crt ...] [--out file]';
const USAGE = `usage:
  kmesh certs ca   --out <dir> [--name <common name>] [--days N]
  kmesh certs site <site> --ca-cert <file> --ca-key <file> [--namespace ns] [--secret-name name]
                   [--dns name ...] [--ip addr ...] [--days N] [--trust ca.crt ...] [--out file]

kmesh certs <action> --help lists an action's flags.`;

const CA_FLAGS = {
  out: {
    help: 'directory to write ca.crt and ca.key (mode 0600) into; created if missing, existing files are never overwritten',
  },
  name: { help: 'the CA’s common name', default: 'kmesh-sites-ca' },
  days: { help: 'validity in days', default: String(DEFAULT_CA_VALIDITY_DAYS) },
} satisfies FlagSpecs;

const SITE_FLAGS = {
  'ca-cert': { help: 'the shared CA’s certificate (PEM)' },
  'ca-key': { help: 'the shared CA’s private key (PEM, unencrypted; RSA or ECDSA P-256/P-384)' },
  namespace: { help: 'namespace of the Secret; unset, kubectl apply -n decides' },
  'secret-name': { help: 'name of the Secret (default <site>-tls)' },
  dns: {
    help: 'another DNS name for the certificate, e.g. the gateway’s public host name (repeatable or comma-separated)',
    multiple: true,
  },
  ip: { help: 'an IP address for the certificate (repeatable or comma-separated)', multiple: true },
  days: { help: 'validity in days (at most until the CA expires)', default: String(DEFAULT_LEAF_VALIDITY_DAYS) },
  trust: {
    help: 'more CA certificates (PEM) for ca.crt besides the signing CA, e.g. the next CA while sites change CAs (repeatable)',
    multiple: true,
  },
  out: { help: 'write the Secret’s YAML to this file (mode 0600) instead of standard output' },
} satisfies FlagSpecs;

function required<F extends FlagSpecs>(flags: ParsedFlags<F>, name: keyof F & string): string {
  const value = flags.value(name);
  if (!value) throw new UsageError(`--${name} is required`);
  return value;
}

function readInput(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--${flag} ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      { cause: error },
    );
  }
}

/** `kmesh certs ca`: a new CA in `--out`; returns what to tell the user. */
async function makeCa(flags: ParsedFlags<typeof CA_FLAGS>): Promise<string> {
  const dir = resolve(required(flags, 'out'));
  const name = required(flags, 'name');
  const days = integerFlag('days', flags.value('days'), 1, 36500);
  const certFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'ca.key');
  for (const file of [certFile, keyFile])
    if (existsSync(file))
      throw new UsageError(
        `--out ${dir}: ${file} exists; a CA is never overwritten (move it away, or pick another directory)`,
      );
  const ca = await CertificateAuthority.create(name, days);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(keyFile, await ca.keyPem(), { mode: 0o600, flag: 'wx' });
  writeFileSync(certFile, ca.certPem, { mode: 0o644, flag: 'wx' });
  return `wrote ${certFile} and ${keyFile} (CA ${ca.subject}, valid until ${ca.notAfter.toISOString()}); keep ca.key away from the clusters.\nnext, per site: kmesh certs site <site> --ca-cert ${certFile} --ca-key ${keyFile} | kubectl apply --server-side -n <namespace> -f -`;
}

/** The site request from the command line; UsageError naming the flag on bad input. */
function siteRequest(flags: ParsedFlags<typeof SITE_FLAGS>): SiteCertificateRequest & { validityDays: number } {
  const site = flags.positionals[1];
  if (!site) throw new UsageError('the site name is required: kmesh certs site <site> ...');
  const request: SiteCertificateRequest & { validityDays: number } = {
    site,
    dnsNames: flags.values('dns'),
    ipAddresses: flags.values('ip'),
    validityDays: integerFlag('days', flags.value('days'), 1, 36500),
  };
  const problem = siteRequestProblem(request);
  const flagOf = { site: 'site name', dnsNames: '--dns', ipAddresses: '--ip' } as const;
  if (problem) throw new UsageError(`${flagOf[problem.field]}: ${problem.message}`);
  return request;
}

/** ca.crt: the signing CA, then each `--trust` file's CA certificates; refuses a file holding anything else. */
function trustBundle(caPem: string, files: string[]): string {
  const pems = [caPem.trim()];
  for (const file of files) {
    const blocks =
      readInput('trust', file).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) throw new UsageError(`--trust ${file}: holds no PEM certificate`);
    for (const block of blocks) {
      let cert: Certificate;
      try {
        cert = new Certificate(block);
      } catch (error) {
        throw new UsageError(`--trust ${file}: not a PEM certificate (${(error as Error).message})`, { cause: error });
      }
      if (!cert.ca)
        throw new UsageError(`--trust ${file}: ${cert.subject.replace(/\n/g, ', ')} is not a CA certificate`);
      if (!pems.includes(block)) pems.push(block);
    }
  }
  return `${pems.join('\n')}\n`;
}

/** `kmesh certs site`: the Secret's YAML; returns it, or writes it to `--out` and returns a note. */
async function makeSite(flags: ParsedFlags<typeof SITE_FLAGS>): Promise<{ yaml: string; out?: string }> {
  const request = siteRequest(flags);
  const namespace = flags.value('namespace');
  if (namespace !== undefined && !isDnsLabel(namespace))
    throw new UsageError(`--namespace: "${namespace}" is not a namespace name (a DNS label)`);
  const secretName = flags.value('secret-name') ?? `${request.site}-tls`;
  if (!isDnsSubdomain(secretName))
    throw new UsageError(`--secret-name: "${secretName}" is not an object name (a lower-case DNS name)`);
  const certPath = required(flags, 'ca-cert');
  const keyPath = required(flags, 'ca-key');
  let ca: CertificateAuthority;
  try {
    ca = await CertificateAuthority.fromPem(readInput('ca-cert', certPath), readInput('ca-key', keyPath), {
      cert: `--ca-cert ${certPath}`,
      key: `--ca-key ${keyPath}`,
    });
  } catch (error) {
    throw error instanceof UsageError ? error : new UsageError((error as Error).message, { cause: error });
  }
  const outlives = ca.validityProblem(request.validityDays);
  if (outlives) throw new UsageError(`--days ${request.validityDays}: ${outlives}`);
  const trusted = trustBundle(ca.certPem, flags.values('trust'));
  const material = await issueSiteCertificate(ca, request);
  const secret = siteSecret(
    { name: secretName, site: request.site, ...(namespace ? { namespace } : {}) },
    material,
    trusted,
  );
  const yaml = siteSecretYaml(secret, {
    site: request.site,
    issuer: ca.subject,
    notAfter: new Date(new Certificate(material.certPem).validTo),
  });
  const out = flags.value('out');
  return out ? { yaml, out: resolve(out) } : { yaml };
}

function help(action: string | undefined): string {
  if (action === 'ca') return flagHelp(CA_USAGE, CA_FLAGS);
  if (action === 'site') return flagHelp(SITE_USAGE, SITE_FLAGS);
  return USAGE;
}

/** Entry point of `kmesh certs`; returns the exit code (2: bad input, nothing written). */
export async function certsMain(argv: string[]): Promise<number> {
  const action = argv[0]?.startsWith('-') ? undefined : argv[0];
  try {
    if (action === 'ca') {
      const flags = parseFlags(CA_FLAGS, argv.slice(1));
      if (flags.help) return (console.log(help(action)), 0);
      console.error(await makeCa(flags));
    } else if (action === 'site') {
      const flags = parseFlags(SITE_FLAGS, argv, { maxPositionals: 2 });
      if (flags.help) return (console.log(help(action)), 0);
      const { yaml, out } = await makeSite(flags);
      if (out) {
        writeFileAtomic(out, yaml);
        console.error(`wrote ${out}; apply it with kubectl apply --server-side -f ${out}, then delete the file`);
      } else process.stdout.write(yaml);
    } else {
      const asked = argv.length === 0 ? false : argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help';
      if (asked) return (console.log(USAGE), 0);
      throw new UsageError(argv[0] ? `unknown action "${argv[0]}"` : 'an action is required');
    }
    return 0;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`kmesh certs${action ? ` ${action}` : ''}: ${error.message}\n\n${help(action)}`);
    return 2;
  }
}
