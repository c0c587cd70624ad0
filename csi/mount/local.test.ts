/** The local mounter with real bind mounts (the node plugin runs as root, and so do these tests). */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemRunner } from '../../lib/command.js';
import { LocalMounter } from './local.js';
import { mountPointsUnder, parseMountPoints, procMountTable } from './mount-table.js';

let dir: string;
const mounter = new LocalMounter(systemRunner, procMountTable);
const mountCount = (path: string): number =>
  parseMountPoints(readFileSync('/proc/self/mountinfo', 'utf8')).filter((p) => p === path).length;

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('these tests make real bind mounts and must run as root (CI does)');
  dir = mkdtempSync(join(tmpdir(), 'kmesh-mount-'));
  for (const d of ['instance/dataflows/ml-data', 'staging', 'target']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'instance/dataflows/ml-data/model.bin'), 'weights');
});
afterAll(async () => {
  // Whatever a failed test left mounted goes before the directory does.
  for (const mountPoint of await mountPointsUnder(dir)) await systemRunner.run('umount', ['-l', mountPoint], 10_000);
  rmSync(dir, { recursive: true, force: true });
});

describe('LocalMounter', () => {
  it('stages the instance directory once, publishes a DataFlow read-only, and undoes both idempotently', async () => {
    const staging = join(dir, 'staging');
    const target = join(dir, 'target');
    await mounter.stage(join(dir, 'instance'), staging);
    await mounter.stage(join(dir, 'instance'), staging);
    expect(mountCount(staging)).toBe(1);

    await mounter.publish(join(staging, 'dataflows/ml-data'), target, true);
    expect(readFileSync(join(target, 'model.bin'), 'utf8')).toBe('weights');
    expect(() => writeFileSync(join(target, 'new'), 'x')).toThrow(/EROFS|read-only/);

    await mounter.unpublish(target);
    await mounter.unpublish(target);
    expect(mountCount(target)).toBe(0);
    await mounter.unstage(staging);
    await mounter.unstage(staging);
    expect(mountCount(staging)).toBe(0);
    await mounter.unpublish(join(dir, 'never-created')); // a missing target is fine
  });

  it('publishes read-write when asked', async () => {
    const target = join(dir, 'target');
    await mounter.publish(join(dir, 'instance/dataflows/ml-data'), target, false);
    writeFileSync(join(target, 'written'), 'ok');
    await mounter.unpublish(target);
    expect(readFileSync(join(dir, 'instance/dataflows/ml-data/written'), 'utf8')).toBe('ok');
  });
});

describe('parseMountPoints', () => {
  it('unescapes the octal escapes of mountinfo', () => {
    const line = '42 27 254:0 /src /tmp/with\\040space ro,relatime - ext4 /dev/vda rw';
    expect(parseMountPoints(`${line}\n`)).toEqual(['/tmp/with space']);
  });
});
