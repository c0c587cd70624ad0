/** VirtualCopy: a writable, point-in-time copy of a DataFlow or Snapshot (docs/architecture.md#virtualcopy). */
import { array, describe, enumeration, integer, object, required, string } from '../schema.js';
import {
  accessPointPath,
  accessPointStatus,
  conditions,
  cronSchedule,
  localRef,
  observedGeneration,
  quantity,
} from './common.js';
import type { KindDefinition } from './kind.js';
import { STATE_PATH } from './paths.js';

const spec = object(
  'Desired state of the VirtualCopy.',
  {
    source: required(
      object(
        'What is copied: a Snapshot as it is, or a DataFlow as it is when the copy is made (or refreshed).',
        {
          snapshotRef: localRef('Snapshot', 'Copy this Snapshot.'),
          dataFlowRef: localRef('DataFlow', 'Copy the current content of this DataFlow.'),
        },
        {
          rules: [
            {
              rule: 'has(self.snapshotRef) != has(self.dataFlowRef)',
              message: 'set exactly one of snapshotRef or dataFlowRef',
            },
            { rule: 'self == oldSelf', message: 'source cannot be changed after creation' },
          ],
        },
      ),
    ),
    instanceRef: localRef(
      'KmeshInstance',
      'The KmeshInstance where the copy lives (possibly another site’s); defaults to the source’s instance.',
    ),
    path: accessPointPath(
      `Access point of the copy inside the instance’s filesystem; defaults to /virtualcopies/<name>. Not / nor under ${STATE_PATH}.`,
    ),
    access: enumeration(
      'copy materializes all data up front; cache serves reads at once, fetches data on first read and thickens the copy in the background.',
      ['copy', 'cache'],
      { default: 'copy' },
    ),
    thickenBandwidthLimit: quantity(
      'With access cache: bytes per second the background thickening may use (foreground reads go first), e.g. 50Mi.',
    ),
    refresh: object('Bring the copy up to date with its source DataFlow, discarding changes made in the copy.', {
      schedule: cronSchedule('Refresh on this cron schedule.'),
    }),
    refreshRequest: integer(
      'Raise this number to refresh the copy now; status.lastRefresh.request records the last one handled.',
      {
        minimum: 0,
        default: 0,
      },
    ),
    reverseSync: object(
      'Merge the copy’s changes back into its source DataFlow.',
      {
        request: integer(
          'Raise this number to merge now; status.lastReverseSync.request records the last one handled.',
          {
            minimum: 0,
            default: 0,
          },
        ),
        conflictPolicy: enumeration(
          'What to do with a file changed both in the copy and in the source since the copy was made: fail stops the merge, preferCopy or preferSource pick one side, keepBoth keeps the source’s version and stores the copy’s beside it as a conflict copy.',
          ['fail', 'preferCopy', 'preferSource', 'keepBoth'],
          { default: 'fail' },
        ),
      },
      { default: {} },
    ),
  },
  {
    rules: [
      {
        rule: '!has(self.refresh) || has(self.source.dataFlowRef)',
        message: 'refresh needs source.dataFlowRef: a Snapshot never changes',
        fieldPath: '.refresh',
      },
      {
        rule: "!has(self.thickenBandwidthLimit) || self.access == 'cache'",
        message: 'thickenBandwidthLimit applies only to access cache',
        fieldPath: '.thickenBandwidthLimit',
      },
      {
        rule: 'self.refreshRequest >= oldSelf.refreshRequest',
        message: 'refreshRequest may only go up',
        fieldPath: '.refreshRequest',
      },
      {
        rule: 'self.reverseSync.request >= oldSelf.reverseSync.request',
        message: 'reverseSync.request may only go up',
        fieldPath: '.reverseSync.request',
      },
      // Where the copy's files are may not move under them (deleting the copy removes that path).
      {
        rule: 'has(self.path) == has(oldSelf.path) && (!has(self.path) || self.path == oldSelf.path)',
        message: 'path cannot be set, changed or removed after creation',
        fieldPath: '.path',
      },
      {
        rule: 'has(self.instanceRef) == has(oldSelf.instanceRef) && (!has(self.instanceRef) || self.instanceRef.name == oldSelf.instanceRef.name)',
        message: 'instanceRef cannot be set, changed or removed after creation; create a new VirtualCopy',
        fieldPath: '.instanceRef',
      },
    ],
  },
);

const status = object('Observed state of the VirtualCopy, written by the operator.', {
  observedGeneration,
  phase: enumeration('Summary of the state.', [
    'Pending',
    'Provisioning',
    'Ready',
    'Refreshing',
    'Merging',
    'Deleting',
    'Failed',
  ]),
  conditions: describe(conditions, 'Ready, Refreshed and Merged, in the standard Kubernetes shape.'),
  base: object('The version the copy started from (or was last refreshed to).', {
    snapshot: string('Snapshot the copy is based on.'),
    rootHash: string('Merkle root of the base content.'),
  }),
  changesSinceBase: object('What was written in the copy since its base.', {
    files: integer('Files added, changed or deleted.', { minimum: 0 }),
    bytes: integer('Bytes of new or changed content.', { minimum: 0 }),
  }),
  lastRefresh: object('The last refresh.', {
    time: string('When it finished.', { format: 'date-time' }),
    request: integer('spec.refreshRequest it answered.', { minimum: 0 }),
  }),
  lastReverseSync: object('The last merge back into the source.', {
    time: string('When it finished.', { format: 'date-time' }),
    request: integer('spec.reverseSync.request it answered.', { minimum: 0 }),
    filesApplied: integer('Files written into the source.', { minimum: 0 }),
    bytesSent: integer('Bytes sent to the source.', { minimum: 0 }),
    conflicts: array(
      'Files changed on both sides, and what was done with each.',
      object('One conflicting file.', {
        path: required(string('Path of the file, relative to the DataFlow root.')),
        resolution: required(enumeration('What happened to it.', ['failed', 'keptCopy', 'keptSource', 'keptBoth'])),
        conflictCopyPath: string('With keptBoth: where the copy’s version was stored.'),
      }),
      { maxItems: 1000 },
    ),
  }),
  accessPoint: accessPointStatus,
});

export const virtualCopy: KindDefinition = {
  kind: 'VirtualCopy',
  plural: 'virtualcopies',
  singular: 'virtualcopy',
  shortNames: ['vc'],
  description:
    'A writable, point-in-time copy of a DataFlow or Snapshot, possibly at another site, that can be refreshed and merged back.',
  spec,
  status,
  printerColumns: [
    { name: 'Base', type: 'string', jsonPath: '.status.base.snapshot', description: 'Snapshot the copy is based on.' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Summary of the state.' },
    {
      name: 'Ready',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="Ready")].status',
      description: 'Ready condition.',
    },
    {
      name: 'Changed',
      type: 'integer',
      jsonPath: '.status.changesSinceBase.files',
      description: 'Files changed since the base.',
    },
  ],
};
