/**
 * Schemas shared by several Kmesh kinds: references, quantities, paths, schedules, object stores,
 * hooks and the standard condition shape. Each is defined once and re-described where it is used.
 */
import {
  array,
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
  type ValidationRule,
} from '../schema.js';
import { STATE_PATH } from './paths.js';

/** Longest path we accept anywhere in the API (PATH_MAX on Linux). */
const MAX_PATH_LENGTH = 4096;

// Regular expressions avoid backslashes ([.] instead of \.) so they read the same in TypeScript,
// CEL and YAML.
const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const DNS_LABEL_RE = new RegExp(DNS_LABEL);
const DNS_SUBDOMAIN_RE = new RegExp(DNS_SUBDOMAIN);

/** A DNS label (RFC 1123): what a namespace or most object names must be. The CRDs use the same pattern. */
export function isDnsLabel(name: string): boolean {
  return name.length <= 63 && DNS_LABEL_RE.test(name);
}

/** A DNS subdomain (RFC 1123): what an object name may be. */
export function isDnsSubdomain(name: string): boolean {
  return name.length >= 1 && name.length <= 253 && DNS_SUBDOMAIN_RE.test(name);
}

/** A name of another object in the same namespace. */
export function objectName(description: string): JSONSchemaProps {
  return string(description, { minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN });
}

/** A short name used as a list key (peers, sources); a DNS label so it can name child objects. */
export function listKeyName(description: string): JSONSchemaProps {
  return required(string(description, { minLength: 1, maxLength: 63, pattern: DNS_LABEL }));
}

/** A reference to an object of `kind` in the same namespace. */
export function localRef(kind: string, description: string): JSONSchemaProps {
  return object(description, { name: required(objectName(`Name of the ${kind}, in this namespace.`)) });
}

/** A reference to a key in a Secret in the same namespace. */
export function secretKeyRef(description: string, defaultKey: string): JSONSchemaProps {
  return named(
    'SecretKeyReference',
    object(description, {
      name: required(objectName('Name of the Secret, in this namespace.')),
      key: string(`Key inside the Secret that holds the value. Defaults to "${defaultKey}".`, {
        default: defaultKey,
        minLength: 1,
        maxLength: 253,
      }),
    }),
  );
}

/** A Secret in the same namespace, used as a whole (its expected keys go in `description`). */
export function secretRef(description: string): JSONSchemaProps {
  return named('SecretReference', localRef('Secret', description));
}

const quantityRule: ValidationRule = {
  rule: "type(self) == int ? self >= 0 : isQuantity(self) && !quantity(self).isLessThan(quantity('0'))",
  message: 'must be a non-negative quantity such as 500Gi, 100M or 1000000',
};

/** A Kubernetes quantity (an integer or a string such as `10Gi`). */
export function quantity(description: string, options: { default?: string } = {}): JSONSchemaProps {
  return {
    description,
    'x-kubernetes-int-or-string': true,
    // Applies to the string form; bounds the CEL cost estimate.
    maxLength: 64,
    ...options,
    'x-kubernetes-validations': [quantityRule],
  };
}

/** A Go-style duration such as `30s`, `15m` or `168h`. */
export function duration(description: string, options: { default?: string } = {}): JSONSchemaProps {
  return string(description, {
    maxLength: 64,
    ...options,
    rules: [
      {
        rule: "self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$')",
        message: 'must be a duration such as 30s, 15m or 168h (units: ms, s, m, h)',
      },
    ],
  });
}

/**
 * A normalised absolute path (api/v1alpha1/paths.ts `pathProblem` is the same check in TypeScript):
 * it cannot climb out of its root with `..`, and it names one directory one way only.
 */
export function absolutePath(
  description: string,
  options: { default?: string; maxLength?: number; rules?: ValidationRule[] } = {},
): JSONSchemaProps {
  const { rules = [], ...rest } = options;
  return string(description, {
    minLength: 1,
    maxLength: MAX_PATH_LENGTH,
    ...rest,
    rules: [
      {
        rule: "self.matches('^(/|(/[^/]+)+)$') && !self.matches('(^|/)[.][.]?(/|$)') && !self.matches('[[:cntrl:]]')",
        message:
          "must be a normalised absolute path: starting with /, without '.' or '..' segments, '//', a trailing '/' or control characters",
      },
      ...rules,
    ],
  });
}

