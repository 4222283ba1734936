// The console's HTTP server (node:http, no framework): the built pages, the
// JSON API (routes.ts) and log-in. It talks to the farm only through
// ClientApi, with the caller's principal on every call, as gRPC does.
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { InvalidArgumentError, listenError, PermissionDeniedError, UnauthenticatedError, type Logger } from '@latentfarm/common';
import { CONSOLE_FILES, consoleAssetsDir, type SessionView } from '@latentfarm/console';
import type { ClientApi } from '../farm/api.js';
import { LOCAL_ADMIN, type Principal } from '../farm/principal.js';
import { readJson, sendError, sendJson, SECURITY_HEADERS } from './http-io.js';
import { apiRoutes, type Route, type RouteContext } from './routes.js';
import { clearedSessionCookie, cookieValue, SESSION_COOKIE, sessionCookie, Sessions, type KeyCheck } from './sessions.js';
import type { IdentityStore } from '../store/identity.js';
import { httpStatus } from './status.js';

export interface HttpServerOptions {
  host: string;
  port: number;
  /** The coordinator's API-key check and the store of sessions; undefined: no log-in (--no-auth, `up`: every caller is the local admin). */
  auth: { keys: KeyCheck; sessions: Pick<IdentityStore, 'createSession' | 'getSession' | 'deleteSession'> } | undefined;
  sessionTtlMs: number;
  log: Logger;
}

export interface HttpServer {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

/** Pages: scripts, styles, images and connections only from this server; nothing may frame it. */
const PAGE_POLICY = "default-src 'self'; img-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

interface CompiledRoute {
  method: string;
  pattern: RegExp;
  route: Route;
}

function compile(routes: Record<string, Route>): CompiledRoute[] {
  return Object.entries(routes).map(([key, route]) => {
    const [method = '', path = ''] = key.split(' ');
    const pattern = new RegExp(`^${path.replace(/:[a-z]+/g, '([^/]+)')}$`);
    return { method, pattern, route };
  });
}

export async function startHttpServer(farm: ClientApi, o: HttpServerOptions): Promise<HttpServer> {
  const auth = o.auth?.keys;
  const sessions = o.auth === undefined ? undefined : new Sessions(o.auth.sessions, o.auth.keys, o.sessionTtlMs);
  const assets = consoleAssetsDir();

  const principalOf = async (req: IncomingMessage): Promise<Principal> => {
    if (auth === undefined || sessions === undefined) return LOCAL_ADMIN;
    const fromSession = await sessions.principal(cookieValue(req.headers.cookie, SESSION_COOKIE));
    if (fromSession !== undefined) return fromSession;
    // Scripts may call the API with the key itself, as gRPC clients do.
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (bearer !== undefined) return checkKey(auth, bearer, o.log);
    throw new UnauthenticatedError('not logged in: log in with an API key');
  };

  const routes = compile({
    ...apiRoutes(farm, o.log),
    'GET /api/session': async (ctx) => {
      let loggedIn = true;
      try {
        await ctx.principal();
      } catch (err) {
        if (!(err instanceof UnauthenticatedError)) throw err;
        loggedIn = false;
      }
      const body: SessionView = { auth: auth !== undefined, loggedIn };
      sendJson(ctx.res, 200, body);
    },
    'POST /api/login': async (ctx) => {
      const body = await readJson(ctx.req);
      const key = (body as { key?: unknown }).key;
      if (typeof key !== 'string' || key.trim() === '') throw new InvalidArgumentError('key', 'give an API key');
      const view: SessionView = { auth: auth !== undefined, loggedIn: true };
      if (auth === undefined || sessions === undefined) {
        sendJson(ctx.res, 200, view);
        return;
      }
      const { token, maxAgeS } = await sessions.open(await checkKey(auth, key.trim(), o.log));
      sendJson(ctx.res, 200, view, { 'set-cookie': sessionCookie(token, maxAgeS) });
    },
    'POST /api/logout': async (ctx) => {
      await sessions?.close(cookieValue(ctx.req.headers.cookie, SESSION_COOKIE));
      const view: SessionView = { auth: auth !== undefined, loggedIn: auth === undefined };
      sendJson(ctx.res, 200, view, { 'set-cookie': clearedSessionCookie });
    },
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://console.invalid');
    const method = req.method ?? 'GET';
    if (url.pathname.startsWith('/api/')) {
      let allowed: string[] = [];
      for (const r of routes) {
        const m = r.pattern.exec(url.pathname);
        if (m === null) continue;
        if (r.method !== method) {
          allowed.push(r.method);
          continue;
        }
        const ctx: RouteContext = { req, res, url, principal: () => principalOf(req) };
        await r.route(ctx, m.slice(1));
        return;
      }
      allowed = [...new Set(allowed)];
      if (allowed.length > 0) sendJson(res, 405, { error: `use ${allowed.join(' or ')}` }, { allow: allowed.join(', ') });
      else sendJson(res, 404, { error: `no such API: ${url.pathname.slice(0, 80)}` });
      return;
    }
    const file = CONSOLE_FILES.find((f) => f.path === url.pathname);
    if (file === undefined || (method !== 'GET' && method !== 'HEAD')) {
      res.writeHead(404, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    let data: Buffer;
    try {
      data = await readFile(join(assets, file.file));
    } catch {
      res.writeHead(503, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' })
        .end(`the console is not built (${join(assets, file.file)} is missing): run \`npm run build\`\n`);
      return;
    }
    res.writeHead(200, {
      ...SECURITY_HEADERS, 'content-type': file.type, 'content-length': String(data.length),
      // The page names its script and stylesheet without a version, so each load asks again (cheap on loopback).
      'cache-control': 'no-cache', 'content-security-policy': PAGE_POLICY,
    });
    res.end(method === 'HEAD' ? undefined : data);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (httpStatus(err) >= 500) o.log.error({ err, url: req.url }, 'console request failed');
      sendError(res, err);
    });
  });
  server.listen(o.port, o.host);
  try {
    await once(server, 'listening');
  } catch (err) {
    throw listenError(err, o.host, o.port) ?? err;
  }
  return {
    server,
    port: (server.address() as AddressInfo).port,
    async close() {
      // Event streams stay open until their browser leaves: end them rather than wait.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const WORKER_KEY_AT_CONSOLE = 'a worker key cannot use the console: log in with a tenant or admin key';

async function checkKey(auth: KeyCheck, key: string, log: Logger): Promise<Principal> {
  let principal: Principal;
  try {
    principal = await auth.authenticate(key);
  } catch (err) {
    log.debug({ err }, 'console log-in refused');
    if (err instanceof PermissionDeniedError) throw new PermissionDeniedError(WORKER_KEY_AT_CONSOLE, { cause: err });
    throw new UnauthenticatedError('that API key is not valid', { cause: err });
  }
  // The console is the RenderFarm API in a browser: tenants and admins use it, a worker's key is for the WorkerGateway only.
  if (principal.kind === 'worker') throw new PermissionDeniedError(WORKER_KEY_AT_CONSOLE);
  return principal;
}
