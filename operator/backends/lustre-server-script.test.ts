/**
 * Runs the Lustre server script in a real shell with fake mkfs.lustre, tunefs.lustre, mount and
 * getent on PATH (no test machine has Lustre kernel modules), and checks the commands it runs.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LUSTRE_SERVER_SCRIPT } from './lustre-server-script.js';

let dir: string;

function fake(name: string, body: string): void {
  const path = join(dir, 'bin', name);
  writeFileSync(path, `#!/bin/sh\necho "${name} $*" >> "$CALLS"\n${body}\n`);
  chmodSync(path, 0o755);
}

/** Runs the script until it would wait forever (a fake `sleep` ends it) and returns the calls made. */
function run(env: Record<string, string>, formatted: string[] = []): string[] {
  writeFileSync(join(dir, 'formatted'), formatted.join('\n') + '\n');
  const result = spawnSync('/bin/sh', ['-c', LUSTRE_SERVER_SCRIPT.replaceAll('/mnt/lustre', join(dir, 'mnt'))], {
    env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, CALLS: join(dir, 'calls'), STATE: dir, ...env },
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (result.status !== 0) throw new Error(`script failed (${result.status}): ${result.stderr}`);
  return readFileSync(join(dir, 'calls'), 'utf8')
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('sleep') && !l.startsWith('umount'));
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kmesh-lustre-script-'));
  spawnSync('mkdir', ['-p', join(dir, 'bin')]);
  fake('tunefs.lustre', 'for a in "$@"; do last=$a; done; grep -qx "$last" "$STATE/formatted"');
  fake('mkfs.lustre', 'true');
  fake('mount', 'true');
  fake('umount', 'true');
  // x-oss-<n>.<service> resolves to 10.0.0.<n>, so each pod has its own address.
  fake('getent', 'echo "10.0.0.$(echo "$2" | sed "s/^[^.]*-\\([0-9]*\\)\\..*/\\1/") $2"');
  // The script idles in `sleep 3600 & wait`; ending the fake sleep with a signal to the shell stops it.
  fake('sleep', 'kill -TERM $PPID');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const BASE = { FSNAME: 'kmfs', BACKFS: 'ldiskfs', HA: 'false', SERVICE: 'x-oss.ns.svc.cluster.local' };

describe('the Lustre server script', () => {
  it('formats an unformatted MDT once with index = ordinal, then mounts it; only MDT0 is the MGS', () => {
    const first = run({
      ...BASE,
      ROLE: 'mds',
      TARGETS: '1',
      STATEFULSET: 'x-mds',
      HOSTNAME: 'x-mds-0',
      MGS_NIDS: 'x-mds-0.x-mds@tcp',
    });
    expect(first).toEqual([
      'tunefs.lustre --dryrun /dev/kmesh/mdt0',
      'mkfs.lustre --fsname=kmfs --backfstype=ldiskfs --mgs --mdt --index=0 /dev/kmesh/mdt0',
      `mount -t lustre /dev/kmesh/mdt0 ${join(dir, 'mnt')}/mdt0`,
    ]);
    const second = run({
      ...BASE,
      ROLE: 'mds',
      TARGETS: '1',
      STATEFULSET: 'x-mds',
      HOSTNAME: 'x-mds-1',
      MGS_NIDS: 'x-mds-0.x-mds@tcp',
    });
    expect(second.slice(first.length)).toEqual([
      // the log of calls goes on from the first run
      'tunefs.lustre --dryrun /dev/kmesh/mdt0',
      'mkfs.lustre --fsname=kmfs --backfstype=ldiskfs --mdt --mgsnode=x-mds-0.x-mds@tcp --index=1 /dev/kmesh/mdt0',
      `mount -t lustre /dev/kmesh/mdt0 ${join(dir, 'mnt')}/mdt0`,
    ]);
  });

  it('never formats a target that already carries a filesystem', () => {
    const calls = run({ ...BASE, ROLE: 'mds', TARGETS: '1', STATEFULSET: 'x-mds', HOSTNAME: 'x-mds-0' }, [
      '/dev/kmesh/mdt0',
    ]);
    expect(calls.some((c) => c.startsWith('mkfs.lustre'))).toBe(false);
    expect(calls).toContain(`mount -t lustre /dev/kmesh/mdt0 ${join(dir, 'mnt')}/mdt0`);
  });

  it('gives each OST of a server its own index and names the MGS', () => {
    const calls = run({
      ...BASE,
      ROLE: 'oss',
      TARGETS: '2',
      STATEFULSET: 'x-oss',
      HOSTNAME: 'x-oss-3',
      MGS_NIDS: 'x-mds-0.x-mds@tcp',
    });
    expect(calls.filter((c) => c.startsWith('mkfs.lustre'))).toEqual([
      'mkfs.lustre --fsname=kmfs --backfstype=ldiskfs --ost --mgsnode=x-mds-0.x-mds@tcp --index=6 /dev/kmesh/ost0',
      'mkfs.lustre --fsname=kmfs --backfstype=ldiskfs --ost --mgsnode=x-mds-0.x-mds@tcp --index=7 /dev/kmesh/ost1',
    ]);
  });

  it('with HA, the even ordinal formats with both partners as service nodes and the odd one stands by', () => {
    const primary = run({
      ...BASE,
      HA: 'true',
      ROLE: 'oss',
      TARGETS: '1',
      STATEFULSET: 'x-oss',
      HOSTNAME: 'x-oss-2',
      MGS_NIDS: 'm@tcp',
    });
    expect(primary.filter((c) => c.startsWith('mkfs.lustre'))).toEqual([
      'mkfs.lustre --fsname=kmfs --backfstype=ldiskfs --ost --mgsnode=m@tcp --index=1 --servicenode=10.0.0.2@tcp --servicenode=10.0.0.3@tcp /dev/kmesh/ost0',
    ]);
    const partner = run({
      ...BASE,
      HA: 'true',
      ROLE: 'oss',
      TARGETS: '1',
      STATEFULSET: 'x-oss',
      HOSTNAME: 'x-oss-3',
      MGS_NIDS: 'm@tcp',
    });
    expect(partner.filter((c) => !c.startsWith('tunefs'))).toEqual(primary.filter((c) => !c.startsWith('tunefs'))); // nothing new
  });

  it('with zfs, formats a pool dataset with the at-rest options', () => {
    const calls = run({
      ...BASE,
      BACKFS: 'zfs',
      ROLE: 'mds',
      TARGETS: '1',
      STATEFULSET: 'x-mds',
      HOSTNAME: 'x-mds-0',
      ZFS_OPTIONS: '-o compression=lz4',
    });
    expect(calls).toContain(
      'mkfs.lustre --fsname=kmfs --backfstype=zfs --mgs --mdt --index=0 --mkfsoptions=-o compression=lz4 kmfs-mdt0/mdt0 /dev/kmesh/mdt0',
    );
  });
});