/** An access point inside an instance's filesystem: never its root nor Kmesh's state (paths.ts `accessPointProblem`). */
export function accessPointPath(description: string): JSONSchemaProps {
  return absolutePath(description, {
    rules: [
      {
        rule: `self != '/' && self != '${STATE_PATH}' && !self.startsWith('${STATE_PATH}/')`,
        message: `must not be the filesystem root or Kmesh's own state (${STATE_PATH})`,
      },
    ],
  });
}

/** A directory on a node; which roots are allowed is the cluster admin's (the operator's --local-roots). */
export function hostDirectory(description: string): JSONSchemaProps {
  return absolutePath(description, {
    rules: [{ rule: "self != '/'", message: "must not be the host's root directory" }],
  });
}

// One cron field: `*`, a value or range, an optional step, comma-separated. Names (MON, JAN) allowed
// for month and day of week.
const cronItem = (value: string): string => `(([*]|${value}(-${value})?)(/[0-9]+)?)`;
const cronList = (value: string): string => `${cronItem(value)}(,${cronItem(value)})*`;
const CRON = [
  cronList('([0-5]?[0-9])'),
  cronList('([01]?[0-9]|2[0-3])'),
  cronList('(0?[1-9]|[12][0-9]|3[01])'),
  cronList('(0?[1-9]|1[0-2]|[A-Za-z]{3})'),
  cronList('([0-7]|[A-Za-z]{3})'),
].join(' +');

/** A 5-field cron expression or one of the @hourly-style macros. */
export function cronSchedule(
  description: string,
  options: { allowOnce?: boolean; default?: string } = {},
): JSONSchemaProps {
  const { allowOnce = false, ...rest } = options;
  const once = allowOnce ? "self == 'once' || " : '';
  return string(description, {
    minLength: 1,
    maxLength: 128,
    ...rest,
    rules: [
      {
        rule: `${once}self in ['@hourly', '@daily', '@weekly', '@monthly', '@yearly'] || self.matches('^ *${CRON} *$')`,
        message: `must be ${allowOnce ? "'once' or " : ''}a 5-field cron expression such as '0 */6 * * *' (minute hour day-of-month month day-of-week) or @hourly/@daily/@weekly/@monthly/@yearly`,
      },
    ],
  });
}

/** A `host:port` address (IPv6 hosts in brackets). */
export function hostPort(description: string): JSONSchemaProps {
  return string(description, {
    minLength: 3,
    maxLength: 261,
    rules: [
      {
        rule: "self.matches('^([[][0-9a-fA-F:.]+[]]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?):[0-9]{1,5}$') && int(self.substring(self.lastIndexOf(':') + 1)) <= 65535",
        message: 'must be host:port, such as gateway.site-b.example.com:7443 or [fd00::1]:7443',
      },
    ],
  });
}

/** An http(s) URL. */
export function httpUrl(description: string): JSONSchemaProps {
  return string(description, {
    maxLength: 2048,
    rules: [
      {
        rule: "isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHost() != ''",
        message: 'must be an http:// or https:// URL, such as https://s3.eu-west-1.amazonaws.com',
      },
    ],
  });
}

/** A TCP port. */
export function port(description: string, defaultPort?: number): JSONSchemaProps {
  return integer(description, { minimum: 1, maximum: 65535, ...(defaultPort ? { default: defaultPort } : {}) });
}

