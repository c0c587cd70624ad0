/**
 * One wrapper for every gRPC handler Kmesh serves (CSI, sync gateway; wrapServerStream for
 * server-streaming ones): it logs the method, the resulting code and the duration, and turns
 * errors into statuses — a StatusError keeps its code, anything else becomes INTERNAL and is
 * logged with its cause, so a dependency's code is never passed through by accident.
 */
import {
  status,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type ServerUnaryCall,
  type ServerWritableStream,
} from '@grpc/grpc-js';
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

/**
 * The status a handler's error becomes: a StatusError keeps its code and details, anything else
 * is INTERNAL.
 */
function errorStatus(error: unknown): { code: status; details: string } {
  if (error instanceof StatusError) return { code: error.code, details: error.details };
  return { code: status.INTERNAL, details: `internal error: ${(error as Error).message ?? String(error)}` };
}

/** Logs one call once it ends: its method, code and duration (INTERNAL as an error, with its cause). */
function callLog<Req>(method: string, request: Req, log: Logger, options: WrapOptions<Req>) {
  const started = process.hrtime.bigint();
  return (code: status, error?: unknown): void => {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const fields = { method, code: status[code], ms: Math.round(ms * 10) / 10, request: options.describe(request) };
    if (code === status.INTERNAL) log.error({ ...fields, err: error }, `${options.message} failed`);
    else log[code === status.OK || code === status.CANCELLED ? options.level : 'info'](fields, options.message);
  };
}

export function wrapUnary<Req = Message, Res = Message>(
  method: string,
  handler: Handler<Req, Res>,
  log: Logger,
  options: WrapOptions<Req>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const done = callLog(method, call.request, log, options);
    handler(call.request, call).then(
      (response) => {
        done(status.OK);
        callback(null, response);
      },
      (error: unknown) => {
        const { code, details } = errorStatus(error);
        done(code, error);
        callback({ code, details });
      },
    );
  };
}

/**
 * wrapUnary for a server-streaming handler: the handler writes its messages (minding
 * backpressure) and resolves when done; the stream then ends OK. A thrown error ends it with its
 * status after the messages already written, mapped and logged as for unary calls.
 */
export function wrapServerStream<Req = Message, Res = Message>(
  method: string,
  handler: (call: ServerWritableStream<Req, Res>) => Promise<void>,
  log: Logger,
  options: WrapOptions<Req>,
): handleServerStreamingCall<Req, Res> {
  return (call) => {
    const done = callLog(method, call.request, log, options);
    handler(call).then(
      () => {
        done(call.cancelled ? status.CANCELLED : status.OK);
        call.end();
      },
      (error: unknown) => {
        const failure = errorStatus(error);
        done(failure.code, error);
        call.emit('error', failure); // grpc-js: the stream's status, sent after what was written
      },
    );
  };
}
