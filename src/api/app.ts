/**
 * The REST API of SPEC 5 as a Fastify app: auth on every route by its declared access,
 * rate limits per key, one schema per route (validation, serialization, OpenAPI at /docs),
 * one error body for every failure, request ids and metrics.
 */
import { randomUUID } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import { authenticate } from './auth';
import type { ApiDeps } from './deps';
import { handleError } from './error-handler';
import { ApiError, errorBody } from './errors';
import { Strict } from './schemas/common';
import { authenticationRoutes } from './routes/authentication';
import { autoReloadRoutes } from './routes/auto-reload';
import { historyRoutes } from './routes/history';
import { ledgerRoutes } from './routes/ledger';
import { merchantRoutes } from './routes/merchants';
import { operationsRoutes } from './routes/operations';
import { stripeWebhookRoutes } from './routes/stripe-webhooks';
import { usageRoutes } from './routes/usage';

const RATE_WINDOW_MS = 60_000;

/** The app with TypeBox types on every route. */
export type ApiApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** The bucket a request counts against: its key, or its address when it has none. */
function rateKey(request: FastifyRequest): string {
  const caller = request.caller;
  if (caller === null) return `address:${request.ip}`;
  return caller.kind === 'merchant' ? `merchant:${caller.merchantId}` : caller.kind;
}

async function registerRateLimit(app: ApiApp, deps: ApiDeps): Promise<void> {
  const limits = deps.config.rateLimits;
  await app.register(rateLimit, {
    global: true,
    timeWindow: RATE_WINDOW_MS,
    keyGenerator: rateKey,
    max: (request) => (request.caller ? limits[request.caller.kind] : limits.anonymous),
    errorResponseBuilder: (_request, context) =>
      new ApiError(
        'rate_limited',
        `At most ${context.max} requests a minute; retry in ${context.after}`,
      ),
  });
}

async function registerDocs(app: ApiApp): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Auto Reload API',
        version: '1',
        description: 'Keeps a merchant’s prepaid SMS credit from running dry.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}

/**
 * Graceful close: requests in progress finish, and each answer given while closing ends
 * its keep-alive connection. Without that, a connection busy when the close began stays
 * open until the keep-alive timeout (72 s) and holds the shutdown that long.
 */
function drainOnClose(app: ApiApp): void {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });
}

function observe(app: ApiApp, deps: ApiDeps): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const labels = { method: request.method, route };
    deps.metrics.requests.inc({ ...labels, status: String(reply.statusCode) });
    deps.metrics.requestSeconds.observe(labels, reply.elapsedTime / 1000);
    const attributes = { method: request.method, route, status: reply.statusCode };
    const durationMs = Math.round(reply.elapsedTime * 10) / 10;
    // Successes at debug: the usage path serves thousands a second.
    if (reply.statusCode < 400) request.log.debug({ ...attributes, durationMs }, 'Answered');
  });
}

/** A caller's id is kept only if it is short and plain: it goes into every log line. */
const CALLER_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

function requestId(request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && CALLER_REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * Routes without a querystring schema get an empty strict one, so that an unknown query
 * parameter is refused everywhere rather than ignored.
 */
function refuseUnknownQueries(app: ApiApp): void {
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/v1/')) return;
    route.schema = { ...route.schema, querystring: route.schema?.querystring ?? Strict({}) };
  });
}

/** Builds the app without listening; tests use `inject()` on it. */
export async function buildApp(deps: ApiDeps): Promise<ApiApp> {
  // Typed as Fastify's logger interface so the app's type does not carry pino's.
  const loggerInstance: FastifyBaseLogger = deps.log;
  const app = Fastify({
    loggerInstance,
    // One line per answer comes from our own onResponse hook, at a level by status.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.config.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: requestId,
    // Errors Fastify meets before routing (a malformed URL) get our error body too.
    frameworkErrors: (error, request, reply) => {
      void handleError(error, request, reply);
    },
    // Refuse rather than repair: unknown fields and wrong types are the caller's to fix.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorateRequest('caller', null);
  app.decorateRequest('refusal', null);
  // JSON only: a plain-text body is refused with 415 instead of failing validation.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody('not_found', `No route ${request.method} ${request.url}`)),
  );
  const auth = authenticate({ db: deps.database.db, ...deps.config });
  app.addHook('onRequest', auth.identify);
  app.addHook('preParsing', auth.enforce);
  observe(app, deps);
  drainOnClose(app);
  refuseUnknownQueries(app);
  await registerRateLimit(app, deps);
  await registerDocs(app);

  for (const routes of [
    merchantRoutes,
    usageRoutes,
    ledgerRoutes,
    autoReloadRoutes,
    authenticationRoutes,
    historyRoutes,
    stripeWebhookRoutes,
    operationsRoutes,
  ]) {
    await app.register(routes, { deps });
  }
  return app;
}
