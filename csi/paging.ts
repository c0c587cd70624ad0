/**
 * Paging for ListVolumes and ListSnapshots: entries in a stable order (by ID), and a token that is
 * the offset of the next page. A token we did not hand out is ABORTED, as the CSI spec asks.
 */
import { aborted, invalidArgument } from '../lib/errors.js';

export interface Page<T> {
  entries: T[];
  next_token: string;
}

export function pageOf<T>(
  sorted: readonly T[],
  maxEntries: number | undefined,
  startingToken: string | undefined,
): Page<T> {
  if (maxEntries !== undefined && maxEntries < 0) throw invalidArgument('max_entries must not be negative');
  let start = 0;
  if (startingToken) {
    if (!/^[0-9]{1,9}$/.test(startingToken) || Number(startingToken) > sorted.length)
      throw aborted(`starting_token "${startingToken.slice(0, 64)}" is not one this plugin handed out`);
    start = Number(startingToken);
  }
  const end = maxEntries ? Math.min(sorted.length, start + maxEntries) : sorted.length;
  return { entries: sorted.slice(start, end), next_token: end < sorted.length ? String(end) : '' };
}
