/**
 * `kmesh sync --config <file>` (the worker of one DataFlow) and `kmesh gateway --config <file>`
 * (the receiving side of an instance). Both read their configuration (a bad field ends the
 * process naming it), serve /metrics, /healthz, /readyz (and the worker /status), and stop on
 * SIGTERM.
 */
import { readFileSync, statSync } from 'node:fs';
import { startHealthServer } from '../lib/health-server.js';
import { filesystemCapacity } from './gateway/capacity.js';
import { loggerFor } from '../lib/logging.js';
import { flagHelp, parseFlags, UsageError, type FlagSpec, type FlagSpecs } from '../lib/flags.js';
import { parseGatewayConfig, parseWorkerConfig, SyncConfigError } from './config.js';
import { initCodecs } from './engine/seal.js';
import { GatewayMetrics } from './gateway/metrics.js';
import { startGateway } from './gateway/server.js';
import { loadTlsDir, watchTlsDir } from './wire/tls.js';
import { WorkerMetrics } from './worker/status.js';
import { Worker } from './worker/worker.js';

const WORKER_FLAGS = {
  config: { help: 'the worker configuration (YAML), as the operator renders it' },
  once: {
    type: 'boolean',
    help: 'one pass, its status as JSON on stdout, then exit (1 unless every peer got the version)',
  },
} satisfies FlagSpecs;
const GATEWAY_FLAGS = { config: WORKER_FLAGS.config } satisfies FlagSpecs;

/** The flags of `kmesh <command>`, or undefined after printing its help; throws UsageError. */
function commandFlags<F extends { config: FlagSpec }>(
  command: string,
  flags: F,
  argv: string[],
): { config: string; given: (name: keyof F & string) => boolean } | undefined {
  const parsed = parseFlags(flags, argv);
  if (parsed.help) {
    console.log(flagHelp(`usage: kmesh ${command} --config <file>`, flags));
    return undefined;
  }
  const config = parsed.value('config');
  if (!config) throw new UsageError(`--config is required (usage: kmesh ${command} --config <file>)`);
  return { config, given: parsed.given };
}

function stopSignal(): AbortSignal {
  const abort = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => abort.abort());
  return abort.signal;
}

async function guarded(command: string, body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return 0;
  } catch (error) {
    console.error(`kmesh ${command}: ${(error as Error).message}`);
    return error instanceof SyncConfigError || error instanceof UsageError ? 2 : 1;
  }
}

/** `--once`: one pass, its status (plus `passSeconds`) as JSON on stdout, exit 1 unless every peer got the version (manual runs, benchmarks). */
export function workerMain(argv: string[]): Promise<number> {
  let failed = false;
  return guarded('sync', async () => {
    const flags = commandFlags('sync', WORKER_FLAGS, argv);
    if (!flags) return;
    const config = parseWorkerConfig(readFileSync(flags.config, 'utf8'));
    await initCodecs();
    const metrics = new WorkerMetrics();
    const worker = new Worker(config, loggerFor('sync-worker', { object: config.dataFlow }), metrics);
    if (flags.given('once')) {
      const started = performance.now();
      failed = !(await worker.pass());
      // passSeconds: the pass alone, as a running worker spends it (no process start, index already loaded).
      console.log(JSON.stringify({ ...worker.status(), passSeconds: Math.round(performance.now() - started) / 1000 }));
      return;
    }
    const health = await startHealthServer({
      port: config.statusPort,
      registry: metrics.registry,
      ready: () => true,
      routes: { '/status': () => worker.status() },
    });
    await worker.run(stopSignal());
    await health.close();
  }).then((code) => (code === 0 && failed ? 1 : code));
}

export function gatewayMain(argv: string[]): Promise<number> {
  return guarded('gateway', async () => {
    const flags = commandFlags('gateway', GATEWAY_FLAGS, argv);
    if (!flags) return;
    const path = flags.config;
    let config = parseGatewayConfig(readFileSync(path, 'utf8'));
    let loadedMtime = statSync(path).mtimeMs;
    const log = loggerFor('sync-gateway');
    // The operator updates the ConfigMap as DataFlows come and go; re-read it when it changes.
    const dataFlows = () => {
      const mtime = statSync(path).mtimeMs;
      if (mtime !== loadedMtime) {
        try {
          config = { ...config, dataFlows: parseGatewayConfig(readFileSync(path, 'utf8')).dataFlows };
          loadedMtime = mtime;
        } catch (error) {
          log.error({ err: (error as Error).message }, 'new configuration refused; keeping the previous one');
        }
      }
      return config.dataFlows;
    };
    await initCodecs();
    const metrics = new GatewayMetrics();
    const gateway = await startGateway({
      host: config.host,
      port: config.port,
      tls: loadTlsDir(config.tlsDir, 'config.tlsDir'),
      dataFlows,
      log,
      metrics,
    });
    // A renewed certificate (kmesh certs site | kubectl apply, or cert-manager) reaches the mounted
    // Secret in place; new connections get it without a restart.
    const stopWatchingTls = watchTlsDir(
      config.tlsDir,
      'config.tlsDir',
      (tls) => {
        gateway.setTls(tls);
        log.info({ tlsDir: config.tlsDir }, 'serving the renewed certificate');
      },
      (error) =>
        log.error(
          { err: error.message },
          'the TLS Secret changed but cannot be used; keeping the previous certificate',
        ),
    );
    const filesystem = config.filesystem;
    const health = await startHealthServer({
      port: config.metricsPort,
      registry: metrics.registry,
      ready: () => true,
      routes: filesystem ? { '/capacity': () => filesystemCapacity(filesystem) } : {},
    });
    const signal = stopSignal();
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    stopWatchingTls();
    await gateway.close();
    await health.close();
  });
}
