/**
 * The gateway's sync sessions: one per Hello, bound to the client certificate that opened it. A
 * session names the DataFlow and the sealing policy both ends agreed on, and either the receiver
 * it writes to (a write session) or the published version it reads (a read session,
 * docs/architecture.md#reads-access-cache); control calls and bulk connections find it by id and
 * must present the same certificate, and each kind of call needs its kind of session. Sessions
 * unused for `idleMs` are forgotten (the peer says hello again).
 */
import { randomUUID } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { status } from '@grpc/grpc-js';
import { failedPrecondition, StatusError } from '../../lib/errors.js';
import type { Receiver } from '../engine/receiver.js';
import type { SealPolicy } from '../engine/seal.js';
import { identitiesOf } from '../wire/tls.js';
import type { PublishedView } from './published.js';
import type { ServedDataFlow } from './sites.js';

interface SessionBase {
  id: string;
  dataFlow: ServedDataFlow;
  /** The first name of the certificate that opened the session. */
  identity: string;
  /** Fingerprint of the certificate that opened the session; later calls and bulk connections must match it. */
  fingerprint: string;
  policy: SealPolicy;
  /** Epoch ms of the last control call or chunk; the sweep forgets sessions idle longer than idleMs. */
  lastUsed: number;
}

/** A peer sending a version here: MissingNodes, PutNodes, MissingChunks, Commit and bulk streams. */
export interface WriteSession extends SessionBase {
  read: false;
  receiver: Receiver;
}

/** A peer reading this site's published version: GetNodes and FetchChunks. */
export interface ReadSession extends SessionBase {
  read: true;
  /** The published version as this peer sees it, fixed for the session (a new version needs a new Hello). */
  view: PublishedView;
  /** The subtrees this peer sees (unset: all), for the root of a newer version (Root). */
  paths: string[] | undefined;
}

export type Session = WriteSession | ReadSession;

/** What Sessions.open takes: a session without its id and last use. */
type NewSession = Omit<WriteSession, 'id' | 'lastUsed'> | Omit<ReadSession, 'id' | 'lastUsed'>;

/** Who is on the other end of a TLS connection, from its (CA-verified) client certificate. */
export interface Peer {
  /** Every name the certificate answers to (sync/wire/tls.ts); empty without a certificate. */
  identities: string[];
  /** SHA-256 fingerprint of the certificate; empty without one. */
  fingerprint: string;
}

/** The peer behind a certificate (a TLS socket's or a gRPC call's auth context). */
export function peerOf(cert: PeerCertificate | undefined): Peer {
  return { identities: identitiesOf(cert), fingerprint: cert?.fingerprint256 ?? '' };
}

/** The peer, which must present a certificate with a name; UNAUTHENTICATED otherwise. */
export function authenticatedPeer(cert: PeerCertificate | undefined): Peer & { identity: string } {
  const peer = peerOf(cert);
  const identity = peer.identities[0];
  if (!cert || identity === undefined)
    throw new StatusError(status.UNAUTHENTICATED, 'a client certificate with a name is required');
  return { ...peer, identity };
}

export class Sessions {
  private readonly byId = new Map<string, Session>();

  constructor(readonly idleMs: number) {}

  /** Registers a new session for an admitted peer and returns it. */
  open<S extends NewSession>(fields: S): S & Pick<Session, 'id' | 'lastUsed'> {
    const session = { ...fields, id: randomUUID(), lastUsed: Date.now() };
    this.byId.set(session.id, session);
    return session;
  }

  /**
   * The session `id`, if the certificate with `fingerprint` opened it. NOT_FOUND when it is
   * unknown (expired, or opened before a restart), PERMISSION_DENIED when another certificate
   * opened it. Does not mark the session used: callers do when it does work.
   */
  claim(id: string, fingerprint: string): Session {
    const session = this.byId.get(id);
    if (!session)
      throw new StatusError(
        status.NOT_FOUND,
        `unknown session "${id}" (expired, or the gateway restarted): say hello again`,
      );
    if (session.fingerprint !== fingerprint)
      throw new StatusError(status.PERMISSION_DENIED, `session ${id} belongs to another certificate`);
    return session;
  }

  /** claim(), for a call that writes: FAILED_PRECONDITION when the session was opened to read. */
  claimWrite(id: string, fingerprint: string): WriteSession {
    const session = this.claim(id, fingerprint);
    if (session.read)
      throw failedPrecondition(
        `session ${id} is a read session: sending a version (nodes, chunks, commit) needs a session opened with read false`,
      );
    return session;
  }

  /** claim(), for a call that reads: FAILED_PRECONDITION when the session was opened to write. */
  claimRead(id: string, fingerprint: string): ReadSession {
    const session = this.claim(id, fingerprint);
    if (!session.read)
      throw failedPrecondition(
        `session ${id} is a write session: GetNodes and FetchChunks need a session opened with read true`,
      );
    return session;
  }

  /** Forgets sessions idle longer than idleMs. */
  expire(now = Date.now()): void {
    for (const [id, session] of this.byId) if (now - session.lastUsed > this.idleMs) this.byId.delete(id);
  }
}
