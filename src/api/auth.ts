/**
 * Who is calling (SPEC 5): the admin key, the pipeline key, or one merchant's key. Each
 * route declares which kinds may call it in `config.access`; this hook resolves the key,
 * answers 401 for a missing or wrong key, 403 for a kind the route does not allow, and
 * 404 when a merchant key names another merchant, so ids of others are not even confirmed.
 */
import type { FastifyRequest, onRequestAsyncHookHandler, preParsingHookHandler } from 'fastify';
import type { Database } from '../db/client';
import { type KeyDigest, keyDigest, matchesKey, merchantIdForKey } from '../merchants/api-keys';
import { ApiError } from './errors';

export type CallerKind = 'admin' | 'pipeline' | 'merchant';

export type Caller =
  | { readonly kind: 'admin' }
  | { readonly kind: 'pipeline' }
  | { readonly kind: 'merchant'; readonly merchantId: string };

/** `public`: no key needed (health, docs, Stripe's signed webhooks). */
export type Access = 'public' | readonly CallerKind[];

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    caller: Caller | null;
    /** Set by authentication, thrown once the rate limit has counted the request. */
    refusal: ApiError | null;
  }
}

export interface AuthDeps {
  readonly db: Database;
  readonly adminApiKey: string | undefined;
  readonly pipelineApiKey: string | undefined;
}

const BEARER = /^Bearer ([\x21-\x7e]{1,200})$/;

function bearerKey(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (header === undefined) return null;
  return BEARER.exec(header)?.[1] ?? null;
}

interface ConfiguredKeys {
  readonly admin: KeyDigest | undefined;
  readonly pipeline: KeyDigest | undefined;
}

async function resolveCaller(
  db: Database,
  keys: ConfiguredKeys,
  key: string,
): Promise<Caller | null> {
  const given = keyDigest(key);
  // Both comparisons always run, so timing does not tell which kind a key was close to.
  const admin = keys.admin !== undefined && matchesKey(given, keys.admin);
  const pipeline = keys.pipeline !== undefined && matchesKey(given, keys.pipeline);
  if (admin) return { kind: 'admin' };
  if (pipeline) return { kind: 'pipeline' };
  const merchantId = await merchantIdForKey(db, key);
  return merchantId === null ? null : { kind: 'merchant', merchantId };
}

/** The merchant id in the route's path, if the route has one. */
function merchantIdInPath(request: FastifyRequest): string | undefined {
  const params = request.params as Record<string, unknown> | undefined;
  return typeof params?.id === 'string' ? params.id : undefined;
}

/** Routes that plugins add for the OpenAPI document: public, and declared so here. */
const DOCS_PREFIX = '/docs';

/**
 * The refusal a request has earned, or null when it may go on. Sets `request.caller`.
 * A route that declares no access rule is refused: a forgotten rule must not open a route.
 */
async function refusalOf(
  request: FastifyRequest,
  db: Database,
  keys: ConfiguredKeys,
): Promise<ApiError | null> {
  const route = request.routeOptions.url;
  // Unknown routes fall through to the 404 handler.
  if (route === undefined) return null;
  const access = request.routeOptions.config.access;
  if (access === 'public' || (access === undefined && route.startsWith(DOCS_PREFIX))) return null;
  if (access === undefined) return new ApiError('forbidden', 'This route has no access rule');

  const key = bearerKey(request);
  if (key === null) return new ApiError('unauthorized', 'Send Authorization: Bearer <key>');
  const caller = await resolveCaller(db, keys, key);
  if (caller === null) return new ApiError('unauthorized', 'The API key is not valid');
  request.caller = caller;

  if (!access.includes(caller.kind)) {
    return new ApiError('forbidden', `A ${caller.kind} key may not use this route`);
  }
  const pathMerchant = merchantIdInPath(request);
  if (caller.kind === 'merchant' && pathMerchant !== undefined) {
    if (pathMerchant !== caller.merchantId) return new ApiError('merchant_not_found');
  }
  return null;
}

export interface AuthHooks {
  /** onRequest: resolves the caller, so the rate limit can count it by its key. */
  readonly identify: onRequestAsyncHookHandler;
  /**
   * preParsing: refuses what `identify` found wrong. It runs after the rate limit's own
   * onRequest hook, so wrong keys count against their address and a guesser meets 429.
   */
  readonly enforce: preParsingHookHandler;
}

export function authenticate(deps: AuthDeps): AuthHooks {
  // Hashed once here rather than on every request: the usage path serves thousands a second.
  const keys: ConfiguredKeys = {
    admin: deps.adminApiKey === undefined ? undefined : keyDigest(deps.adminApiKey),
    pipeline: deps.pipelineApiKey === undefined ? undefined : keyDigest(deps.pipelineApiKey),
  };
  return {
    async identify(request) {
      request.caller = null;
      request.refusal = await refusalOf(request, deps.db, keys);
    },
    enforce(request, _reply, _payload, done) {
      done(request.refusal ?? undefined);
    },
  };
}
