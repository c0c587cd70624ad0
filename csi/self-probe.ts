/**
 * The node and controller plugins' liveness: a Probe call to their own CSI socket, through gRPC as
 * the kubelet and the sidecars make it (what the livenessprobe sidecar does), so a wedged server is
 * seen as dead even when the process still answers HTTP.
 */
import { credentials, type Client, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadCsi } from './proto.js';
import { socketPath } from './server.js';

const PROBE_DEADLINE_MS = 3000;

type IdentityClient = Client & {
  Probe: (
    request: object,
    options: object,
    callback: (error: Error | null, response?: { ready?: { value?: boolean } }) => void,
  ) => void;
};

export class SelfProbe {
  private readonly Identity: ServiceClientConstructor;
  private readonly address: string;

  constructor(endpoint: string) {
    this.Identity = loadCsi().clients.Identity;
    this.address = `unix://${socketPath(endpoint)}`;
  }

  /**
   * True when the driver answers Probe with ready (an unset `ready` means ready, per the spec). A
   * new connection each time: a channel left backing off by an earlier failure must not decide.
   */
  live(): Promise<boolean> {
    const client = new this.Identity(this.address, credentials.createInsecure()) as unknown as IdentityClient;
    return new Promise((resolve) => {
      client.Probe({}, { deadline: Date.now() + PROBE_DEADLINE_MS }, (error, response) => {
        client.close();
        resolve(!error && response?.ready?.value !== false);
      });
    });
  }
}
