/**
 * Quotas run exactly these commands on Lustre (the recording runner stands in for the Lustre
 * client, which no test machine has), and are honestly absent on the local backend.
 */
import { afterAll, beforeEach, describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KmeshInstance } from '../api/v1alpha1/index.js';
import { RecordingSystem } from '../test/support/commands.js';
import { FilesystemQuotas, projectIdOf } from './quota.js';

const root = mkdtempSync(join(tmpdir(), 'kmesh-quota-'));
const SOURCE = 'mds-0@tcp:/kmfs';
const lustre = (mountSource?: string): KmeshInstance =>
  ({
    metadata: { name: 'site', namespace: 'ml' },
    spec: { backend: { type: 'lustre' } },
    status: mountSource ? { mountSource } : {},
  }) as KmeshInstance;
let system: RecordingSystem;
let quotas: FilesystemQuotas;

beforeEach(() => {
  system = new RecordingSystem();
  quotas = new FilesystemQuotas(system.runner, system.table, root);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('FilesystemQuotas', () => {
  it('mounts the instance once, tags the directory with the project and sets a hard limit in KiB', async () => {
    expect(
      await quotas.apply({
        instance: lustre(SOURCE),
        directory: '/dataflows/pvc-1',
        projectId: 77,
        bytes: 10 * 2 ** 30 + 1,
      }),
    ).toBe(true);
    expect(
      await quotas.apply({
        instance: lustre(SOURCE),
        directory: '/dataflows/pvc-1',
        projectId: 77,
        bytes: 20 * 2 ** 30,
      }),
    ).toBe(true);
    const [mount, ...rest] = system.calls;
    const mountPoint = mount!.split(' ').pop()!;
    expect(mount).toBe(`mount -t lustre -o flock,noatime ${SOURCE} ${mountPoint}`);
    expect(mountPoint.startsWith(root)).toBe(true);
    expect(rest).toEqual([
      `lfs project -p 77 -s -r ${mountPoint}/dataflows/pvc-1`,
      `lfs setquota -p 77 -B 10485761k ${mountPoint}`,
      `lfs project -p 77 -s -r ${mountPoint}/dataflows/pvc-1`,
      `lfs setquota -p 77 -B 20971520k ${mountPoint}`,
    ]);
  });

  it('enforces nothing on the local backend, and runs nothing', async () => {
    const local = {
      metadata: { name: 'dev', namespace: 'ml' },
      spec: { backend: { type: 'local', local: { path: '/data' } } },
    } as KmeshInstance;
    expect(await quotas.apply({ instance: local, directory: '/dataflows/x', projectId: 1, bytes: 2 ** 30 })).toBe(
      false,
    );
    expect(system.calls).toEqual([]);
  });

  it('waits (UNAVAILABLE) for a Lustre instance without a mount source', async () => {
    await expect(quotas.apply({ instance: lustre(), directory: '/d', projectId: 1, bytes: 1 })).rejects.toMatchObject({
      code: status.UNAVAILABLE,
    });
  });

  it('reports a failing lfs as INTERNAL with what it said', async () => {
    system.scripted.set('lfs setquota', [
      {
        code: 1,
        stdout: '',
        stderr: 'quota setting failed: Operation not supported (project quotas are not enabled)',
        timedOut: false,
      },
    ]);
    await expect(
      quotas.apply({ instance: lustre(SOURCE), directory: '/d', projectId: 5, bytes: 4096 }),
    ).rejects.toMatchObject({
      code: status.INTERNAL,
      details: expect.stringContaining('project quotas are not enabled'),
    });
  });

  it('refuses a directory that leaves the filesystem', async () => {
    await expect(
      quotas.apply({ instance: lustre(SOURCE), directory: '/../../etc', projectId: 5, bytes: 4096 }),
    ).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  it('derives stable, non-zero project IDs', () => {
    expect(projectIdOf('00000000aaaa')).toBe(1);
    expect(projectIdOf('ffffffffaaaa')).toBe((0xffffffff % 0x7ffffffe) + 1);
    expect(projectIdOf('0123456789')).toBe(projectIdOf('0123456789'));
  });
});
