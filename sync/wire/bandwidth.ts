/**
 * A token bucket shared by every stream of a worker: `take(n)` resolves when n bytes may be sent,
 * so all streams together stay under the DataFlow's bandwidthLimit.
 */
import { Transform } from 'node:stream';

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };

export class Bandwidth {
  private tokens: number;
  private last: number;
  private chain: Promise<void> = Promise.resolve();

  /** `bytesPerSecond` 0 means unlimited. Bursts up to a quarter second's worth. */
  constructor(
    private readonly bytesPerSecond: number,
    private readonly clock: Clock = realClock,
  ) {
    this.tokens = bytesPerSecond / 4;
    this.last = clock.now();
  }

  take(bytes: number): Promise<void> {
    if (this.bytesPerSecond <= 0) return Promise.resolve();
    this.chain = this.chain.then(async () => {
      const now = this.clock.now();
      this.tokens = Math.min(this.bytesPerSecond / 4, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
      this.last = now;
      this.tokens -= bytes;
      if (this.tokens < 0) await this.clock.sleep((-this.tokens / this.bytesPerSecond) * 1000);
    });
    return this.chain;
  }
}

/** Parses a Kubernetes-style quantity of bytes per second ("50Mi", "1G", "0"); errors name the field. */
export function parseBandwidth(value: string | undefined, field: string): number {
  if (value === undefined || value === '') return 0;
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$/.exec(value.trim());
  if (!m) throw new Error(`${field}: "${value}" is not a byte rate such as 100Mi or 1G (bytes per second)`);
  const units: Record<string, number> = { '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  return Math.round(Number(m[1]) * units[m[2] ?? '']!);
}

/** A pass-through stream that lets bytes on only as fast as `bandwidth` allows (store transfers). */
export function throttle(bandwidth: Bandwidth | undefined): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (!bandwidth) return done(null, chunk);
      bandwidth.take(chunk.length).then(() => done(null, chunk), done);
    },
  });
}
