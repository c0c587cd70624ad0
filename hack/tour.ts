/** What the demos print: numbered steps, the kubectl commands a user would type and their output. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterState } from './cluster/cluster.js';
import { kubectl } from './cluster/kmesh-release.js';

export function step(title: string, what: string): void {
  console.log(`\n\x1b[1m== ${title}\x1b[0m\n${what}\n`);
}

/** Runs kubectl against `state`'s cluster and prints the command and its output. */
export async function show(state: ClusterState, ...args: string[]): Promise<void> {
  console.log(`$ kubectl ${args.join(' ')}`);
  console.log((await kubectl(state, ...args)).trimEnd());
}

/** Polls until `done` (bounded: a demo must never hang). */
export async function until(what: string, done: () => Promise<boolean>, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${timeoutMs / 1000} s`);
    await sleep(1000);
  }
}
