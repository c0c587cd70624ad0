/**
 * The gRPC server of the CSI driver, on a unix socket. Every call goes through one wrapper that
 * logs the method, the resulting code and the duration (Probe at debug level, secrets redacted)
 * and turns errors into statuses: a StatusError keeps its code, anything else is INTERNAL.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { StatusError } from '../lib/errors.js';
import type { Logger } from '../lib/logging.js';

/** A unary RPC handler: the request in, the response (or a thrown StatusError) out. */
export type Handler = (request: Record<string, unknown>) => Promise<Record<string, unknown>>;

export interface CsiService {
  definition: ServiceDefinition;
  handlers: Record<string, Handler>;
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

function wrap(method: string, handler: Handler, log: Logger): (call: ServerUnaryCall<Record<string, unknown>, Record<string, unknown>>, callback: sendUnaryData<Record<string, unknown>>) => void {
  const level = method === 'Probe' ? 'debug' : 'info';
  return (call, callback) => {
    const started = process.hrtime.bigint();
    const done = (code: status, error?: unknown): void => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const fields = { method, code: status[code], ms: Math.round(ms * 10) / 10, request: redacted(call.request) };
      if (code === status.INTERNAL) log.error({ ...fields, err: error }, 'CSI call failed');
      else log[level](fields, 'CSI call');
    };
    handler(call.request).then(
      (response) => {
        done(status.OK);
        callback(null, response);
      },
      (error: unknown) => {
        const known = error instanceof StatusError;
        const code = known ? error.code : status.INTERNAL;
        done(code, error);
        callback({ code, details: known ? error.details : `internal error: ${(error as Error).message ?? String(error)}` });
      },
    );
  };
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
    for (const [method, handler] of Object.entries(service.handlers)) implementation[method] = wrap(method, handler, log);
    server.addService(service.definition, implementation);
  }
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${path}`, ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())));
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
