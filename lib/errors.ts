/**
 * The error of the gRPC boundary: a status code and details, chosen by the layer that finds the
 * problem. Anything else that reaches the boundary becomes INTERNAL (and is logged), so a
 * dependency's code is never passed through by accident.
 */
import { status } from '@grpc/grpc-js';

export class StatusError extends Error {
  constructor(
    readonly code: status,
    readonly details: string,
    options?: { cause?: unknown },
  ) {
    super(details, options);
    this.name = 'StatusError';
  }
}

export const invalidArgument = (details: string): StatusError => new StatusError(status.INVALID_ARGUMENT, details);
export const notFound = (details: string): StatusError => new StatusError(status.NOT_FOUND, details);
export const alreadyExists = (details: string): StatusError => new StatusError(status.ALREADY_EXISTS, details);
export const failedPrecondition = (details: string): StatusError =>
  new StatusError(status.FAILED_PRECONDITION, details);
export const aborted = (details: string): StatusError => new StatusError(status.ABORTED, details);
export const outOfRange = (details: string): StatusError => new StatusError(status.OUT_OF_RANGE, details);
export const resourceExhausted = (details: string): StatusError => new StatusError(status.RESOURCE_EXHAUSTED, details);
export const unavailable = (details: string): StatusError => new StatusError(status.UNAVAILABLE, details);
export const internal = (details: string, cause?: unknown): StatusError =>
  new StatusError(status.INTERNAL, details, { cause });
