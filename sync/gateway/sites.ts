/**
 * The DataFlows a gateway serves and their receivers: one Receiver per DataFlow, created on first
 * use and kept, plus the locator that lets each find chunks in the others (dedup across the
 * DataFlows of one instance).
 */
import type { SYNCED_PEER_DIRECTIONS } from '../../api/v1alpha1/data-flow.js';
import type { Hash } from '../engine/manifest.js';
import { Receiver, type ChunkLocator } from '../engine/receiver.js';
import type { Encryption } from '../engine/seal.js';

/** Directions the data plane acts on (`bidirectional` is refused where the config is read). */
export type PeerDirection = (typeof SYNCED_PEER_DIRECTIONS)[number];

/** One DataFlow as the gateway sees it. */
export interface ServedDataFlow {
  /** "<namespace>/<name>". */
  name: string;
  treeDir: string;
  stateDir: string;
  deletedRetentionMs: number;
  /** Sites that may talk to this DataFlow: certificate identity and direction, as in spec.peers. */
  peers: { name: string; direction: PeerDirection }[];
  encryption: Encryption;
  key?: Buffer;
}

/** Whether a peer entry lets that site send into this DataFlow (it pulls from them); nothing else does. */
export function acceptsFrom(dataFlow: ServedDataFlow, identities: string[]): boolean {
  return dataFlow.peers.some((p) => identities.includes(p.name) && p.direction === 'pull');
}

export class Sites implements ChunkLocator {
  private readonly receivers = new Map<string, Receiver>();

  constructor(private readonly dataFlows: () => ServedDataFlow[]) {}

  find(name: string): ServedDataFlow | undefined {
    return this.dataFlows().find((d) => d.name === name);
  }

  receiver(dataFlow: ServedDataFlow): Receiver {
    let receiver = this.receivers.get(dataFlow.name);
    if (!receiver) {
      receiver = new Receiver({
        treeDir: dataFlow.treeDir,
        stateDir: dataFlow.stateDir,
        deletedRetentionMs: dataFlow.deletedRetentionMs,
        locator: this,
      });
      this.receivers.set(dataFlow.name, receiver);
    }
    return receiver;
  }

  has(hash: Hash): boolean {
    for (const r of this.receivers.values()) if (r.holds(hash)) return true;
    return false;
  }

  read(hash: Hash): Buffer | undefined {
    for (const r of this.receivers.values()) {
      const data = r.readOwn(hash);
      if (data) return data;
    }
    return undefined;
  }

  /** Drops expired quarantines everywhere. */
  purge(): void {
    for (const r of this.receivers.values()) r.purgeQuarantine();
  }

  close(): void {
    for (const r of this.receivers.values()) r.close();
    this.receivers.clear();
  }
}
