/**
 * The kubelet's cgroups. Each cluster of this machine gives its kubelet a cgroupRoot of its own, so
 * two kubelets never see (and clean up) each other's pods; pods live in `<cgroupRoot>/kubepods`.
 * `killPods` ends them all, even after the kubelet died: their processes outlive containerd.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sigkill } from './cleanup.js';

const CGROUP_FS = '/sys/fs/cgroup';
/** The kubelet puts every pod under this cgroup (cgroupsPerQOS). */
const KUBEPODS = 'kubepods';

/** `relative` in every hierarchy: the one of a v2 mount, or one per v1 hierarchy. */
function inEveryHierarchy(relative: string): string[] {
  if (existsSync(join(CGROUP_FS, 'cgroup.controllers'))) return [join(CGROUP_FS, relative)];
  return (existsSync(CGROUP_FS) ? readdirSync(CGROUP_FS) : []).map((hierarchy) => join(CGROUP_FS, hierarchy, relative));
}

/**
 * Makes the kubelet's cgroupRoot (it must exist before the kubelet starts). In a v1 cpuset
 * hierarchy a new cgroup has no CPUs or memory nodes until given its parent's.
 */
export function createCgroupRoot(cgroupRoot: string): void {
  if (cgroupRoot === '/') return;
  for (const dir of inEveryHierarchy(cgroupRoot)) {
    mkdirSync(dir, { recursive: true });
    for (const file of ['cpuset.cpus', 'cpuset.mems'])
      if (existsSync(join(dir, file)) && readFileSync(join(dir, file), 'utf8').trim() === '')
        writeFileSync(join(dir, file), readFileSync(join(dir, '..', file), 'utf8'));
  }
}

/** Directories under `dir` (itself included), deepest first. */
function treeDeepestFirst(dir: string): string[] {
  const out: string[] = [];
  const walk = (current: string): void => {
    let entries: string[] = [];
    try {
      entries = readdirSync(current, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return;
    }
    for (const entry of entries) walk(join(current, entry));
    out.push(current);
  };
  walk(dir);
  return out;
}

function pidsIn(cgroup: string): number[] {
  try {
    return readFileSync(join(cgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** SIGKILLs every process in the kubelet's pod cgroups, then removes them (and a cgroupRoot of its own). */
export async function killPods(cgroupRoot: string): Promise<void> {
  const top = cgroupRoot === '/' ? KUBEPODS : join(cgroupRoot, KUBEPODS);
  const cgroups = inEveryHierarchy(top)
    .filter((dir) => existsSync(dir))
    .flatMap(treeDeepestFirst);
  for (let round = 0; round < 100; round++) {
    const pids = cgroups.flatMap(pidsIn);
    if (pids.length === 0) break;
    pids.forEach(sigkill);
    await sleep(100);
  }
  const roots = cgroupRoot === '/' ? [] : inEveryHierarchy(cgroupRoot).filter((dir) => existsSync(dir));
  for (const cgroup of [...cgroups, ...roots.flatMap(treeDeepestFirst)]) {
    try {
      rmdirSync(cgroup);
    } catch {
      // still busy or already removed; the next `down` tries again
    }
  }
}
