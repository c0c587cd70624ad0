/**
 * `npm run cluster:up | cluster:down | cluster:status [-- --sites=east,west]`: the single-node
 * cluster, or one cluster per site with a WAN between them (needs root). `npm run cluster:link --
 * east cut|up|shaped [--delay-ms=10 --rate-mbit=100]` sets a site's link to the WAN.
 */
import { flagHelp, parseFlags, UsageError, type ParsedFlags } from '../../lib/flags.js';
import { clusterRoot, isClusterUp, readClusterState, startCluster, stopCluster } from './cluster.js';
import { describeCluster } from './describe.js';
import { parseSites, readSites, runningSites, setLink, sitesRoot, startSites, stopSites } from './sites.js';

const FLAGS = {
  sites: {
    help: 'comma-separated site names (e.g. east,west): one cluster per site, joined by a WAN the tests control',
  },
  'delay-ms': { help: 'link shaped: delay each packet this long, each way', default: '10' },
  'rate-mbit': { help: 'link shaped: hold the rate to this, each way', default: '100' },
};
const USAGE =
  'usage: tsx hack/cluster/main.ts up | down | status [--sites=east,west]\n       tsx hack/cluster/main.ts link <site> up|cut|shaped [--delay-ms=10] [--rate-mbit=100]';

async function linkCommand(
  siteName: string | undefined,
  state: string | undefined,
  flags: ParsedFlags<typeof FLAGS>,
): Promise<void> {
  const site = readSites().find((s) => s.name === siteName);
  if (!site)
    throw new UsageError(
      `site "${siteName ?? ''}": not one of the sites up (${
        readSites()
          .map((s) => s.name)
          .join(', ') || 'none'
      })`,
    );
  const number = (name: 'delay-ms' | 'rate-mbit'): number => {
    const value = Number(flags.value(name));
    if (!(value > 0)) throw new UsageError(`--${name}=${flags.value(name)}: give a positive number`);
    return value;
  };
  if (state === 'up' || state === 'cut') await setLink(site, { state });
  else if (state === 'shaped') {
    const applied = await setLink(site, { state, delayMs: number('delay-ms'), rateMbit: number('rate-mbit') });
    if (applied.state === 'shaped' && applied.delayMs === 0)
      console.log('this kernel has no netem: the rate is held, packets are not delayed');
  } else throw new UsageError(`link state "${state ?? ''}": use up, cut or shaped`);
  console.log(`site ${site.name}: link ${state}`);
}

async function sitesCommand(command: string, list: string | undefined): Promise<void> {
  switch (command) {
    case 'up': {
      const states = await startSites(parseSites(list ?? ''), { detached: true, log: console.log });
      for (const state of states) console.log(`\n== site ${state.site.name}\n${describeCluster(state)}`);
      return;
    }
    case 'down':
      await stopSites();
      console.log(`sites stopped; ${sitesRoot()} removed`);
      return;
    case 'status': {
      const states = runningSites();
      if (states) for (const state of states) console.log(`== site ${state.site.name}\n${describeCluster(state)}`);
      else
        console.log(
          `the sites are not all up (${
            readSites()
              .map((s) => s.name)
              .join(', ') || 'none recorded'
          })`,
        );
      if (!states) process.exitCode = 1;
      return;
    }
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const flags = parseFlags(FLAGS, rest, { maxPositionals: 2 });
  if (flags.help) return void console.log(flagHelp(USAGE, FLAGS));
  if (command === 'link') return linkCommand(flags.positionals[0], flags.positionals[1], flags);
  if (flags.positionals.length > 0) throw new UsageError(`unexpected arguments: ${flags.positionals.join(' ')}`);
  if (command !== 'up' && command !== 'down' && command !== 'status') throw new UsageError(USAGE);
  // down stops whatever is up; status describes the sites if they were started.
  if (command === 'up' && flags.value('sites') !== undefined) return sitesCommand(command, flags.value('sites'));
  if (command === 'status' && readSites().length > 0) return sitesCommand(command, undefined);
  if (command === 'down' && readSites().length > 0) await sitesCommand(command, undefined);
  switch (command) {
    case 'up': {
      const state = await startCluster({ detached: true, log: console.log });
      console.log(describeCluster(state));
      return;
    }
    case 'down':
      await stopCluster();
      console.log(`cluster stopped; ${clusterRoot()} removed`);
      return;
    case 'status': {
      const state = readClusterState();
      console.log(
        isClusterUp(state) ? describeCluster(state) : 'no cluster is running (npm run cluster:up starts one)',
      );
      if (!isClusterUp(state)) process.exitCode = 1;
      return;
    }
  }
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(error.message);
  process.exitCode = 2;
}
