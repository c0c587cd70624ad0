/**
 * One wrapper for every unary gRPC handler Kmesh serves (CSI, sync gateway): it logs the method,
 * the resulting code and the duration, and turns errors into statuses — a StatusError keeps its
 * code, anything else becomes INTERNAL and is logged with its cause, so a dependency's code is
 * never passed through by accident.
 */
import { status, type handleUnaryCall, type ServerUnaryCall } from '@grpc/grpc-js';
import { StatusError } from './errors.js';
import type { Logger } from './logging.js';

/** Untyped messages, for services whose messages have no generated types yet (CSI). */
type Message = Record<string, unknown>;

/** A call as a handler sees it; `Req` is the request as received, `Res` the response it returns. */
export type UnaryCall<Req = Message, Res = Message> = ServerUnaryCall<Req, Res>;

/** A unary RPC handler: the request in (and the call, for its peer), the response or a thrown StatusError out. */
export type Handler<Req = Message, Res = Message> = (request: Req, call: UnaryCall<Req, Res>) => Promise<Res>;

/**
 * Any handler, whatever its message types: what a server that only wraps and registers handlers
 * accepts. (Every request type admits `never`, so every handler is one of these.)
 */
export type AnyHandler = Handler<never, unknown>;

export interface WrapOptions<Req = Message> {
  /** The log message, e.g. "CSI call". */
  message: string;
  level: 'debug' | 'info';
  /** What of the request goes into the log (never secrets). */
  describe: (request: Req) => unknown;
}

export function wrapUnary<Req = Message, Res = Message>(
  method: string,
  handler: Handler<Req, Res>,
  log: Logger,
  options: WrapOptions<Req>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = process.hrtime.bigint();
    const done = (code: status, error?: unknown): void => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const fields = {
        method,
        code: status[code],
        ms: Math.round(ms * 10) / 10,
        request: options.describe(call.request),
      };
      if (code === status.INTERNAL) log.error({ ...fields, err: error }, `${options.message} failed`);
      else log[code === status.OK ? options.level : 'info'](fields, options.message);
    };
    handler(call.request, call).then(
      (response) => {
        done(status.OK);
        callback(null, response);
      },
      (error: unknown) => {
        const known = error instanceof StatusError;
        const code = known ? error.code : status.INTERNAL;
        done(code, error);
        callback({
          code,
          details: known ? error.details : `internal error: ${(error as Error).message ?? String(error)}`,
        });
      },
    );
  };
}
