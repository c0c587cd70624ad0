/**
 * The one way tests wait: after an action, anything another process produces (the operator, the
 * API server's controllers, a kubelet, a worker) appears later on a loaded machine, so a test
 * polls for it with a bound instead of reading it once.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Retries `check` until it stops throwing, or rethrows its last error after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(intervalMs);
    }
  }
}
