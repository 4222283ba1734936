// Domain errors. Each class names a kind of failure a caller can act on; the
// coordinator maps them to gRPC status codes in one place (grpc/status.ts).

export class LatentfarmError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The request is wrong and retrying it unchanged cannot help. */
export class InvalidArgumentError extends LatentfarmError {
  constructor(readonly field: string, message: string, options?: { cause?: unknown }) {
    super(field ? `${field}: ${message}` : message, options);
  }
}

export class NotFoundError extends LatentfarmError {}

/**
 * A limit of the farm (queue capacity, quota) is reached; retry later or ask for less.
 * `retryAfterMs`: when a retry may succeed (sent as a google.rpc.RetryInfo); undefined when
 * no wait would help as asked (ask for less).
 */
export class ResourceExhaustedError extends LatentfarmError {
  constructor(message: string, readonly retryAfterMs?: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A dependency (storage, NATS) is unreachable right now; retry later. */
export class UnavailableError extends LatentfarmError {}

/** The operation does not fit the current state (e.g. cancelling a finished job). */
export class FailedPreconditionError extends LatentfarmError {}

/** The caller presented no credential, or one that is unknown, revoked or expired. */
export class UnauthenticatedError extends LatentfarmError {}

/** The caller is known but its role may not do this. */
export class PermissionDeniedError extends LatentfarmError {}

/** The caller gave up on its request (cancelled it) before it was done: nothing of it was kept. */
export class CancelledError extends LatentfarmError {}

/** What the caller asked to create exists already. */
export class AlreadyExistsError extends LatentfarmError {}

/** Invalid configuration at start-up: the message is one line naming the setting. */
export class ConfigError extends LatentfarmError {}

/**
 * A short, fixed name for the kind of an error (`invalid_argument`, `not_found`, …; `error` for any other), for
 * metric labels and audit lines: a small set whatever the message says.
 */
export function errorKind(err: unknown): string {
  if (err instanceof InvalidArgumentError) return 'invalid_argument';
  if (err instanceof NotFoundError) return 'not_found';
  if (err instanceof ResourceExhaustedError) return 'resource_exhausted';
  if (err instanceof UnavailableError) return 'unavailable';
  if (err instanceof FailedPreconditionError) return 'failed_precondition';
  if (err instanceof UnauthenticatedError) return 'unauthenticated';
  if (err instanceof PermissionDeniedError) return 'permission_denied';
  if (err instanceof AlreadyExistsError) return 'already_exists';
  return 'error';
}
