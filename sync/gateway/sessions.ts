/**
 * The gateway's sync sessions: one per Hello, bound to the client certificate that opened it. A
 * session names the DataFlow, its receiver and the sealing policy both ends agreed on; control
 * calls and bulk connections find it by id and must present the same certificate. Sessions unused
 * for `idleMs` are forgotten (the worker says hello again).
 */
import { randomUUID } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { status } from '@grpc/grpc-js';
import { StatusError } from '../../lib/errors.js';
import type { Receiver } from '../engine/receiver.js';
import type { SealPolicy } from '../engine/seal.js';
import { identitiesOf } from '../wire/tls.js';
import type { ServedDataFlow } from './sites.js';

export interface Session {
  id: string;
  dataFlow: ServedDataFlow;
  receiver: Receiver;
  /** The first name of the certificate that opened the session. */
  identity: string;
  /** Fingerprint of the certificate that opened the session; later calls and bulk connections must match it. */
  fingerprint: string;
  policy: SealPolicy;
  /** Epoch ms of the last control call or chunk; the sweep forgets sessions idle longer than idleMs. */
  lastUsed: number;
}

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
  open(fields: Omit<Session, 'id' | 'lastUsed'>): Session {
    const session: Session = { ...fields, id: randomUUID(), lastUsed: Date.now() };
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

  /** Forgets sessions idle longer than idleMs. */
  expire(now = Date.now()): void {
    for (const [id, session] of this.byId) if (now - session.lastUsed > this.idleMs) this.byId.delete(id);
  }
}
