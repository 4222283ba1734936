// The one place where domain errors become gRPC status codes.
import { status, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, PermissionDeniedError, ResourceExhaustedError,
  UnauthenticatedError, UnavailableError,
} from '@latentfarm/common';

export function toServiceError(err: unknown): Partial<ServiceError> {
  const code = err instanceof InvalidArgumentError ? status.INVALID_ARGUMENT
    : err instanceof NotFoundError ? status.NOT_FOUND
      : err instanceof ResourceExhaustedError ? status.RESOURCE_EXHAUSTED
        : err instanceof UnavailableError ? status.UNAVAILABLE
          : err instanceof FailedPreconditionError ? status.FAILED_PRECONDITION
            : err instanceof UnauthenticatedError ? status.UNAUTHENTICATED
              : err instanceof PermissionDeniedError ? status.PERMISSION_DENIED
                : err instanceof AlreadyExistsError ? status.ALREADY_EXISTS
                  : status.INTERNAL;
  const message = err instanceof Error ? err.message : String(err);
  return { code, details: code === status.INTERNAL ? `internal error: ${message}` : message, metadata: new Metadata() };
}

export function isInternal(err: unknown): boolean {
  return toServiceError(err).code === status.INTERNAL;
}
