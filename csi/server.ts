/**
 * The gRPC server of the CSI driver, on a unix socket. Every call goes through one wrapper that
 * logs the method, the resulting code and the duration (Probe at debug level, secrets redacted)
 * and turns errors into statuses: a StatusError keeps its code, anything else is INTERNAL.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  Server,
  ServerCredentials,
  status,
  type ServiceDefinition,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { StatusError } from '../lib/errors.js';
import { wrapUnary, type AnyHandler } from '../lib/grpc-unary.js';
import type { Logger } from '../lib/logging.js';

export type { Handler } from '../lib/grpc-unary.js';

/** The handlers of one service: typed (TypedHandlers of its generated definition) or, where not yet, untyped Handlers. */
export type ServiceHandlers = Readonly<Record<string, AnyHandler>>;

export interface CsiService {
  definition: ServiceDefinition;
  handlers: ServiceHandlers;
}

/** Request fields the CSI spec marks as secrets; never logged. */
const SECRET_FIELDS = ['secrets', 'controller_publish_secrets', 'node_stage_secrets', 'node_publish_secrets'];

function redacted(request: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...request };
  for (const field of SECRET_FIELDS) if (field in copy) copy[field] = '[redacted]';
  return copy;
}

/** The unix socket path of a `unix:///path` (or bare path) endpoint; other schemes are refused. */
export function socketPath(endpoint: string): string {
  if (endpoint.startsWith('unix://')) return endpoint.slice('unix://'.length);
  if (endpoint.startsWith('/')) return endpoint;
  throw new StatusError(status.INVALID_ARGUMENT, `endpoint "${endpoint}" is not unix:///path/to/socket`);
}

export interface CsiServer {
  path: string;
  /** Stops accepting calls, lets running ones finish, removes the socket. */
  close(): Promise<void>;
}

/** Serves `services` on `endpoint`, replacing a stale socket file from an earlier run. */
export async function serveCsi(endpoint: string, services: readonly CsiService[], log: Logger): Promise<CsiServer> {
  const path = socketPath(endpoint);
  mkdirSync(dirname(path), { recursive: true });
  if (existsSync(path)) rmSync(path); // a crashed plugin leaves it behind; the kubelet expects us at this path
  const server = new Server();
  for (const service of services) {
    const implementation: UntypedServiceImplementation = {};
    for (const [method, handler] of Object.entries(service.handlers)) {
      // grpc-js passes each method the request its definition decodes: what the handler is typed for.
      implementation[method] = wrapUnary<never, unknown>(method, handler, log, {
        message: 'CSI call',
        level: method === 'Probe' ? 'debug' : 'info',
        describe: redacted,
      }) as UntypedHandleCall;
    }
    server.addService(service.definition, implementation);
  }
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${path}`, ServerCredentials.createInsecure(), (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  log.info({ endpoint: path }, 'CSI driver serving');
  return {
    path,
    close: () =>
      new Promise<void>((resolve) =>
        server.tryShutdown(() => {
          rmSync(path, { force: true });
          resolve();
        }),
      ),
  };
}
