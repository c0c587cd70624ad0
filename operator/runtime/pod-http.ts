/**
 * Reading what a component's pod serves over HTTP (a sync worker's /status, a gateway's
 * /capacity): from the first Running pod not being deleted, at its pod IP, with a short timeout.
 */
import type { WireObject } from '../../lib/kube/rest.js';

type Pod = WireObject & { status?: { phase?: string; podIP?: string }; metadata?: { deletionTimestamp?: string } };

const TIMEOUT_MS = 2000;

/** The parsed JSON answer; undefined when no pod runs, it does not answer in time, or answers an error. */
export async function readFromPod(pods: WireObject[], port: number, path: string): Promise<unknown> {
  const pod = (pods as Pod[]).find(
    (p) => p.status?.phase === 'Running' && p.status.podIP && !p.metadata?.deletionTimestamp,
  );
  if (!pod) return undefined;
  const ip = pod.status!.podIP!;
  const host = ip.includes(':') ? `[${ip}]` : ip;
  try {
    const response = await fetch(`http://${host}:${port}${path}`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    return response.ok ? await response.json() : undefined;
  } catch {
    return undefined;
  }
}
