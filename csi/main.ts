/** `kmesh csi`: serve the CSI driver on its unix socket until SIGTERM or SIGINT. */
import { parseLocalRoots } from '../api/v1alpha1/paths.js';
import { StatusError } from '../lib/errors.js';
import { loggerFor } from '../lib/logging.js';
import { kmeshVersion } from '../lib/version.js';
import { Driver } from './driver.js';
import { identityHandlers } from './identity-server.js';
import { loadCsi } from './proto.js';
import { loadCredentials } from '../lib/kube/credentials.js';
import { KubeClient } from '../lib/kube/rest.js';
import { systemRunner } from '../lib/command.js';
import { procMountTable } from './mount/mount-table.js';
import { NodeServer } from './node-server.js';
import { ControllerServer } from './controller-server.js';
import { FilesystemQuotas } from './quota.js';
import { ConfigMapReporter, PublicationLog } from './publications.js';
import { ApiVolumeResolver } from './resolver.js';
import { serveCsi } from './server.js';
import { Registry } from 'prom-client';
import { startHealthServer } from '../lib/health-server.js';
import { registerWithKubelet } from './registration.js';
import { SelfProbe } from './self-probe.js';
import { nodeLocation } from './node-location.js';
import { booleanFlag, flagHelp, integerFlag, parseFlags, UsageError, type FlagSpecs } from '../lib/flags.js';

const FLAGS = {
  endpoint: { env: 'CSI_ENDPOINT', default: 'unix:///csi/csi.sock', help: 'unix socket the driver serves' },
  'driver-name': { env: 'KMESH_CSI_DRIVER_NAME', default: 'csi.kmesh.io', help: 'CSI driver name' },
  controller: {
    env: 'KMESH_CSI_CONTROLLER',
    default: 'false',
    help: 'serve the Controller service (true|false; the controller Deployment sets it)',
  },
  'node-id': { env: 'KMESH_NODE_ID', default: '', help: 'serve the Node service as this node (the DaemonSet sets it)' },
  region: {
    env: 'KMESH_NODE_REGION',
    default: '',
    help: "topology.kmesh.io/region of this node (default: the node's topology.kubernetes.io/region label)",
  },
  zone: {
    env: 'KMESH_NODE_ZONE',
    default: '',
    help: "topology.kmesh.io/zone of this node (default: the node's topology.kubernetes.io/zone label)",
  },
  'controller-mount-dir': {
    env: 'KMESH_CSI_CONTROLLER_MOUNT_DIR',
    default: '/var/lib/kmesh/csi-controller',
    help: 'where the controller mounts Lustre filesystems to set project quotas',
  },
  'state-dir': {
    env: 'KMESH_CSI_STATE_DIR',
    default: '/var/lib/kubelet/plugins/csi.kmesh.io/state',
    help: 'where the node plugin records its publications',
  },
  'instance-mount-dir': {
    env: 'KMESH_CSI_INSTANCE_MOUNT_DIR',
    default: '/var/lib/kubelet/plugins/csi.kmesh.io/instances',
    help: "where the node plugin mounts instance filesystems for Kmesh's own pods (inline volumes)",
  },
  namespace: {
    env: 'POD_NAMESPACE',
    default: 'kmesh-system',
    help: 'namespace of the driver, where the node plugin reports its publication counts',
  },
  kubeconfig: { env: 'KUBECONFIG', default: '', help: 'kubeconfig file (default: in-cluster)' },
  'health-port': {
    env: 'KMESH_CSI_HEALTH_PORT',
    default: '',
    help: 'serve /healthz (a Probe through the CSI socket), /readyz and /metrics on this port (off when empty)',
  },
  'registration-dir': {
    env: 'KMESH_CSI_REGISTRATION_DIR',
    default: '',
    help: 'register with the kubelet through its plugins_registry directory mounted here (node plugin; off when empty)',
  },
  'local-roots': {
    env: 'KMESH_LOCAL_ROOTS',
    default: '/var/lib/kmesh',
    help: "comma-separated host directories below which local instances may keep their data (the chart's localRoots)",
  },
  'kubelet-endpoint': {
    env: 'KMESH_CSI_KUBELET_ENDPOINT',
    default: '',
    help: 'the CSI socket as a path on the node, for the kubelet (needed with --registration-dir)',
  },
} satisfies FlagSpecs;

