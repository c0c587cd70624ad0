/**
 * The capacity of the filesystem a gateway mounts, served at /capacity. The operator reads it from
 * the running gateway pod and keeps it in the instance's report ConfigMap, from which
 * KmeshInstance.status.capacity, the CapacityReported condition and Lustre autoscaling follow.
 */
import { statfsSync } from 'node:fs';

export interface CapacityReport {
  totalBytes: number;
  usedBytes: number;
  /** RFC 3339 time of the measurement. */
  reportedAt: string;
}

export function filesystemCapacity(dir: string, now = new Date()): CapacityReport {
  const fs = statfsSync(dir);
  const totalBytes = fs.blocks * fs.bsize;
  return { totalBytes, usedBytes: totalBytes - fs.bfree * fs.bsize, reportedAt: now.toISOString() };
}
