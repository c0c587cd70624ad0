/**
 * No field is accepted and silently ignored: every spec field of every kind, read from the API
 * definitions the CRDs are generated from, is either proven to work by a named test, or reported
 * as NotSupported by api/v1alpha1/support.ts (or both, when some values work and one does not).
 * A new field with neither fails here.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JSONSchemaProps } from '../schema.js';
import { Reasons } from './conditions.js';
import { KINDS } from './index.js';
import { actedOnPeers, UNSUPPORTED_FIELDS, type UnsupportedField } from './support.js';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** How a field is covered: a test file (from the repository root) that exercises it, and/or the reason it is reported with plus a value that triggers it. */
type Coverage = { provenBy?: string; notSupported?: typeof Reasons.NotSupported; example?: unknown };

const KMI = 'test/integration/kmesh-instance.test.ts';
const DF = 'test/integration/data-flow.test.ts';
const SNAP = 'test/integration/snapshots.test.ts';
const NOT_SUPPORTED = Reasons.NotSupported;

/**
 * Every spec field, by path (`[]` for list items). A path covers the fields under it, so an
 * unsupported section is one entry.
 */
const COVERAGE: Record<string, Record<string, Coverage>> = {
  KmeshInstance: {
    'spec.location.cloud': { provenBy: 'test/integration/examples.test.ts' },
    'spec.location.region': { provenBy: 'test/integration/csi-controller.test.ts' },
    'spec.location.zone': { provenBy: 'test/integration/csi-controller.test.ts' },
    'spec.backend.type': { provenBy: KMI },
    'spec.backend.lustre.fsName': { provenBy: KMI },
    'spec.backend.lustre.nodeType': { provenBy: KMI },
    'spec.backend.lustre.mds.count': { provenBy: KMI },
    'spec.backend.lustre.mds.storage.size': { provenBy: KMI },
    'spec.backend.lustre.mds.storage.storageClassName': { provenBy: KMI },
    'spec.backend.lustre.mds.resources': { provenBy: KMI },
    'spec.backend.lustre.oss.count': { provenBy: KMI },
    'spec.backend.lustre.oss.storage.size': { provenBy: KMI },
    'spec.backend.lustre.oss.storage.storageClassName': { provenBy: KMI },
    'spec.backend.lustre.oss.resources': { provenBy: KMI },
    'spec.backend.lustre.oss.targetsPerServer': { provenBy: KMI },
    'spec.backend.lustre.backingFs': { provenBy: KMI },
    'spec.backend.lustre.atRest.compression': { provenBy: KMI },
    // Works with backingFs zfs; on ldiskfs the CRD refuses it, and an object stored before that rule is reported.
    'spec.backend.lustre.atRest.encryption': {
      provenBy: KMI,
      notSupported: NOT_SUPPORTED,
      example: { keySecretRef: { name: 'at-rest' } },
    },
    'spec.backend.lustre.ha.enabled': { provenBy: KMI },
    'spec.backend.lustre.ha.topologyKey': { provenBy: KMI },
    'spec.backend.lustre.image': { provenBy: KMI },
    'spec.backend.lustre.nodeSelector': { provenBy: KMI },
    'spec.backend.lustre.tolerations': { provenBy: KMI },
    'spec.backend.local.path': { provenBy: KMI },
    'spec.backend.local.nodeName': { provenBy: KMI },
    'spec.autoscale.enabled': { provenBy: KMI },
    'spec.autoscale.thresholdPercent': { provenBy: KMI },
    'spec.autoscale.maxOss': { provenBy: KMI },
    'spec.tiering': { notSupported: NOT_SUPPORTED, example: { target: { s3: { bucket: 'cold' } }, percent: 80 } },
    'spec.gateway.replicas': { provenBy: KMI },
    'spec.gateway.service.type': { provenBy: KMI },
    'spec.gateway.service.port': { provenBy: KMI },
    'spec.gateway.service.nodePort': { provenBy: 'operator/controllers/kmesh-instance/gateway.test.ts' },
    'spec.gateway.tlsSecretRef': { provenBy: KMI },
    'spec.workers.resources': { provenBy: DF },
    'spec.workers.maxConcurrentFlows': { notSupported: NOT_SUPPORTED, example: 4 },
  },
  DataFlow: {
    'spec.instanceRef': { provenBy: DF },
    'spec.path': { provenBy: DF },
    // async works; sync and multiMaster are reported (and the worker is not started).
    'spec.mode': { provenBy: DF, notSupported: NOT_SUPPORTED, example: 'sync' },
    'spec.peers[].name': { provenBy: DF },
    'spec.peers[].endpoint': { provenBy: DF },
    'spec.peers[].remoteDataFlow': { provenBy: DF },
    // push and pull work; bidirectional is refused by the CRD and reported for objects stored before.
    'spec.peers[].direction': { provenBy: DF, notSupported: NOT_SUPPORTED, example: 'bidirectional' },
    'spec.peers[].tlsSecretRef': { provenBy: DF },
    'spec.peers[].paths': { provenBy: DF },
    'spec.sources[].name': { provenBy: DF },
    'spec.sources[].s3': { provenBy: 'test/integration/sync-s3.test.ts' },
    'spec.sources[].azureBlob': { provenBy: 'test/integration/sync-azure.test.ts' },
    'spec.sources[].nfs': { provenBy: DF },
    'spec.sources[].pvc': { provenBy: DF },
    'spec.sources[].ingest.schedule': { provenBy: 'test/integration/sync-s3.test.ts' },
    'spec.sources[].writeBack': { provenBy: 'test/integration/sync-write-back.test.ts' },
    'spec.sources[].access': { provenBy: DF, notSupported: NOT_SUPPORTED, example: 'cache' },
    'spec.policy.compression': { provenBy: DF },
    'spec.policy.encryption': { provenBy: DF },
    // true (the default) is what the engine does; false is reported.
    'spec.policy.dedup': { provenBy: 'sync/engine/engine.test.ts', notSupported: NOT_SUPPORTED, example: false },
    'spec.policy.deleteAfterUse': { provenBy: DF },
    'spec.policy.bandwidthLimit': { provenBy: DF },
    'spec.policy.parallelism': { provenBy: 'test/integration/sync-wire.test.ts' },
    'spec.policy.deletedRetention': { provenBy: DF },
    'spec.cache': { notSupported: NOT_SUPPORTED, example: { size: '1Gi' } },
    'spec.snapshots': { notSupported: NOT_SUPPORTED, example: { retention: {} } },
    'spec.suspend': { provenBy: DF },
  },
  Snapshot: {
    'spec.dataFlowRef': { provenBy: SNAP },
    'spec.hooks': {
      notSupported: NOT_SUPPORTED,
      example: { pre: { selector: { matchLabels: { app: 'db' } }, command: ['sync'] } },
    },
    'spec.exportTo': { notSupported: NOT_SUPPORTED, example: { nfs: { server: 'nfs', path: '/exports' } } },
    'spec.deletionPolicy': { provenBy: SNAP },
  },
  VirtualCopy: {
    'spec.source.snapshotRef': { provenBy: SNAP },
    'spec.source.dataFlowRef': { provenBy: SNAP },
    'spec.instanceRef': { provenBy: SNAP },
    'spec.path': { provenBy: SNAP },
    // copy works; cache is reported (the copy is made whole).
    'spec.access': { provenBy: SNAP, notSupported: NOT_SUPPORTED, example: 'cache' },
    'spec.thickenBandwidthLimit': { notSupported: NOT_SUPPORTED, example: '50Mi' },
    'spec.refresh': { notSupported: NOT_SUPPORTED, example: { schedule: '@daily' } },
    'spec.refreshRequest': { notSupported: NOT_SUPPORTED, example: 1 },
    'spec.reverseSync.request': { notSupported: NOT_SUPPORTED, example: 1 },
    'spec.reverseSync.conflictPolicy': { notSupported: NOT_SUPPORTED, example: 'keepBoth' },
  },
};

