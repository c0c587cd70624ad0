import { describe, expect, it } from '@jest/globals';
import { WorkQueue } from './queue.js';

describe('WorkQueue', () => {
  it('hands out keys in order and drops a key added while it waits', async () => {
    const queue = new WorkQueue();
    queue.add('a');
    queue.add('b');
    queue.add('a');
    expect(queue.length).toBe(2);
    expect(await queue.take()).toBe('a');
    expect(await queue.take()).toBe('b');
  });

  it('never hands the same key to two workers; a re-add while held comes back after done', async () => {
    const queue = new WorkQueue();
    queue.add('a');
    const held = await queue.take();
    queue.add('a');
    expect(queue.length).toBe(0); // not handed out again while held
    let second: string | undefined;
    const waiting = queue.take().then((k) => (second = k));
    await new Promise((r) => setImmediate(r));
    expect(second).toBeUndefined();
    queue.done(held!);
    await waiting;
    expect(second).toBe('a');
  });

  it('backs off exponentially per key up to the cap, and forget resets it', () => {
    const queue = new WorkQueue({ baseMs: 10, maxMs: 50 });
    expect([1, 2, 3, 4].map(() => queue.addRateLimited('k'))).toEqual([10, 20, 40, 50]);
    expect(queue.retries('k')).toBe(4);
    queue.forget('k');
    expect(queue.addRateLimited('k')).toBe(10);
    queue.shutDown();
  });

  it('addAfter delivers later, and an earlier request wins over a later one', async () => {
    const queue = new WorkQueue();
    queue.addAfter('k', 200);
    queue.addAfter('k', 20);
    const started = Date.now();
    expect(await queue.take()).toBe('k');
    expect(Date.now() - started).toBeLessThan(200);
    queue.shutDown();
  });

  it('shutDown releases waiting takers with undefined', async () => {
    const queue = new WorkQueue();
    const taking = queue.take();
    queue.shutDown();
    expect(await taking).toBeUndefined();
    queue.add('late');
    expect(queue.length).toBe(0);
  });
});
