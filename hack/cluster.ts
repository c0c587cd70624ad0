/** `npm run cluster:up | cluster:down | cluster:status`: the developer's local control plane. */
import { readState, stopControlPlane } from './control-plane/control-plane.js';
import { DEV_CLUSTER_DIR, describeCluster, ensureDevCluster, isUp } from './control-plane/dev-cluster.js';

async function main(command: string | undefined): Promise<void> {
  switch (command) {
    case 'up': {
      const state = await ensureDevCluster();
      console.log(describeCluster(state));
      return;
    }
    case 'down':
      await stopControlPlane(DEV_CLUSTER_DIR);
      console.log('control plane stopped and its directory removed');
      return;
    case 'status': {
      const state = readState(DEV_CLUSTER_DIR);
      console.log(isUp(state) ? describeCluster(state) : 'no control plane is running (npm run cluster:up starts one)');
      if (!isUp(state)) process.exitCode = 1;
      return;
    }
    default:
      console.error('usage: tsx hack/cluster.ts up | down | status');
      process.exitCode = 2;
  }
}

await main(process.argv[2]);
