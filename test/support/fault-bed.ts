/**
 * The bed the sync fault tests share: two sites (east pushes one DataFlow to west) with
 * certificates from a throwaway CA and a shared key under `top`, their gateway and worker
 * configurations, `kmesh gateway` / `kmesh sync` as real processes that can be killed with SIGKILL,
 * and what an interrupted sync must never leave behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { GatewayConfigDocument } from '../../api/sync-config/gateway.js';
import type { WorkerConfigDocument } from '../../api/sync-config/worker.js';
import { CertificateAuthority } from '../../hack/pki.js';
import { REPO_ROOT } from '../../hack/tools.js';
import { loggerFor } from '../../lib/logging.js';
import { parseGatewayConfig, parseWorkerConfig } from '../../sync/config.js';
import { initCodecs } from '../../sync/engine/seal.js';
import { startGateway, type Gateway } from '../../sync/gateway/server.js';
import { loadTlsDir } from '../../sync/wire/tls.js';
import type { WorkerMetrics } from '../../sync/worker/status.js';
import { Worker } from '../../sync/worker/worker.js';
import { siteTls, writeTlsDir } from './sync.js';

export class FaultBed {
  private readonly children = new Set<ChildProcess>();

  private constructor(readonly top: string) {}

  /** Certificates for east and west, and the DataFlow's key, in a new temp directory. */
  static async create(prefix: string): Promise<FaultBed> {
    await initCodecs();
    const top = mkdtempSync(join(tmpdir(), prefix));
    const ca = await CertificateAuthority.create(`${prefix}ca`);
    writeTlsDir(join(top, 'tls/east'), await siteTls(ca, 'east'));
    writeTlsDir(join(top, 'tls/west'), await siteTls(ca, 'west'));
    writeFileSync(join(top, 'key'), randomBytes(32));
    return new FaultBed(top);
  }

  /** West's gateway serving the DataFlow from `<dir>/west`. */
  gatewayYaml(dir: string, port: number, metricsPort: number): string {
    return stringify({
      host: '127.0.0.1',
      port,
      metricsPort,
      tlsDir: join(this.top, 'tls/west'),
      dataFlows: [
        {
          name: 'ns/flow',
          treeDir: join(dir, 'west/tree'),
          stateDir: join(dir, 'west/state'),
          deletedRetention: '1h',
          peers: [{ name: 'east', direction: 'pull' }],
          encryption: { algorithm: 'aes-256-gcm', keyFile: join(this.top, 'key') },
        },
      ],
    } satisfies GatewayConfigDocument);
  }

  /** East's worker pushing `<dir>/east/tree` to the gateway at `port` (lz4, AES-256-GCM). */
  workerYaml(
    dir: string,
    port: number,
    statusPort: number,
    parallelism: number,
    extra: Partial<WorkerConfigDocument> = {},
  ): string {
    return stringify({
      ...extra,
      dataFlow: 'ns/flow',
      site: 'east',
      treeDir: join(dir, 'east/tree'),
      stateDir: join(dir, 'east/state'),
      interval: '1s',
      statusPort,
      policy: {
        compression: 'lz4',
        encryption: { algorithm: 'aes-256-gcm', keyFile: join(this.top, 'key') },
        parallelism,
      },
      peers: [
        {
          name: 'west',
          endpoint: `127.0.0.1:${port}`,
          remoteDataFlow: 'ns/flow',
          direction: 'push',
          tlsDir: join(this.top, 'tls/east'),
        },
      ],
    } satisfies WorkerConfigDocument);
  }

  /** West's gateway in this process, on a free loopback port, serving `<dir>/west`. */
  startGateway(dir: string, component: string): Promise<Gateway> {
    const config = parseGatewayConfig(this.gatewayYaml(dir, 0, 0));
    return startGateway({
      host: '127.0.0.1',
      port: 0,
      tls: loadTlsDir(config.tlsDir, 'tls'),
      dataFlows: () => config.dataFlows,
      log: loggerFor(component),
    });
  }

  /** East's worker in this process, pushing to `port`. */
  worker(
    dir: string,
    port: number,
    parallelism: number,
    component: string,
    metrics?: WorkerMetrics,
    extra: Partial<WorkerConfigDocument> = {},
  ): Worker {
    return new Worker(
      parseWorkerConfig(this.workerYaml(dir, port, 0, parallelism, extra)),
      loggerFor(component),
      metrics,
    );
  }

  /** Runs `kmesh <command> --config <config>` as a process of its own. */
  launch(command: 'sync' | 'gateway', config: string): ChildProcess {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'cmd', 'kmesh.ts'), command, '--config', config],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, KMESH_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** SIGKILL, and wait for the exit. */
  async kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Kills what is still running and removes the temp directory. */
  async close(): Promise<void> {
    await Promise.all([...this.children].map((c) => this.kill(c)));
    rmSync(this.top, { recursive: true, force: true });
  }
}

/** What a worker serves at /status (the part these tests read), or undefined while it does not answer. */
export interface FaultWorkerStatus {
  root?: string;
  peers: { root?: string; lastError?: string }[];
  transfer: Record<string, number>;
}

export async function workerStatus(port: number): Promise<FaultWorkerStatus | undefined> {
  try {
    return (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as FaultWorkerStatus;
  } catch {
    return undefined;
  }
}

/** Temp files in west's tree, or a staging or journal left in its receiver state. */
export function leftovers(west: string): string[] {
  const found: string[] = [];
  const visit = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (/\.tmp$|^\.kmesh-/.test(e.name)) found.push(join(d, e.name));
      if (e.isDirectory()) visit(join(d, e.name));
    }
  };
  visit(join(west, 'tree'));
  for (const name of ['tmp', 'journal.json'])
    if (existsSync(join(west, 'state', name))) found.push(join(west, 'state', name));
  return found;
}
