/**
 * `kmesh fs mount --root <dir> --mountpoint <dir> [--journal <file>]`: mounts a backing tree through
 * the Kmesh filesystem and supervises its server (fs/supervisor.ts) until the mount goes away; on
 * SIGTERM/SIGINT it detaches the mount. `kmesh fs serve` is that server, started by the supervisor
 * with the /dev/fuse descriptor as fd 3.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loggerFor } from '../lib/logging.js';
import { flagHelp, integerFlag, parseFlags, UsageError, type FlagSpecs } from '../lib/flags.js';
import { parseByteQuantity } from '../lib/quantity.js';
import { serveConnection, type ServeOptions } from './serve.js';
import { readFileSync } from 'node:fs';
import { superviseMount } from './supervisor.js';

const COMMON = {
  root: { help: 'the directory to serve' },
  journal: { help: 'append every change to this file (the change journal)' },
  'state-dir': {
    help: "the servers' state: node log, what INIT settled (default: a directory under the system temp dir)",
  },
  'no-passthrough': { type: 'boolean', help: 'serve every read and write here instead of through kernel passthrough' },
  'cache-of': {
    help: 'serve a cached copy of this directory: names at once, bytes fetched on first read (for trying the cache on one machine)',
  },
  'cache-config': {
    help: "serve a cached copy of another site's DataFlow, as this file says (api/sync-config/cache.ts)",
  },
  'cache-size': {
    help: 'with --cache-of: bytes of fetched data to keep (e.g. 10Gi); least recently used files go first',
  },
  'cache-min-free': { help: 'with --cache-of: evict while the backing filesystem has less free space than this' },
} satisfies FlagSpecs;

const MOUNT_FLAGS = {
  ...COMMON,
  mountpoint: { help: 'where to mount it (an existing directory)' },
} satisfies FlagSpecs;

const SERVE_FLAGS = {
  ...COMMON,
  mountpoint: { help: 'where the connection is mounted (read from the mount table only)' },
  fd: { help: 'the /dev/fuse descriptor of the mounted connection' },
  resume: { type: 'boolean', help: 'take over from a server that died on this connection' },
} satisfies FlagSpecs;

const USAGE = 'usage: kmesh fs mount --root <dir> --mountpoint <dir> [--journal <file>] [--state-dir <dir>]';

/** The origin and limits of a cache of another site's DataFlow, from its config file. */
async function peerCache(
  file: string,
): Promise<Pick<ServeOptions, 'origin' | 'cacheSizeBytes' | 'cacheMinFreeBytes' | 'cacheRefreshMs'>> {
  // Loaded only for a cache of another site: a plain mount's server stays small.
  const [{ PeerOrigin }, { parseCacheConfig }, { initCodecs }, { loadTlsDir }] = await Promise.all([
    import('./cache/peer-origin.js'),
    import('../sync/config.js'),
    import('../sync/engine/seal.js'),
    import('../sync/wire/tls.js'),
  ]);
  const config = parseCacheConfig(readFileSync(file, 'utf8'));
  await initCodecs();
  const { name, endpoint, dataFlow, tlsDir } = config.origin;
  const origin = new PeerOrigin(
    { name, endpoint, remoteDataFlow: dataFlow },
    {
      tls: loadTlsDir(tlsDir, 'origin.tlsDir'),
      site: config.site,
      policy: config.policy,
      connectTimeoutMs: config.connectTimeoutMs,
    },
    config.refreshMs,
  );
  return {
    origin,
    cacheRefreshMs: config.refreshMs,
    ...(config.size !== undefined ? { cacheSizeBytes: config.size } : {}),
    ...(config.minFree !== undefined ? { cacheMinFreeBytes: config.minFree } : {}),
  };
}

function required(value: string | undefined, flag: string): string {
  if (!value) throw new UsageError(`--${flag} is required (${USAGE})`);
  return value;
}

export async function fsMain(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    if (sub === 'mount') {
      const flags = parseFlags(MOUNT_FLAGS, rest);
      if (flags.help) {
        console.log(flagHelp(USAGE, MOUNT_FLAGS));
        return 0;
      }
      const root = required(flags.value('root'), 'root');
      const mountpoint = required(flags.value('mountpoint'), 'mountpoint');
      // Checked here, where a mistake is a usage error, rather than in every server the supervisor starts.
      for (const flag of ['cache-size', 'cache-min-free'] as const) {
        const value = flags.value(flag);
        if (value === undefined) continue;
        if (!flags.value('cache-of'))
          throw new UsageError(`--${flag} needs --cache-of (--cache-config has its own limits)`);
        try {
          parseByteQuantity(value, `--${flag}`);
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
      }
      const journal = flags.value('journal');
      return await superviseMount({
        root,
        mountpoint,
        stateDir: flags.value('state-dir') ?? join(tmpdir(), `kmesh-fs-${process.pid}`),
        ...(journal ? { journal } : {}),
        ...(flags.value('cache-of') ? { cacheOf: flags.value('cache-of') } : {}),
        ...(flags.value('cache-config') ? { cacheConfig: flags.value('cache-config') } : {}),
        cacheArgs: [
          ...(flags.value('cache-size') ? [`--cache-size=${flags.value('cache-size')}`] : []),
          ...(flags.value('cache-min-free') ? [`--cache-min-free=${flags.value('cache-min-free')}`] : []),
        ],
        passthrough: !flags.given('no-passthrough'),
        log: loggerFor('kmesh-fs', { mountpoint }),
        command: [process.execPath, ...process.execArgv, process.argv[1]!],
      });
    }
    if (sub === 'serve') {
      const flags = parseFlags(SERVE_FLAGS, rest);
      const journal = flags.value('journal');
      const cacheOf = flags.value('cache-of');
      const cacheConfig = flags.value('cache-config');
      const size = flags.value('cache-size');
      const minFree = flags.value('cache-min-free');
      const session = await serveConnection({
        ...(cacheOf ? { origin: new (await import('./cache/origin.js')).LocalOrigin(cacheOf) } : {}),
        ...(cacheConfig ? await peerCache(cacheConfig) : {}),
        ...(size ? { cacheSizeBytes: parseByteQuantity(size, '--cache-size') } : {}),
        ...(minFree ? { cacheMinFreeBytes: parseByteQuantity(minFree, '--cache-min-free') } : {}),
        fd: integerFlag('fd', required(flags.value('fd'), 'fd'), 0, 1_000_000),
        root: required(flags.value('root'), 'root'),
        stateDir: required(flags.value('state-dir'), 'state-dir'),
        ...(journal ? { journal } : {}),
        passthrough: !flags.given('no-passthrough'),
        resume: flags.given('resume'),
        ...(flags.value('mountpoint') ? { mountpoint: flags.value('mountpoint') } : {}),
        log: loggerFor('kmesh-fs-server'),
      });
      await session.closed;
      return 0;
    }
    const help = sub === undefined || sub === '--help' || sub === '-h';
    console.error(help ? USAGE : `kmesh fs: unknown subcommand ${sub}; ${USAGE}`);
    return help ? 0 : 2;
  } catch (error) {
    console.error(`kmesh fs ${sub}: ${(error as Error).message}`);
    return error instanceof UsageError ? 2 : 1;
  }
}
