/**
 * A session with a receiver in the same process: posix-to-posix copies (a DataFlow whose source
 * is a mounted path) and engine tests without a network. Chunks still pass through the same
 * verification a remote receiver does.
 */
import { chunkHash } from './chunker.js';
import type { Hash } from './manifest.js';
import type { PeerSession } from './push.js';
import type { CommitResult, Receiver } from './receiver.js';

export class LocalSession implements PeerSession {
  readonly peerRoot: Hash | undefined;

  constructor(private readonly receiver: Receiver) {
    this.peerRoot = receiver.root;
  }

  missingNodes(hashes: Hash[]): Promise<Hash[]> {
    return Promise.resolve(this.receiver.missingNodes(hashes));
  }

  putNodes(nodes: { hash: Hash; bytes: Buffer }[]): Promise<void> {
    for (const { hash, bytes } of nodes) this.receiver.putNode(hash, bytes);
    return Promise.resolve();
  }

  missingChunks(hashes: Hash[], root: Hash): Promise<Hash[]> {
    return Promise.resolve(this.receiver.missingChunks(hashes, root));
  }

  async sendChunks(hashes: Hash[], read: (hash: Hash) => Promise<Buffer>): Promise<void> {
    for (const hash of hashes) {
      const data = await read(hash);
      if (chunkHash(data) !== hash) throw new Error(`chunk ${hash}: content does not match its hash`);
      this.receiver.putChunk(hash, data);
    }
  }

  commit(root: Hash): Promise<CommitResult> {
    return Promise.resolve(this.receiver.commit(root));
  }
}