/** What the flags ask for, checked before anything starts; throws UsageError naming the flag. */
function csiFlags(argv: string[]) {
  const flags = parseFlags(FLAGS, argv, { env: process.env });
  const value = (flag: keyof typeof FLAGS): string => flags.value(flag) ?? '';
  const healthPort = value('health-port') ? integerFlag('health-port', value('health-port'), 0, 65535) : undefined;
  if (value('registration-dir') && !value('kubelet-endpoint'))
    throw new UsageError('--registration-dir needs --kubelet-endpoint (the CSI socket as a path on the node)');
  return { help: flags.help, value, controller: booleanFlag('controller', value('controller')), healthPort };
}

export async function main(argv: string[]): Promise<number> {
  let flags;
  let driver: Driver;
  try {
    flags = csiFlags(argv);
    if (flags.help) {
      console.log(flagHelp('usage: kmesh csi [--flag=value ...]', FLAGS));
      return 0;
    }
    driver = new Driver({
      name: flags.value('driver-name'),
      version: kmeshVersion(),
      endpoint: flags.value('endpoint'),
    });
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof StatusError)) throw error;
    console.error(`kmesh csi: ${error instanceof StatusError ? error.details : error.message}`);
    return 2;
  }
  const { value, controller, healthPort } = flags;
  let localRoots: string[];
  try {
    localRoots = parseLocalRoots('local-roots', value('local-roots'));
  } catch (error) {
    console.error(`kmesh csi: ${(error as Error).message}`);
    return 2;
  }
  const { services } = loadCsi();
  const served = [{ definition: services.Identity, handlers: identityHandlers(driver) }];
  const nodeId = value('node-id');
  const client =
    controller || nodeId ? new KubeClient(await loadCredentials(value('kubeconfig') || undefined)) : undefined;
  const log = loggerFor('csi');
  if (client && controller) {
    const quotas = new FilesystemQuotas(systemRunner, procMountTable, value('controller-mount-dir'));
    served.push({
      definition: services.Controller,
      handlers: new ControllerServer({ client, quotas, log }).handlers(),
    });
  }
  let node: NodeServer | undefined;
  if (client && nodeId) {
    const location = await nodeLocation(client, nodeId, { region: value('region'), zone: value('zone') }, log);
    node = new NodeServer({
      nodeId,
      ...location,
      resolver: new ApiVolumeResolver(client, localRoots),
      localRoots,
      instanceMountDir: value('instance-mount-dir'),
      runner: systemRunner,
      table: procMountTable,
      publications: new PublicationLog(value('state-dir'), procMountTable),
      reporter: new ConfigMapReporter(client, value('namespace'), nodeId),
      log,
    });
    served.push({ definition: services.Node, handlers: node.handlers() });
  }
  const registrationDir = value('registration-dir');
  const server = await serveCsi(driver.config.endpoint, served, log);
  driver.markReady();
  // The kubelet may call the driver as soon as it knows the socket, so this comes after serving.
  const registration = registrationDir
    ? await registerWithKubelet({
        driverName: driver.config.name,
        registrationDir,
        kubeletEndpoint: value('kubelet-endpoint'),
        log,
      })
    : undefined;
  const selfProbe = healthPort !== undefined ? new SelfProbe(driver.config.endpoint) : undefined;
  // Ready once serving and, for a node plugin, once the kubelet has registered it.
  const ready = (): boolean => driver.ready && (registration?.registered() ?? true);
  const health =
    selfProbe && healthPort !== undefined
      ? await startHealthServer({ port: healthPort, registry: new Registry(), ready, live: () => selfProbe.live() })
      : undefined;
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  // Unregistering first: the kubelet drops the plugin when its registration socket goes.
  await registration?.server.close();
  await server.close();
  await health?.close();
  await node?.reportsSettled(); // the last publication count reaches the API before we exit
  return 0;
}
