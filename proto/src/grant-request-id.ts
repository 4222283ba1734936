// A credit grant's request id (GrantCreditsRequest.request_id): short, and safe
// in logs and JSON. The coordinator refuses any other with INVALID_ARGUMENT; the
// CLI refuses it before sending.

export const GRANT_REQUEST_ID_RULE = '1-64 characters of A-Z a-z 0-9 . _ : -';

export const isGrantRequestId = (s: string): boolean => /^[A-Za-z0-9._:-]{1,64}$/.test(s);
