/**
 * `kmesh operator` as real processes: leader election between two of them, a leader killed with
 * SIGKILL, a graceful SIGTERM, and a process killed in the middle of a reconcile.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { KmeshInstance } from '../../api/v1alpha1/index.js';
import { freePorts } from '../../hack/control-plane/process.js';
import { REPO_ROOT } from '../../hack/tools.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import type { KubeClient } from '../../lib/kube/rest.js';
import { type WireObject } from '../../lib/kube/rest.js';
import { createNamespace, deleteNamespace, installCrds, testClient } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { installOperatorRbac, OPERATOR_NAMESPACE, OPERATOR_USER } from '../support/operator.js';

const LEASE_DURATION_MS = 4000;
const RETRY_PERIOD_MS = 500;

interface OperatorProcess {
  identity: string;
  port: number;
  child: ChildProcess;
  output: string[];
}

let client: KubeClient;
let namespace: string;
const started: OperatorProcess[] = [];

async function launch(identity: string, leaseName: string): Promise<OperatorProcess> {
  const [port] = await freePorts(1);
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(REPO_ROOT, 'cmd', 'kmesh.ts'),
      'operator',
      `--kubeconfig=${process.env['KUBECONFIG']}`,
      `--watch-namespace=${namespace}`,
      `--impersonate=${OPERATOR_USER}`,
      `--health-port=${port}`,
      `--identity=${identity}`,
      `--leader-election-namespace=${OPERATOR_NAMESPACE}`,
      `--leader-election-id=${leaseName}`,
      `--lease-duration=${LEASE_DURATION_MS}`,
      '--renew-deadline=3000',
      `--retry-period=${RETRY_PERIOD_MS}`,
      '--lustre-image=kmesh.test/lustre-server:2.15',
    ],
    { cwd: REPO_ROOT, env: { ...process.env, KMESH_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const operator = { identity, port: port!, child, output: [] as string[] };
  child.stdout.on('data', (chunk: Buffer) => operator.output.push(chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => operator.output.push(chunk.toString()));
  started.push(operator);
  return operator;
}

/** One Prometheus sample of the operator's /metrics (sum over label sets), or undefined before it serves. */
async function metric(operator: OperatorProcess, name: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${operator.port}/metrics`)).text();
    const values = text
      .split('\n')
      .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
      .map((l) => Number(l.split(' ').pop()));
    return values.length ? values.reduce((a, b) => a + b, 0) : undefined;
  } catch {
    return undefined;
  }
}

async function leaseHolder(name: string): Promise<string | undefined> {
  const lease = await client.get<WireObject & { spec?: { holderIdentity?: string } }>(
    RESOURCES.lease,
    OPERATOR_NAMESPACE,
    name,
  );
  return lease?.spec?.holderIdentity || undefined;
}

async function stop(operator: OperatorProcess, signal: NodeJS.Signals): Promise<number | null> {
  if (operator.child.exitCode !== null || operator.child.signalCode !== null) return operator.child.exitCode;
  const exited = once(operator.child, 'exit');
  operator.child.kill(signal);
  const [code, how] = (await exited) as [number | null, NodeJS.Signals | null];
  if (code !== 0 && how !== signal)
    console.log(`${operator.identity} exited with ${code ?? how}:\n${operator.output.join('').slice(-3000)}`);
  return code;
}

const localInstance = (name: string): WireObject => ({
  apiVersion: 'kmesh.io/v1alpha1',
  kind: 'KmeshInstance',
  metadata: { name, namespace },
  spec: { backend: { type: 'local', local: { path: `/var/lib/kmesh/${name}` } } },
});

async function reconciledBy(name: string): Promise<string> {
  return eventually(async () => {
    const events = await client.list<WireObject & { reportingInstance?: string; regarding?: { name?: string } }>(
      RESOURCES.event,
      { namespace },
    );
    const instance = await client.get<KmeshInstance>(RESOURCES.kmeshInstance, namespace, name);
    expect(instance?.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    const reporters = new Set(events.items.filter((e) => e.regarding?.name === name).map((e) => e.reportingInstance));
    expect(reporters.size).toBe(1);
    return [...reporters][0]!;
  }, 30_000);
}

beforeAll(async () => {
  client = testClient();
  await installCrds(client);
  await installOperatorRbac(client);
  namespace = await createNamespace(client, 'op');
});

afterAll(async () => {
  for (const operator of started) await stop(operator, 'SIGKILL');
  await deleteNamespace(client, namespace);
  client?.close();
});

describe('kmesh operator processes', () => {
  it('elect one leader that alone reconciles; a killed leader is replaced within the lease duration', async () => {
    const lease = `kmesh-operator-${namespace}`;
    const a = await launch('operator-a', lease);
    const b = await launch('operator-b', lease);
    const holder = await eventually(async () => {
      const name = await leaseHolder(lease);
      expect(['operator-a', 'operator-b']).toContain(name);
      return name!;
    }, 30_000);
    const [leader, standby] = holder === 'operator-a' ? [a, b] : [b, a];
    await eventually(async () => {
      expect(await metric(leader, 'leader_election_master_status')).toBe(1);
      expect(await metric(standby, 'leader_election_master_status')).toBe(0);
    }, 30_000);

    // Both answer health checks; both are ready (a standby must not hold up a rollout).
    for (const operator of [leader, standby]) {
      for (const path of ['/healthz', '/readyz']) {
        await eventually(async () =>
          expect([path, (await fetch(`http://127.0.0.1:${operator.port}${path}`)).status]).toEqual([path, 200]),
        );
      }
    }

    await client.create(RESOURCES.kmeshInstance, localInstance('first'));
    expect(await reconciledBy('first')).toBe(leader.identity);
    expect(await metric(standby, 'controller_runtime_reconcile_total')).toBeUndefined();

    // SIGKILL: no chance to release the lease; the standby must wait it out, and no longer.
    await stop(leader, 'SIGKILL');
    const killedAt = Date.now();
    await eventually(async () => expect(await leaseHolder(lease)).toBe(standby.identity), 30_000, 50);
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThanOrEqual(LEASE_DURATION_MS + 2 * RETRY_PERIOD_MS + 1000);
    await client.create(RESOURCES.kmeshInstance, localInstance('second'));
    expect(await reconciledBy('second')).toBe(standby.identity);

    // SIGTERM: a clean exit that hands the lease back at once.
    expect(await stop(standby, 'SIGTERM')).toBe(0);
    expect(await leaseHolder(lease)).toBeUndefined();
  });

  it('converges without duplicates after being killed in the middle of a reconcile', async () => {
    const lease = `kmesh-operator-crash-${namespace}`;
    const first = await launch('crash-1', lease);
    await eventually(async () => expect(await leaseHolder(lease)).toBe('crash-1'), 30_000);
    await client.create(RESOURCES.kmeshInstance, {
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'KmeshInstance',
      metadata: { name: 'crash', namespace },
      spec: { backend: { type: 'lustre', lustre: { fsName: 'crash', oss: { count: 3 } } } },
    });
    // Kill it as soon as the first child exists: the rest of that reconcile never happens.
    await eventually(
      async () => {
        const services = await client.list(RESOURCES.service, {
          namespace,
          labelSelector: 'app.kubernetes.io/instance=crash',
        });
        expect(services.items.length).toBeGreaterThan(0);
      },
      30_000,
      5,
    );
    await stop(first, 'SIGKILL');

    const second = await launch('crash-2', lease);
    // The first may have finished that reconcile before the kill: wait until the second leads and has reconciled.
    await eventually(async () => {
      expect(await leaseHolder(lease)).toBe('crash-2');
      expect(await metric(second, 'controller_runtime_reconcile_total')).toBeGreaterThanOrEqual(1);
    }, 30_000);
    await eventually(async () => {
      const instance = await client.get<KmeshInstance>(RESOURCES.kmeshInstance, namespace, 'crash');
      expect(instance?.status?.conditions?.find((c) => c.type === 'Reconciled')?.status).toBe('True');
    }, 30_000);
    const owned = async (type: (typeof RESOURCES)[keyof typeof RESOURCES]): Promise<string[]> =>
      (await client.list(type, { namespace, labelSelector: 'app.kubernetes.io/instance=crash' })).items
        .map((o) => o.metadata!.name!)
        .sort();
    expect(await owned(RESOURCES.statefulSet)).toEqual(['crash-mds', 'crash-oss']);
    expect(await owned(RESOURCES.service)).toEqual(['crash-mds', 'crash-oss']);
    const instance = await client.get<KmeshInstance>(RESOURCES.kmeshInstance, namespace, 'crash');
    expect(instance?.metadata.finalizers).toEqual(['kmesh.io/kmeshinstance']);
    expect(await stop(second, 'SIGTERM')).toBe(0);
  });
});
