/**
 * A token bucket shared by every stream of a worker: `take(n)` resolves when n bytes may be sent,
 * so all streams together stay under the DataFlow's bandwidthLimit.
 */
import { Transform } from 'node:stream';
import { parseByteQuantity } from '../../lib/quantity.js';

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

/**
 * Bytes per second of a DataFlow's bandwidthLimit: any quantity the CRD accepts ("100Mi", "1G",
 * "1e9", "2Pi", or an integer); unset or 0 means unlimited. Errors name the field.
 */
export function parseBandwidth(value: string | number | undefined, field: string): number {
  if (value === undefined || value === '') return 0;
  return parseByteQuantity(value, field);
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
