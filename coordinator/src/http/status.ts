// The one place where domain errors become HTTP status codes (as
// grpc/status.ts does for gRPC), with one line a person can act on.
import {
  AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, PermissionDeniedError, ResourceExhaustedError,
  UnauthenticatedError, UnavailableError,
} from '@latentfarm/common';

/** A request body over the limit. */
export class TooLargeError extends Error {
  override readonly name = 'TooLargeError';
}

export function httpStatus(err: unknown): number {
  return err instanceof InvalidArgumentError ? 400
    : err instanceof UnauthenticatedError ? 401
      : err instanceof PermissionDeniedError ? 403
        : err instanceof NotFoundError ? 404
          : err instanceof FailedPreconditionError || err instanceof AlreadyExistsError ? 409
          : err instanceof TooLargeError ? 413
            : err instanceof ResourceExhaustedError ? 429
              : err instanceof UnavailableError ? 503
                : 500;
}

export function errorMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return httpStatus(err) === 500 ? 'internal error (see the coordinator log)' : message;
}
