/**
 * The node and controller plugins' liveness: a Probe call to their own CSI socket, through gRPC as
 * the kubelet and the sidecars make it (what the livenessprobe sidecar does), so a wedged server is
 * seen as dead even when the process still answers HTTP.
 */
import { credentials, type Client } from '@grpc/grpc-js';
import { loadCsi } from './proto.js';
import { socketPath } from './server.js';

const PROBE_DEADLINE_MS = 3000;

export class SelfProbe {
  private readonly client: Client & { Probe: (request: object, options: object, callback: (error: Error | null, response?: { ready?: { value?: boolean } }) => void) => void };

  constructor(endpoint: string) {
    const Identity = loadCsi().clients.Identity;
    this.client = new Identity(`unix://${socketPath(endpoint)}`, credentials.createInsecure()) as unknown as SelfProbe['client'];
  }

  /** True when the driver answers Probe with ready (an unset `ready` means ready, per the spec). */
  live(): Promise<boolean> {
    return new Promise((resolve) => {
      this.client.Probe({}, { deadline: Date.now() + PROBE_DEADLINE_MS }, (error, response) => resolve(!error && response?.ready?.value !== false));
    });
  }

  close(): void {
    this.client.close();
  }
}
