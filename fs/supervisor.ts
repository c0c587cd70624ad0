/**
 * The process that owns a mount: it mounts, holds the /dev/fuse descriptor, and runs the server
 * (`kmesh fs serve`) as a child that inherits it. The kernel connection lives as long as some
 * process holds the descriptor, so when the server dies (a crash, an OOM kill, an upgrade) the
 * mount stays: the supervisor starts another server on the same descriptor, which rebuilds the
 * node table from its log and gets the unanswered requests resent (fs/serve.ts). Applications see
 * a pause, not "transport endpoint is not connected".
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../lib/logging.js';
import { mountFuse, unmountFuse } from './device.js';

export interface SuperviseOptions {
  root: string;
  mountpoint: string;
  /** The servers' state (node log, what INIT settled); emptied at mount, removed once unmounted. */
  stateDir: string;
  journal?: string;
  /** Serve a cached copy of this directory (`--cache-of`), with these `--cache-*` flags. */
  cacheOf?: string;
  cacheArgs?: string[];
  /** Serve a cached copy of another site's DataFlow (`--cache-config`). */
  cacheConfig?: string;
  passthrough: boolean;
  source?: string;
  log: Logger;
  /** How to run this executable (`[node, ...execArgv, script]`). */
  command: string[];
  /** More crashes than this within a minute (default 10): give up, unmount, exit 1. */
  maxRestartsPerMinute?: number;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export async function superviseMount(options: SuperviseOptions): Promise<number> {
  const { log } = options;
  rmSync(options.stateDir, { recursive: true, force: true });
  mkdirSync(options.stateDir, { recursive: true });
  const fd = await mountFuse(options.mountpoint, options.source ?? 'kmesh');
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // The server then reads ENODEV and exits 0.
    unmountFuse(options.mountpoint).catch((err: unknown) => log.error({ err }, 'unmount failed'));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  const crashes: number[] = [];
  let resume = false;
  for (;;) {
    const exit = await runServer(options, fd, resume);
    if (exit.code === 0 || stopping) {
      // The connection is gone: nothing will take it over, so its state goes too.
      rmSync(options.stateDir, { recursive: true, force: true });
      return 0;
    }
    const now = Date.now();
    crashes.push(now);
    while (crashes.length && crashes[0]! < now - 60_000) crashes.shift();
    if (crashes.length > (options.maxRestartsPerMinute ?? 10)) {
      log.error({ crashes: crashes.length }, 'the server keeps dying; unmounting');
      await unmountFuse(options.mountpoint).catch(() => undefined);
      return 1;
    }
    log.warn({ ...exit, restart: crashes.length }, 'the server died; starting another on the same connection');
    resume = true;
    await sleep(Math.min(100 * 2 ** (crashes.length - 1), 2000));
  }
}

function runServer(options: SuperviseOptions, fd: number, resume: boolean): Promise<Exit> {
  const [command, ...prefix] = options.command;
  const args = [
    ...prefix,
    'fs',
    'serve',
    '--fd=3',
    `--root=${options.root}`,
    `--mountpoint=${options.mountpoint}`,
    `--state-dir=${options.stateDir}`,
    ...(options.journal ? [`--journal=${options.journal}`] : []),
    ...(options.cacheOf ? [`--cache-of=${options.cacheOf}`, ...(options.cacheArgs ?? [])] : []),
    ...(options.cacheConfig ? [`--cache-config=${options.cacheConfig}`] : []),
    ...(options.passthrough ? [] : ['--no-passthrough']),
    ...(resume ? ['--resume'] : []),
  ];
  return new Promise((resolve) => {
    const child = spawn(command!, args, { stdio: ['ignore', 'inherit', 'inherit', fd] });
    child.on('error', (err) => {
      options.log.error({ err }, 'could not start the server');
      resolve({ code: 127, signal: null });
    });
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
}
