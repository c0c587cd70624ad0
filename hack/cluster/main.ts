/** `npm run cluster:up | cluster:down | cluster:status`: the single-node cluster (needs root). */
import { clusterRoot, isClusterUp, readClusterState, startCluster, stopCluster } from './cluster.js';
import { describeCluster } from './describe.js';

async function main(command: string | undefined): Promise<void> {
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
    default:
      console.error('usage: tsx hack/cluster/main.ts up | down | status');
      process.exitCode = 2;
  }
}

await main(process.argv[2]);