/** A minimal valid spec of each kind that uses nothing unsupported. */
const BASE_SPECS: Record<string, Record<string, unknown>> = {
  KmeshInstance: { backend: { type: 'local', local: { path: '/srv/kmesh' } } },
  DataFlow: {
    instanceRef: { name: 'site' },
    peers: [{ name: 'west', endpoint: 'west:7443', tlsSecretRef: { name: 'tls' } }],
    sources: [{ name: 'raw', s3: { bucket: 'raw' } }],
  },
  Snapshot: { dataFlowRef: { name: 'flow' } },
  VirtualCopy: { source: { dataFlowRef: { name: 'flow' } } },
};

/** Every leaf field under `schema`, as `spec.a.b` with `[]` for list items; maps and scalar lists are leaves. */
function leaves(schema: JSONSchemaProps, path: string): string[] {
  if (schema.properties)
    return Object.entries(schema.properties).flatMap(([name, child]) => leaves(child, `${path}.${name}`));
  if (schema.type === 'array' && schema.items?.properties) return leaves(schema.items, `${path}[]`);
  return [path];
}

const covers = (entry: string, leaf: string): boolean =>
  leaf === entry || leaf.startsWith(`${entry}.`) || leaf.startsWith(`${entry}[]`);
const normalized = (path: string): string => path.replace(/\[\d+\]/g, '[]');

