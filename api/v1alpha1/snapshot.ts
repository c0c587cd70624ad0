/** Snapshot: a point-in-time, read-only, space-efficient copy of a DataFlow (docs/architecture.md#snapshot). */
import { boolean, describe, enumeration, integer, object, required, string } from '../schema.js';
import { conditions, localRef, observedGeneration, snapshotHooks, storeTarget } from './common.js';
import type { KindDefinition } from './kind.js';

const spec = object(
  'Desired state of the Snapshot. A Snapshot is immutable: to take another, create another.',
  {
    dataFlowRef: required(localRef('DataFlow', 'The DataFlow to snapshot.')),
    hooks: snapshotHooks,
    exportTo: storeTarget('Also copy the snapshot’s files to this external store once it is taken.', { nfs: true }),
    deletionPolicy: enumeration(
      'Delete removes the retained data when this object is deleted; Retain keeps it (and any export) for recovery by hand.',
      ['Delete', 'Retain'],
      { default: 'Delete' },
    ),
  },
  {
    rules: [
      {
        rule: 'self == oldSelf',
        message: 'a Snapshot is immutable; create a new Snapshot instead of changing this one',
      },
    ],
  },
);

const status = object('Observed state of the Snapshot, written by the operator.', {
  observedGeneration,
  readyToUse: boolean('The snapshot is complete and can be read, exported or copied from.'),
  creationTime: string('Moment the snapshot captures.', { format: 'date-time' }),
  rootHash: string('Merkle root of the snapshot’s manifest: equal roots mean identical content.'),
  fileCount: integer('Files in the snapshot.', { minimum: 0 }),
  logicalBytes: integer('Bytes of file content the snapshot holds.', { minimum: 0 }),
  uniqueBytes: integer('Bytes of chunks this snapshot added that no older snapshot or live data shares.', {
    minimum: 0,
  }),
  export: object('Progress of the copy to spec.exportTo.', {
    phase: enumeration('State of the export.', ['Pending', 'Running', 'Completed', 'Failed']),
    target: string('Where the snapshot is exported to, as a URL.'),
    bytesDone: integer('Bytes exported so far.', { minimum: 0 }),
    bytesTotal: integer('Bytes to export in all.', { minimum: 0 }),
    completionTime: string('When the export finished.', { format: 'date-time' }),
    message: string('Details, e.g. the error of a failed export.'),
  }),
  conditions: describe(conditions, 'Ready and Exported, in the standard Kubernetes shape.'),
});

export const snapshot: KindDefinition = {
  kind: 'Snapshot',
  plural: 'snapshots',
  singular: 'snapshot',
  shortNames: ['ksnap'],
  description:
    'A point-in-time, read-only, space-efficient copy of a DataFlow: a retained merkle manifest whose chunks are shared with the live data.',
  spec,
  status,
  printerColumns: [
    {
      name: 'DataFlow',
      type: 'string',
      jsonPath: '.spec.dataFlowRef.name',
      description: 'DataFlow the snapshot was taken of.',
    },
    { name: 'Ready', type: 'boolean', jsonPath: '.status.readyToUse', description: 'The snapshot can be used.' },
    { name: 'Files', type: 'integer', jsonPath: '.status.fileCount', description: 'Files in the snapshot.' },
    { name: 'Unique', type: 'integer', jsonPath: '.status.uniqueBytes', description: 'Bytes this snapshot added.' },
    {
      name: 'Root',
      type: 'string',
      jsonPath: '.status.rootHash',
      priority: 1,
      description: 'Merkle root of the content.',
    },
  ],
};
