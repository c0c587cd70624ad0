import { describe, expect, it } from '@jest/globals';
import { taskOutcome } from './task-pod.js';

const pod = (status: Record<string, unknown>) => ({ metadata: { name: 'snap-snapshot' }, status });
const task = (state: Record<string, unknown>, lastState?: Record<string, unknown>) => ({
  containerStatuses: [{ name: 'task', state, ...(lastState ? { lastState } : {}) }],
});

describe('taskOutcome', () => {
  it('reads the result of a pod that succeeded from its termination message', () => {
    expect(
      taskOutcome(
        pod({
          phase: 'Succeeded',
          ...task({ terminated: { exitCode: 0, message: '{"rootHash":"ab","fileCount":2}' } }),
        }),
      ),
    ).toEqual({
      state: 'succeeded',
      result: { rootHash: 'ab', fileCount: 2 },
    });
  });

  it('does not take a success without a result for one', () => {
    expect(taskOutcome(pod({ phase: 'Succeeded', ...task({ terminated: { exitCode: 0, message: '' } }) })).state).toBe(
      'failing',
    );
    expect(
      taskOutcome(pod({ phase: 'Succeeded', ...task({ terminated: { exitCode: 0, message: '{"error":"odd"}' } }) })),
    ).toEqual({
      state: 'failing',
      message: 'pod snap-snapshot succeeded but reported "odd"',
    });
  });

  it('reports the last failed run with the error it wrote, or its raw text', () => {
    const backingOff = task(
      { waiting: { reason: 'CrashLoopBackOff' } },
      { terminated: { exitCode: 1, message: '{"error":"ENOENT: /kmesh/data/dataflows/x"}' } },
    );
    expect(taskOutcome(pod({ phase: 'Running', ...backingOff }))).toEqual({
      state: 'failing',
      message: 'pod snap-snapshot failed (exit 1): ENOENT: /kmesh/data/dataflows/x; the kubelet retries',
    });
    expect(
      taskOutcome(pod({ phase: 'Running', ...task({ terminated: { exitCode: 137, message: 'Killed\n' } }) })),
    ).toEqual({
      state: 'failing',
      message: 'pod snap-snapshot failed (exit 137): Killed; the kubelet retries',
    });
  });

  it('says why a pod cannot start, and that a pod is still working', () => {
    expect(
      taskOutcome(
        pod({ phase: 'Pending', ...task({ waiting: { reason: 'ErrImageNeverPull', message: 'image not present' } }) }),
      ),
    ).toEqual({
      state: 'failing',
      message: 'pod snap-snapshot: ErrImageNeverPull: image not present',
    });
    expect(taskOutcome(pod({ phase: 'Pending', ...task({ waiting: { reason: 'ContainerCreating' } }) }))).toEqual({
      state: 'running',
      message: 'pod snap-snapshot is starting',
    });
    expect(taskOutcome(pod({ phase: 'Running', ...task({ running: {} }) }))).toEqual({
      state: 'running',
      message: 'pod snap-snapshot is running',
    });
    expect(taskOutcome(pod({ phase: 'Failed' }))).toEqual({
      state: 'failing',
      message: 'pod snap-snapshot failed before it started',
    });
  });
});
