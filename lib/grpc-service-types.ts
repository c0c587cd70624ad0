/**
 * Message types per method of a gRPC service, read from its generated `…Definition` type
 * (`generated/` folders, hack/proto-types.ts). The sender's side is permissive (optional fields,
 * bytes as Buffer or Uint8Array); the receiver's side has every field, defaults filled in.
 */
import type { Handler } from './grpc-unary.js';

/** The methods of a generated service definition, without grpc-js's index signature. */
export type MethodsOf<D> = { [M in keyof D as string extends M ? never : M]: D[M] };
/** A method name of service D. */
export type MethodOf<D> = keyof MethodsOf<D> & string;

type Method<D, M extends MethodOf<D>> = MethodsOf<D>[M];
/** The request of D's method M as a client sends it. */
export type RequestSent<D, M extends MethodOf<D>> =
  Method<D, M> extends { requestSerialize: (value: infer R) => Buffer } ? R : never;
/** The request of D's method M as the server receives it. */
export type RequestReceived<D, M extends MethodOf<D>> =
  Method<D, M> extends { requestDeserialize: (bytes: Buffer) => infer R } ? R : never;
/** The response of D's method M as the server returns it. */
export type ResponseSent<D, M extends MethodOf<D>> =
  Method<D, M> extends { responseSerialize: (value: infer R) => Buffer } ? R : never;
/** The response of D's method M as a client receives it. */
export type ResponseReceived<D, M extends MethodOf<D>> =
  Method<D, M> extends { responseDeserialize: (bytes: Buffer) => infer R } ? R : never;

/** One handler (lib/grpc-unary.ts) per method of service D, typed by its messages. */
export type TypedHandlers<D> = { [M in MethodOf<D>]: Handler<RequestReceived<D, M>, ResponseSent<D, M>> };
