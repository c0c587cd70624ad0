/** One CSI call per volume at a time: a second call while one runs gets ABORTED, as the spec asks. */
import { aborted } from '../lib/errors.js';

export class VolumeLocks {
  /** Volume names or IDs with a call in progress. */
  private readonly busy = new Set<string>();

  /** Runs `work` holding `key`; throws ABORTED when another call holds it. */
  async exclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
    if (this.busy.has(key)) throw aborted(`an operation on volume ${key} is already in progress`);
    this.busy.add(key);
    try {
      return await work();
    } finally {
      this.busy.delete(key);
    }
  }
}
