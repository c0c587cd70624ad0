/** KmeshInstance: a Kmesh data node at one site (docs/architecture.md#kmeshinstance). */
import {
  boolean,
  describe,
  enumeration,
  integer,
  map,
  named,
  object,
  required,
  string,
  type JSONSchemaProps,
} from '../schema.js';
import {
  hostDirectory,
  COMPRESSION,
  DEFAULT_COMPRESSION,
  conditions,
  observedGeneration,
  port,
  quantity,
  resources,
  secretKeyRef,
  secretRef,
  storeTarget,
  tolerations,
} from './common.js';
import type { KindDefinition } from './kind.js';

/** The gateway's sync port (gRPC and bulk TLS): its pods listen on it, and its Service does by default. */
export const GATEWAY_PORT = 7443;

/**
 * Lustre node type presets. Kept here so the CRD descriptions and the operator read the same numbers.
 */
export const LUSTRE_NODE_TYPES = {
  small: { mdsCount: 1, ossCount: 2, mdtSize: '64Gi', ostSize: '1Ti', cpu: '2', memory: '8Gi' },
  medium: { mdsCount: 1, ossCount: 4, mdtSize: '256Gi', ostSize: '4Ti', cpu: '8', memory: '32Gi' },
  large: { mdsCount: 2, ossCount: 8, mdtSize: '1Ti', ostSize: '16Ti', cpu: '16', memory: '64Gi' },
} as const;

const presetText = Object.entries(LUSTRE_NODE_TYPES)
  .map(
    ([n, p]) =>
      `${n}: ${p.mdsCount} MDS with ${p.mdtSize} MDT, ${p.ossCount} OSS with ${p.ostSize} OST, ${p.cpu} CPU and ${p.memory} memory per server`,
  )
  .join('; ');

const targetStorage = named(
  'TargetStorage',
  object('Block storage for each Lustre target (one PersistentVolumeClaim in Block mode per target).', {
    size: quantity('Size of each target volume, e.g. 1Ti.'),
    storageClassName: string('StorageClass for the target volumes; unset uses the cluster default.', {
      maxLength: 253,
    }),
  }),
);

const serverGroup = (role: 'mds' | 'oss'): JSONSchemaProps => {
  const what = role === 'mds' ? 'metadata servers (MGS+MDT)' : 'object storage servers (OSS)';
  const properties: Record<string, JSONSchemaProps> = {
    count: integer(`Number of ${what}. Defaults to the node type preset; required for nodeType custom.`, {
      minimum: 1,
      maximum: role === 'mds' ? 16 : 256,
    }),
    storage: describe(targetStorage, `Block storage for each target of the ${what}. Defaults to the node type preset.`),
    resources: resources(`CPU and memory for each of the ${what}. Defaults to the node type preset.`),
  };
  if (role === 'oss') {
    properties['targetsPerServer'] = integer('Object storage targets (OSTs) per OSS.', {
      minimum: 1,
      maximum: 8,
      default: 1,
    });
  }
  return object(`The ${what}.`, properties);
};

const lustre = named(
  'LustreBackend',
  object(
    'A Lustre filesystem served by pods on nodes with Lustre server kernel modules.',
    {
      fsName: required(
        string('Lustre filesystem name: 1 to 8 letters, digits or underscores. Cannot change after creation.', {
          minLength: 1,
          maxLength: 8,
          pattern: '^[A-Za-z0-9_]+$',
          rules: [{ rule: 'self == oldSelf', message: 'fsName cannot be changed after creation' }],
        }),
      ),
      nodeType: enumeration(
        `Size preset for the servers. ${presetText}. custom: set mds and oss yourself.`,
        ['small', 'medium', 'large', 'custom'],
        {
          default: 'small',
        },
      ),
      mds: serverGroup('mds'),
      oss: serverGroup('oss'),
      backingFs: enumeration(
        'On-disk format of the targets. zfs enables at-rest compression and snapshots.',
        ['ldiskfs', 'zfs'],
        {
          default: 'ldiskfs',
        },
      ),
      atRest: object('Data transformations applied by the servers on disk.', {
        compression: enumeration('Compression of stored data (needs backingFs zfs).', COMPRESSION, {
          default: DEFAULT_COMPRESSION,
        }),
        encryption: object('Encryption of stored data.', {
          keySecretRef: required(secretKeyRef('Secret holding the encryption key.', 'key')),
        }),
      }),
      ha: object('High availability: every server gets a failover partner in another failure domain.', {
        enabled: boolean('Run failover partners for every MDS and OSS.', { default: false }),
        topologyKey: string('Node label whose values are failure domains; partners never share a value.', {
          default: 'topology.kubernetes.io/zone',
          maxLength: 316,
        }),
      }),
      image: string('Container image with the Lustre server tools; unset uses the operator’s configured image.', {
        maxLength: 512,
      }),
      nodeSelector: map(
        'Node labels the Lustre server pods must match (nodes with Lustre server modules).',
        string('Label value.', { maxLength: 63 }),
        {
          maxProperties: 32,
        },
      ),
      tolerations,
    },
    {
      rules: [
        {
          rule: "self.nodeType != 'custom' || (has(self.mds) && has(self.mds.count) && has(self.mds.storage) && has(self.oss) && has(self.oss.count) && has(self.oss.storage))",
          message: 'nodeType custom needs mds.count, mds.storage, oss.count and oss.storage',
        },
        {
          rule: "!has(self.atRest) || !has(self.atRest.compression) || self.atRest.compression == 'none' || self.backingFs == 'zfs'",
          message: 'atRest.compression needs backingFs zfs (ldiskfs cannot compress)',
          fieldPath: '.atRest.compression',
        },
        {
          rule: "!has(self.atRest) || !has(self.atRest.encryption) || self.backingFs == 'zfs'",
          message: 'atRest.encryption needs backingFs zfs (ldiskfs targets cannot be encrypted at rest)',
          fieldPath: '.atRest.encryption',
        },
      ],
    },
  ),
);

