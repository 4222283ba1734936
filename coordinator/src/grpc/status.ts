// The one place where domain errors become gRPC status codes.
import { status, Metadata, type ServiceError } from '@grpc/grpc-js';
import { STATUS_DETAILS_KEY, statusWithRetryDelay } from '@latentfarm/proto';
import {
  AlreadyExistsError, CancelledError, FailedPreconditionError, InvalidArgumentError, NotFoundError, PermissionDeniedError, ResourceExhaustedError,
  UnauthenticatedError, UnavailableError,
} from '@latentfarm/common';

/**
 * Longest status message sent. Messages quote input only as short excerpts
 * (jobs/bounds.ts), so this is a backstop: a message that still grew past it
 * (a long list of models, an internal error quoting a request) is cut, since
 * some clients cannot read a status past about 8 KB of metadata.
 */
export const MAX_DETAILS_CHARS = 1_024;

export function toServiceError(err: unknown): Partial<ServiceError> {
  const code = err instanceof InvalidArgumentError ? status.INVALID_ARGUMENT
    : err instanceof NotFoundError ? status.NOT_FOUND
      : err instanceof ResourceExhaustedError ? status.RESOURCE_EXHAUSTED
        : err instanceof UnavailableError ? status.UNAVAILABLE
          : err instanceof FailedPreconditionError ? status.FAILED_PRECONDITION
            : err instanceof UnauthenticatedError ? status.UNAUTHENTICATED
              : err instanceof PermissionDeniedError ? status.PERMISSION_DENIED
                : err instanceof AlreadyExistsError ? status.ALREADY_EXISTS
                  : err instanceof CancelledError ? status.CANCELLED
                    : status.INTERNAL;
  const message = err instanceof Error ? err.message : String(err);
  const details = cut(code === status.INTERNAL ? `internal error: ${message}` : message);
  const metadata = new Metadata();
  // When a retry may succeed (a quota, a full queue), say when, as the rich error model does: a google.rpc.Status
  // with a google.rpc.RetryInfo, which gRPC clients in any language can read.
  if (err instanceof ResourceExhaustedError && err.retryAfterMs !== undefined) {
    metadata.set(STATUS_DETAILS_KEY, statusWithRetryDelay(code, details, err.retryAfterMs));
  }
  return { code, details, metadata };
}

export function isInternal(err: unknown): boolean {
  return toServiceError(err).code === status.INTERNAL;
}

function cut(details: string): string {
  return details.length <= MAX_DETAILS_CHARS ? details : `${details.slice(0, MAX_DETAILS_CHARS - 30)}… (message cut)`;
}