/** `spec` with the field at `path` (`spec.a[].b`) set to `value`; a list item is the list's first. */
function withField(spec: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(spec);
  const segments = path.replace(/^spec\./, '').split('.');
  let at: Record<string, unknown> = copy;
  segments.forEach((segment, i) => {
    const list = segment.endsWith('[]');
    const name = list ? segment.slice(0, -2) : segment;
    if (i === segments.length - 1) {
      at[name] = value;
      return;
    }
    if (list) {
      const items = (at[name] as Record<string, unknown>[] | undefined) ?? [{}];
      at[name] = items;
      at = items[0]!;
    } else {
      at[name] ??= {};
      at = at[name] as Record<string, unknown>;
    }
  });
  return copy;
}

const unsupported = (kind: string, spec: Record<string, unknown>): UnsupportedField[] =>
  (UNSUPPORTED_FIELDS[kind as keyof typeof UNSUPPORTED_FIELDS] as (spec: unknown) => UnsupportedField[])(spec);

describe.each(KINDS.map((k) => [k.kind, k] as const))('every spec field of %s', (kind, definition) => {
  const table = COVERAGE[kind]!;
  const fields = leaves(definition.spec, 'spec');
  const entries = Object.entries(table);

  it('is in the coverage table', () => {
    expect(fields.filter((leaf) => !entries.some(([entry]) => covers(entry, leaf)))).toEqual([]);
  });

  it('has no table entry for a field the API does not have', () => {
    expect(entries.map(([entry]) => entry).filter((entry) => !fields.some((leaf) => covers(entry, leaf)))).toEqual([]);
  });

  it.each(entries)('%s is proven by a test that names it, or reported as NotSupported', (entry, coverage) => {
    expect(coverage.provenBy ?? coverage.notSupported).toBeDefined();
    if (coverage.provenBy) {
      const file = join(REPO_ROOT, coverage.provenBy);
      expect([coverage.provenBy, existsSync(file)]).toEqual([coverage.provenBy, true]);
      const name = entry.split('.').at(-1)!.replace('[]', '');
      expect([coverage.provenBy, name, readFileSync(file, 'utf8').includes(name)]).toEqual([
        coverage.provenBy,
        name,
        true,
      ]);
    }
    if (coverage.notSupported) {
      expect(coverage.notSupported).toBe(Reasons.NotSupported);
      const reported = unsupported(kind, withField(BASE_SPECS[kind]!, entry, coverage.example)).map((f) =>
        normalized(f.path),
      );
      expect([entry, reported]).toEqual([entry, [entry]]);
    }
  });

  it('reports nothing for a spec that sets only supported fields', () => {
    expect(unsupported(kind, BASE_SPECS[kind]!)).toEqual([]);
  });

  it('reports only fields the table marks NotSupported, each with a message', () => {
    const everything = entries
      .filter(([, c]) => c.notSupported)
      .reduce((spec, [entry, c]) => withField(spec, entry, c.example), BASE_SPECS[kind]!);
    const reported = unsupported(kind, everything);
    expect(reported.map((f) => normalized(f.path)).sort()).toEqual(
      entries
        .filter(([, c]) => c.notSupported)
        .map(([entry]) => entry)
        .sort(),
    );
    for (const field of reported) expect(field.message.length).toBeGreaterThan(10);
  });
});

describe('peers the data plane acts on', () => {
  it('leaves out a bidirectional peer (reported as NotSupported) and keeps push and pull ones', () => {
    const tlsSecretRef = { name: 'tls' };
    const spec = {
      instanceRef: { name: 'site' },
      peers: [
        { name: 'a', endpoint: 'a:7443', direction: 'push' as const, tlsSecretRef },
        { name: 'b', endpoint: 'b:7443', direction: 'bidirectional' as const, tlsSecretRef },
        { name: 'c', endpoint: 'c:7443', direction: 'pull' as const, tlsSecretRef },
        { name: 'd', endpoint: 'd:7443', tlsSecretRef },
      ],
    };
    expect(actedOnPeers(spec).map((p) => p.name)).toEqual(['a', 'c', 'd']);
  });
});