/** Standard `metav1.Condition` list, keyed by `type`. */
export const conditions: JSONSchemaProps = array(
  'Current state of this object, one entry per condition type, in the standard Kubernetes shape.',
  named(
    'Condition',
    object('One aspect of the current state of this object.', {
      type: required(
        string('Type of condition in CamelCase, e.g. Ready.', {
          maxLength: 316,
          pattern:
            '^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
        }),
      ),
      status: required(enumeration('Status of the condition: True, False or Unknown.', ['True', 'False', 'Unknown'])),
      observedGeneration: integer('The .metadata.generation the condition was set for.', { minimum: 0 }),
      lastTransitionTime: required(
        string('Last time the condition changed from one status to another.', { format: 'date-time' }),
      ),
      reason: required(
        string('Machine-readable CamelCase reason for the last transition.', {
          minLength: 1,
          maxLength: 1024,
          pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
        }),
      ),
      message: required(string('Human-readable details about the last transition.', { maxLength: 32768 })),
    }),
  ),
  { maxItems: 32, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] },
);

/** The generation of the spec the status was last written for. */
export const observedGeneration: JSONSchemaProps = integer(
  'The .metadata.generation that the operator last reconciled; status is current when it equals .metadata.generation.',
  { minimum: 0 },
);

/** Compression algorithms, shared by DataFlow policy and at-rest settings. */
export const COMPRESSION = ['none', 'lz4', 'gzip', 'zstd'] as const;
export const DEFAULT_COMPRESSION = 'none' satisfies (typeof COMPRESSION)[number];

/** Container resource requests and limits, as in a Pod spec. */
export function resources(description: string): JSONSchemaProps {
  const amounts = (what: string): JSONSchemaProps =>
    map(`${what} per resource name (cpu, memory, ...), as quantities.`, quantity('Amount of this resource.'), {
      maxProperties: 16,
    });
  return named(
    'ResourceRequirements',
    object(description, {
      requests: amounts('Minimum resources the scheduler reserves'),
      limits: amounts('Maximum resources the container may use'),
    }),
  );
}

/** Tolerations, as in a Pod spec. */
export const tolerations: JSONSchemaProps = array(
  'Tolerations so the pods may run on tainted nodes (e.g. dedicated Lustre server nodes).',
  named(
    'Toleration',
    object('Tolerates the taints that match key, value and effect.', {
      key: string('Taint key to match; empty with operator Exists matches every taint.', { maxLength: 316 }),
      operator: enumeration('How key and value are compared.', ['Exists', 'Equal'], { default: 'Equal' }),
      value: string('Taint value to match when operator is Equal.', { maxLength: 63 }),
      effect: enumeration('Taint effect to match; empty matches all effects.', [
        'NoSchedule',
        'PreferNoSchedule',
        'NoExecute',
      ]),
      tolerationSeconds: integer('How long a NoExecute taint is tolerated before eviction; unset means forever.'),
    }),
  ),
  { maxItems: 32 },
);

/** A label selector, as in a Deployment. */
export const labelSelector: JSONSchemaProps = named(
  'LabelSelector',
  object(
    'Selects pods by label; the requirements are ANDed.',
    {
      matchLabels: map(
        'Labels a pod must carry with exactly these values.',
        string('Label value.', { maxLength: 63 }),
        {
          maxProperties: 32,
        },
      ),
      matchExpressions: array(
        'Label requirements a pod must meet.',
        object('One label requirement.', {
          key: required(string('Label key.', { minLength: 1, maxLength: 316 })),
          operator: required(
            enumeration('How the label is compared with values.', ['In', 'NotIn', 'Exists', 'DoesNotExist']),
          ),
          values: array(
            'Values for In and NotIn; must be empty for Exists and DoesNotExist.',
            string('A value.', { maxLength: 63 }),
            {
              maxItems: 64,
            },
          ),
        }),
        { maxItems: 16 },
      ),
    },
    {
      rules: [
        {
          rule: 'has(self.matchLabels) || has(self.matchExpressions)',
          message: 'set matchLabels or matchExpressions; an empty selector would match every pod',
        },
      ],
    },
  ),
);

