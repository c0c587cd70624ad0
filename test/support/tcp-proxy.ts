/**
 * A loopback TCP proxy a test controls: forwards to a target, counts the bytes going each way,
 * cuts every connection when the client→server byte count crosses a chosen point, can hold every
 * byte without closing anything (a link that drops all packets), and can delay each direction (a
 * long link on one machine). Used by the sync fault tests and bench:sync.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ProxyOptions {
  targetPort: number;
  /** One-way delay added to every piece of data, ms (0: none). */
  delayMs?: number;
}

export class TcpProxy {
  private server!: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  /** Client→server bytes forwarded since start. */
  upBytes = 0;
  downBytes = 0;
  cuts = 0;
  private cutPoints: number[] = [];
  private holding = false;
  private readonly frozen = new Set<[Socket, Socket]>();
  private holdPoint: number | undefined;

  private constructor(private readonly options: ProxyOptions) {}

  static async start(options: ProxyOptions): Promise<TcpProxy> {
    const proxy = new TcpProxy(options);
    proxy.server = createServer((client) => proxy.accept(client));
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Cut all connections whenever upBytes crosses one of these points (absolute byte counts). */
  cutAt(points: number[]): void {
    this.cutPoints = [...points].sort((a, b) => a - b);
  }

  get remainingCuts(): number {
    return this.cutPoints.length;
  }

  /**
   * From now on (or once upBytes reaches `atUpBytes`), forwards nothing and closes nothing: new
   * connections are accepted and left silent, as when a link drops every packet. `release` ends it.
   */
  hold(atUpBytes?: number): void {
    if (atUpBytes !== undefined && this.upBytes < atUpBytes) {
      this.holdPoint = atUpBytes;
      return;
    }
    this.holding = true;
    for (const [a, b] of this.pairs) {
      a.pause();
      b.pause();
    }
  }

  /** Stops forwarding on the connections open now, closing nothing; new ones pass. */
  freezeOpen(): void {
    for (const pair of this.pairs) {
      this.frozen.add(pair);
      pair[0].pause();
      pair[1].pause();
    }
  }

  get held(): boolean {
    return this.holding;
  }

  /** Forwards again what `hold` stopped. */
  release(): void {
    this.holding = false;
    this.holdPoint = undefined;
    for (const [a, b] of this.pairs) {
      a.resume();
      b.resume();
    }
  }

  /** Destroys every open connection, like a link going down. */
  cutAll(): void {
    this.cuts++;
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  private accept(client: Socket): void {
    const upstream = connect(this.options.targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const forward = (from: Socket, to: Socket, up: boolean) => {
      from.on('data', (data: Buffer) => {
        if (up) {
          this.upBytes += data.length;
          if (this.holdPoint !== undefined && this.upBytes >= this.holdPoint) this.hold();
          if (this.cutPoints.length && this.upBytes >= this.cutPoints[0]!) {
            while (this.cutPoints.length && this.upBytes >= this.cutPoints[0]!) this.cutPoints.shift();
            this.cutAll();
            return;
          }
        } else {
          this.downBytes += data.length;
        }
        const send = () => {
          if (to.destroyed) return;
          if (!to.write(data)) from.pause();
        };
        if (this.options.delayMs) setTimeout(send, this.options.delayMs);
        else send();
      });
      to.on('drain', () => {
        if (!this.holding && !this.frozen.has(pair)) from.resume();
      });
      from.on('end', () => (this.options.delayMs ? setTimeout(() => to.end(), this.options.delayMs) : to.end()));
      from.on('error', () => to.destroy());
      from.on('close', () => {
        to.destroy();
        this.pairs.delete(pair);
      });
    };
    forward(client, upstream, true);
    forward(upstream, client, false);
    if (this.holding) {
      client.pause();
      upstream.pause();
    }
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
