// Who is calling. Every farm method a handler calls takes one as its first
// argument, obtained from the call in one place (grpc/principal.ts). Today
// there is one kind: nobody authenticates. Tenants, admins and workers with
// their own credentials (issue 13) become more kinds of this union, and the
// farm's job lookups are where a tenant's view is narrowed to its own jobs.
export type Principal = { readonly kind: 'anonymous' };

export const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous' });