const local = named(
  'LocalBackend',
  object('A directory on one node used as the filesystem (development, CI and single-node clusters).', {
    path: required(
      hostDirectory(
        'Directory on the node that holds the data; created if missing. It must lie below one of the roots the cluster admin allows (the chart value localRoots) and not overlap another instance’s directory.',
      ),
    ),
    nodeName: string(
      'Node that holds the directory; the gateway runs there. Unset: each node uses its own copy of the directory, which is only right on a single-node cluster.',
      { maxLength: 253 },
    ),
  }),
);

const spec = object(
  'Desired state of the data node.',
  {
    location: object('Where this data node runs; CSI topology matches PVCs to the instance of their zone or region.', {
      cloud: string('Cloud or site name, e.g. aws, azure, gcp or onprem-paris.', { maxLength: 63 }),
      region: string('Region, matched against the topology.kmesh.io/region node label.', { maxLength: 63 }),
      zone: string('Zone, matched against the topology.kmesh.io/zone node label.', { maxLength: 63 }),
    }),
    backend: required(
      object(
        'The filesystem that stores this site’s data.',
        {
          type: enumeration('lustre for production, local for a directory on one node.', ['lustre', 'local'], {
            default: 'local',
          }),
          lustre,
          local,
        },
        {
          rules: [
            {
              rule: "self.type != 'lustre' || has(self.lustre)",
              message: 'backend type lustre needs the lustre section',
              fieldPath: '.lustre',
              reason: 'FieldValueRequired',
            },
            {
              rule: "self.type != 'local' || has(self.local)",
              message: 'backend type local needs the local section with a path',
              fieldPath: '.local',
              reason: 'FieldValueRequired',
            },
            {
              rule: '!(has(self.lustre) && has(self.local))',
              message: 'set only the section matching backend.type, not both lustre and local',
            },
            { rule: 'self.type == oldSelf.type', message: 'backend.type cannot be changed after creation' },
          ],
        },
      ),
    ),
    autoscale: object(
      'Adds an OSS when the filesystem fills up (lustre only).',
      {
        enabled: boolean('Turn autoscaling on.', { default: false }),
        thresholdPercent: integer('Used capacity, in percent, at which one more OSS is added.', {
          minimum: 1,
          maximum: 99,
          default: 75,
        }),
        maxOss: integer('Upper bound on the number of OSSs autoscaling may reach.', { minimum: 1, maximum: 256 }),
      },
      {
        rules: [
          {
            rule: '!self.enabled || has(self.maxOss)',
            message: 'autoscale.enabled needs maxOss as an upper bound',
            fieldPath: '.maxOss',
            reason: 'FieldValueRequired',
          },
        ],
      },
    ),
    tiering: object('Moves cold data to an object store, keeping it visible in the namespace (lustre HSM).', {
      target: required(storeTarget('Object store that receives cold data.', { nfs: false })),
      percent: integer('Used capacity, in percent, above which the coldest files are released to the target.', {
        minimum: 1,
        maximum: 99,
        default: 80,
      }),
    }),
    gateway: object(
      'The sync gateway that receives data from other sites.',
      {
        replicas: integer('Gateway pods; 0 turns off receiving from other sites.', {
          minimum: 0,
          maximum: 16,
          default: 1,
        }),
        service: object(
          'How other sites reach the gateway.',
          {
            type: enumeration('Kubernetes Service type of the gateway.', ['ClusterIP', 'NodePort', 'LoadBalancer'], {
              default: 'ClusterIP',
            }),
            port: port('Port the gateway Service listens on.', GATEWAY_PORT),
            nodePort: port(
              'With type NodePort or LoadBalancer: the port every node opens for the gateway (within the cluster’s node port range, 30000-32767 by default). Unset: Kubernetes picks one; status.gatewayEndpoint shows it.',
            ),
          },
          {
            default: {},
            rules: [
              {
                rule: "!has(self.nodePort) || (has(self.type) && self.type != 'ClusterIP')",
                message: 'nodePort needs type NodePort or LoadBalancer',
                fieldPath: '.nodePort',
              },
            ],
          },
        ),
        tlsSecretRef: secretRef('Secret of type kubernetes.io/tls with tls.crt, tls.key and ca.crt for mutual TLS.'),
      },
      {
        rules: [
          {
            rule: 'self.replicas == 0 || has(self.tlsSecretRef)',
            message: 'a gateway with replicas needs tlsSecretRef: sites talk only over mutual TLS',
            fieldPath: '.tlsSecretRef',
            reason: 'FieldValueRequired',
          },
        ],
      },
    ),
    workers: object('Sync workers of the DataFlows on this instance.', {
      resources: resources('CPU and memory for each sync worker.'),
      maxConcurrentFlows: integer(
        'DataFlows that may transfer at the same time on this instance; unset means no limit. Not applied in this release (the Supported condition says so when it is set).',
        { minimum: 1, maximum: 256 },
      ),
    }),
  },
  {
    rules: [
      {
        rule: "!has(self.autoscale) || !self.autoscale.enabled || self.backend.type == 'lustre'",
        message: 'autoscale adds Lustre OSSs and needs backend.type lustre',
        fieldPath: '.autoscale.enabled',
      },
      {
        rule: "!has(self.tiering) || self.backend.type == 'lustre'",
        message: 'tiering uses Lustre HSM and needs backend.type lustre',
        fieldPath: '.tiering',
      },
      {
        rule: '!has(self.autoscale) || !has(self.autoscale.maxOss) || !has(self.backend.lustre) || !has(self.backend.lustre.oss) || !has(self.backend.lustre.oss.count) || self.autoscale.maxOss >= self.backend.lustre.oss.count',
        message: 'autoscale.maxOss must be at least backend.lustre.oss.count',
        fieldPath: '.autoscale.maxOss',
      },
    ],
  },
);

