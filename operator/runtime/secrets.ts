/**
 * Whether a Secret a spec names exists. The operator may get Secrets, not watch them, and every
 * reconcile would otherwise ask again: a Secret seen to exist is trusted for a while without
 * another GET. A deleted Secret is noticed that much later; pods keep their mounted copy meanwhile.
 */
import type { KubeClient } from '../../lib/kube/rest.js';
import { RESOURCES } from '../../lib/kube/resources.js';

const SEEN_TTL_MS = 30_000;

export class SecretChecker {
  /** namespace/name → when the Secret was last seen (ms since the epoch). A cache only. */
  private readonly seen = new Map<string, number>();

  async exists(client: KubeClient, namespace: string, name: string): Promise<boolean> {
    const key = `${namespace}/${name}`;
    const at = this.seen.get(key);
    if (at !== undefined && Date.now() - at < SEEN_TTL_MS) return true;
    const exists = (await client.get(RESOURCES.secret, namespace, name)) !== undefined;
    if (exists) this.seen.set(key, Date.now());
    else this.seen.delete(key);
    return exists;
  }
}