/** An S3 (or S3-compatible) bucket location. */
export const s3Location: JSONSchemaProps = named(
  'S3Location',
  object('An S3 or S3-compatible bucket (AWS, MinIO, Ceph RGW, ...).', {
    endpoint: httpUrl('Endpoint URL of an S3-compatible service; unset means AWS S3 for the region.'),
    bucket: required(string('Bucket name.', { minLength: 3, maxLength: 63 })),
    prefix: string('Key prefix inside the bucket; only objects under it are used.', { maxLength: 1024 }),
    region: string('Region of the bucket, e.g. us-east-1.', { maxLength: 64 }),
    credentialsSecretRef: secretRef(
      'Secret with keys accessKeyId and secretAccessKey (and optionally sessionToken); unset means the pod’s ambient credentials.',
    ),
    forcePathStyle: boolean(
      'Address the bucket as endpoint/bucket instead of bucket.endpoint; most non-AWS services need this.',
      {
        default: false,
      },
    ),
  }),
);

/** An Azure Blob Storage container location. */
export const azureBlobLocation: JSONSchemaProps = named(
  'AzureBlobLocation',
  object(
    'An Azure Blob Storage container.',
    {
      endpoint: httpUrl('Blob service URL; unset means https://<account>.blob.core.windows.net.'),
      account: string('Storage account name.', { minLength: 3, maxLength: 24, pattern: '^[a-z0-9]+$' }),
      container: required(
        string('Container name.', { minLength: 3, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }),
      ),
      prefix: string('Blob name prefix inside the container; only blobs under it are used.', { maxLength: 1024 }),
      credentialsSecretRef: secretRef('Secret with key accountKey, or sasToken, or connectionString.'),
    },
    {
      rules: [
        {
          rule: 'has(self.endpoint) || has(self.account)',
          message: 'set account or endpoint so Kmesh knows which storage account to use',
        },
      ],
    },
  ),
);

/** An NFS export. */
export const nfsLocation: JSONSchemaProps = named(
  'NFSLocation',
  object('An NFS export.', {
    server: required(string('NFS server host name or IP address.', { minLength: 1, maxLength: 253 })),
    path: required(absolutePath('Exported path on the server.')),
  }),
);

/** Exactly one external store; used by snapshot export and tiering. */
export function storeTarget(description: string, kinds: { nfs: boolean }): JSONSchemaProps {
  const properties: Record<string, JSONSchemaProps> = {
    s3: describe(s3Location, 'Write to this S3 bucket.'),
    azureBlob: describe(azureBlobLocation, 'Write to this Azure Blob container.'),
  };
  if (kinds.nfs) properties['nfs'] = describe(nfsLocation, 'Write to this NFS export.');
  const names = Object.keys(properties);
  return object(description, properties, {
    rules: [
      {
        rule: `[${names.map((n) => `has(self.${n})`).join(', ')}].filter(x, x).size() == 1`,
        message: `set exactly one of ${names.join(', ')}`,
      },
    ],
  });
}

/** A command run in selected pods around a snapshot (to quiesce an application). */
const hookAction: JSONSchemaProps = named(
  'HookAction',
  object('A command executed in every pod the selector matches.', {
    selector: required(describe(labelSelector, 'Pods, in this namespace, to run the command in.')),
    container: string('Container to run the command in; defaults to the first container.', { maxLength: 63 }),
    command: required(
      array('Command and arguments, run without a shell.', string('One argument.', { maxLength: 4096 }), {
        minItems: 1,
        maxItems: 64,
      }),
    ),
  }),
);

/** Pre- and post-snapshot hooks. */
export const snapshotHooks: JSONSchemaProps = named(
  'SnapshotHooks',
  object(
    'Commands run in application pods just before and just after the snapshot is taken (e.g. to flush and freeze a database).',
    {
      pre: describe(hookAction, 'Runs before the snapshot; if it fails, no snapshot is taken.'),
      post: describe(hookAction, 'Runs after the snapshot, even if taking it failed (e.g. to unfreeze).'),
      timeout: duration('How long each hook may run before it counts as failed.', { default: '30s' }),
    },
  ),
);

/** A path inside the backend filesystem plus how clients mount it; reported in status. */
export const accessPointStatus: JSONSchemaProps = named(
  'AccessPointStatus',
  object('Where the data lives in the backend filesystem and how a client mounts it.', {
    path: string('Path of the access point inside the instance’s filesystem.'),
    mountSource: string('What a client mounts, e.g. 10.0.0.5@tcp:/kmesh/dataflows/ml-data for Lustre.'),
  }),
);
