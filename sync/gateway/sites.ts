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
  /**
   * Sites that may talk to this DataFlow: certificate identity and direction, as in spec.peers;
   * `paths`: the subtrees such a peer sees when it reads (unset: everything).
   */
  peers: ServedPeer[];
  encryption: Encryption;
  key?: Buffer;
  /** Where this site's worker publishes its version for readers (a published.json); unset: no reads. */
  publishedFile?: string;
}

export interface ServedPeer {
  name: string;
  direction: PeerDirection;
  paths?: string[];
}

/** Whether a peer entry lets that site send into this DataFlow (it pulls from them); nothing else does. */
export function acceptsFrom(dataFlow: ServedDataFlow, identities: string[]): boolean {
  return dataFlow.peers.some((p) => identities.includes(p.name) && p.direction === 'pull');
}

/**
 * The peer entry that lets that site read this DataFlow: one this site sends to (direction push),
 * so it may hold the data anyway (docs/architecture.md#reads-access-cache). Undefined: it may not.
 */
export function readerEntry(dataFlow: ServedDataFlow, identities: string[]): ServedPeer | undefined {
  return dataFlow.peers.find((p) => identities.includes(p.name) && p.direction === 'push');
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