const readyDesired = (what: string): JSONSchemaProps =>
  object(`${what} pods.`, {
    ready: integer(`${what} pods that are ready.`, { minimum: 0 }),
    desired: integer(`${what} pods that should exist.`, { minimum: 0 }),
  });

const status = object('Observed state of the data node, written by the operator.', {
  observedGeneration,
  phase: enumeration('Summary of the state.', ['Pending', 'Provisioning', 'Ready', 'Degraded', 'Deleting', 'Failed']),
  conditions: describe(
    conditions,
    'Ready, FilesystemReady, GatewayReady and Degraded, in the standard Kubernetes shape.',
  ),
  mountSource: string('What clients mount: <mgs-nids>:/<fsName> for lustre, the directory for local.'),
  gatewayEndpoint: string('host:port other sites use to reach this instance’s gateway.'),
  capacity: object('Space of the filesystem, as reported by the component that mounts it.', {
    totalBytes: integer('Total capacity in bytes.', { minimum: 0 }),
    usedBytes: integer('Used capacity in bytes.', { minimum: 0 }),
    percent: integer('Used capacity in percent.', { minimum: 0, maximum: 100 }),
  }),
  autoscale: object('What autoscaling did; kept here so a restarted operator remembers it.', {
    ossCount: integer('OSS count autoscaling raised the filesystem to (used instead of a lower oss.count).', {
      minimum: 0,
    }),
    lastScaleTime: string('When autoscaling last added an OSS.', { format: 'date-time' }),
  }),
  servers: object('Lustre server pods, ready and desired.', {
    mds: readyDesired('Metadata server'),
    oss: readyDesired('Object storage server'),
  }),
});

export const kmeshInstance: KindDefinition = {
  kind: 'KmeshInstance',
  plural: 'kmeshinstances',
  singular: 'kmeshinstance',
  shortNames: ['kmi'],
  description:
    'A Kmesh data node at one site: a filesystem (Lustre servers or a local directory), its sync gateway and its workers.',
  spec,
  status,
  printerColumns: [
    { name: 'Backend', type: 'string', jsonPath: '.spec.backend.type', description: 'Filesystem backend.' },
    {
      name: 'Cloud',
      type: 'string',
      jsonPath: '.spec.location.cloud',
      priority: 1,
      description: 'Cloud or site name.',
    },
    { name: 'Region', type: 'string', jsonPath: '.spec.location.region', description: 'Region of the site.' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Summary of the state.' },
    {
      name: 'Ready',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="Ready")].status',
      description: 'Ready condition.',
    },
    { name: 'Used%', type: 'integer', jsonPath: '.status.capacity.percent', description: 'Used capacity in percent.' },
  ],
};
