import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ResourceExhaustedError } from '@latentfarm/common';
import { RETRY_INFO_TYPE_URL, retryDelayMsOf, RpcStatus, STATUS_DETAILS_KEY } from '@latentfarm/proto';
import { toServiceError } from './status.js';

describe('toServiceError', () => {
  it('sends a refusal\'s retry delay as a google.rpc.Status with a RetryInfo in grpc-status-details-bin', () => {
    const e = toServiceError(new ResourceExhaustedError('tenant "a" is over its submit rate', 12_345));
    expect(e.code).toBe(status.RESOURCE_EXHAUSTED);
    const [bin] = e.metadata?.get(STATUS_DETAILS_KEY) ?? [];
    expect(Buffer.isBuffer(bin)).toBe(true);
    const rich = RpcStatus.decode(bin as Buffer);
    expect(rich).toMatchObject({ code: status.RESOURCE_EXHAUSTED, message: 'tenant "a" is over its submit rate' });
    expect(rich.details.map((d) => d.typeUrl)).toEqual([RETRY_INFO_TYPE_URL]);
    expect(retryDelayMsOf(bin as Buffer)).toBe(12_345);
  });

  it('sends no details when no retry would help', () => {
    expect(toServiceError(new ResourceExhaustedError('too big')).metadata?.get(STATUS_DETAILS_KEY)).toEqual([]);
  });
});
