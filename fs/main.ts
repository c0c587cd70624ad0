/**
 * `kmesh fs mount --root <dir> --mountpoint <dir> [--journal <file>]`: serves a backing tree
 * through the Kmesh filesystem until the mount goes away or the process gets SIGTERM/SIGINT
 * (then it detaches the mount). For tests, benchmarks and by hand; the CSI node plugin mounts
 * the same way.
 */
import { loggerFor } from '../lib/logging.js';
import { flagHelp, parseFlags, UsageError, type FlagSpecs } from '../lib/flags.js';
import { mountBackingTree } from './mount.js';

const MOUNT_FLAGS = {
  root: { help: 'the directory to serve' },
  mountpoint: { help: 'where to mount it (an existing directory)' },
  journal: { help: 'append every change to this file (the change journal)' },
  'no-passthrough': { type: 'boolean', help: 'serve every read and write here instead of through kernel passthrough' },
} satisfies FlagSpecs;

const USAGE = 'usage: kmesh fs mount --root <dir> --mountpoint <dir> [--journal <file>]';

export async function fsMain(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'mount') {
    console.error(sub === undefined || sub === '--help' ? USAGE : `kmesh fs: unknown subcommand ${sub}; ${USAGE}`);
    return sub === '--help' ? 0 : 2;
  }
  try {
    const flags = parseFlags(MOUNT_FLAGS, rest);
    if (flags.help) {
      console.log(flagHelp(USAGE, MOUNT_FLAGS));
      return 0;
    }
    const root = flags.value('root');
    const mountpoint = flags.value('mountpoint');
    if (!root) throw new UsageError(`--root is required (${USAGE})`);
    if (!mountpoint) throw new UsageError(`--mountpoint is required (${USAGE})`);
    const log = loggerFor('kmesh-fs', { mountpoint });
    const mounted = await mountBackingTree({
      root,
      mountpoint,
      journal: flags.value('journal'),
      passthrough: !flags.given('no-passthrough'),
      log,
    });
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => void mounted.unmount().catch((err) => log.error({ err }, 'unmount failed')));
    }
    log.info({ root }, 'serving');
    await mounted.session.closed;
    return 0;
  } catch (error) {
    console.error(`kmesh fs mount: ${(error as Error).message}`);
    return error instanceof UsageError ? 2 : 1;
  }
}
