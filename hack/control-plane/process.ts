/**
 * Starting, health-checking and stopping the control-plane processes. Processes are identified by
 * pid plus their executable, so a recycled pid is never signalled by mistake.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A process we started, as recorded in the control plane's state file. */
export interface ProcessRecord {
  name: string;
  pid: number;
  executable: string;
  logPath: string;
}

/**
 * Exit status of the processes this process spawned, by pid: their 'exit' event is the truth, since
 * /proc shows the pre-exec fork of Node for a moment after spawn.
 */
const exits = new Map<number, { code: number | null; signal: NodeJS.Signals | null } | undefined>();

/** `count` distinct ports on 127.0.0.1 that were free a moment ago (all held open until all are known). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (server) =>
          new Promise<number>((resolve, reject) => {
            server.once('error', reject);
            server.listen(0, '127.0.0.1', () => {
              const address = server.address();
              if (typeof address === 'object' && address) resolve(address.port);
              else reject(new Error('no port assigned'));
            });
          }),
      ),
    );
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

export interface StartOptions {
  name: string;
  executable: string;
  args: string[];
  logPath: string;
  /**
   * true: the process outlives us (a developer's cluster, stopped by `cluster:down`).
   * false: the kernel kills it if our process dies (tests), via setpriv's parent-death signal.
   */
  detached: boolean;
  /** Network namespace (a name under /run/netns) to run in; unset: this process's own. */
  netns?: string;
}

export function startProcess(options: StartOptions): ProcessRecord {
  const log = openSync(options.logPath, 'a');
  const usePdeathsig = !options.detached && existsSync('/usr/bin/setpriv');
  // nsenter switches only the network namespace (not mounts, unlike `ip netns exec`), then execs:
  // the recorded pid is the program's own.
  const inNetns = options.netns
    ? ['/usr/bin/nsenter', `--net=/run/netns/${options.netns}`, '--', options.executable, ...options.args]
    : [options.executable, ...options.args];
  const [command, ...args] = usePdeathsig ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--', ...inNetns] : inNetns;
  const child = spawn(command!, args, { stdio: ['ignore', log, log], detached: options.detached });
  closeSync(log);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${options.name} (${options.executable})`);
  exits.set(pid, undefined);
  child.once('exit', (code, signal) => exits.set(pid, { code, signal }));
  if (options.detached) child.unref();
  return { name: options.name, pid, executable: options.executable, logPath: options.logPath };
}

/** True while `record`'s process runs (and is still the program we started under that pid). */
export function isRunning(record: ProcessRecord): boolean {
  if (exits.has(record.pid)) return exits.get(record.pid) === undefined;
  try {
    const cmdline = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8');
    const stat = readFileSync(`/proc/${record.pid}/stat`, 'utf8');
    return cmdline.includes(record.executable) && !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** The last `lines` lines of a process's log, for error messages. */
export function logTail(record: ProcessRecord, lines = 15): string {
  try {
    return readFileSync(record.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(record: ProcessRecord, graceMs = 10_000): Promise<void> {
  if (!isRunning(record)) return;
  process.kill(record.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isRunning(record) && Date.now() < deadline) await sleep(50);
  if (isRunning(record)) {
    process.kill(record.pid, 'SIGKILL');
    for (let i = 0; i < 100 && isRunning(record); i++) await sleep(20);
  }
}

/** TLS material for probing an HTTPS health endpoint. */
export interface ProbeTls {
  ca?: string;
  cert?: string;
  key?: string;
  /** Skip server verification (only for self-signed component certs on loopback). */
  insecure?: boolean;
}

/** One GET; resolves with the status code and body, or undefined when nothing answers. */
export async function probe(url: string, tls?: ProbeTls): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const onResponse = (res: IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    };
    const req = url.startsWith('https:')
      ? request(
          url,
          { ca: tls?.ca, cert: tls?.cert, key: tls?.key, rejectUnauthorized: !tls?.insecure, timeout: 2000 },
          onResponse,
        )
      : httpGet(url, { timeout: 2000 }, onResponse);
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    if (url.startsWith('https:')) req.end();
  });
}

/**
 * Polls `url` until it answers 200, the process exits, or `timeoutMs` passes; the error carries
 * the process's last log lines.
 */
export async function waitHealthy(
  record: ProcessRecord,
  url: string,
  timeoutMs: number,
  tls?: ProbeTls,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!isRunning(record)) {
      const exit = exits.get(record.pid);
      const how = exit ? ` (${exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`})` : '';
      throw new Error(`${record.name} exited during startup${how}; its log ends:\n${logTail(record)}`);
    }
    const answer = await probe(url, tls);
    if (answer?.status === 200) return;
    if (answer) last = `HTTP ${answer.status}: ${answer.body.slice(0, 300)}`;
    await sleep(100);
  }
  throw new Error(
    `${record.name} not healthy at ${url} after ${timeoutMs} ms (last: ${last}); its log ends:\n${logTail(record)}`,
  );
}
