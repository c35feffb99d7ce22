import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { Logger } from 'pino';
import type Stripe from 'stripe';
import type { ApiContext } from './api';
import type { ControlContext } from './control';
import type { WebhookEndpoint } from './webhooks';
import { STRIPE_API_VERSION } from '../stripe/client';
import { serveApiRequest } from './api';
import { serveControlRequest } from './control';
import { createFaultStore } from './faults';
import { createIdempotencyStore } from './idempotency';
import { createRequestLog } from './request-log';
import { clearState, createState } from './state';
import { createWebhookSender } from './webhooks';
import { newId } from './ids';
import { apiError, errorBody } from './errors';
import { BodyTooLargeError, headerValue, readBody, sendJson } from './http';

export const DEFAULT_SANDBOX_PORT = 12111;
const MAX_BODY_BYTES = 1024 * 1024;

export interface SandboxOptions {
  /** @default '127.0.0.1' */
  readonly host?: string | undefined;
  /** 0 lets the OS pick a free port. @default 12111 */
  readonly port?: number | undefined;
  /** Where to POST signed events; needs `webhookSecret`. Settable later by control API. */
  readonly webhookUrl?: string | undefined;
  readonly webhookSecret?: string | undefined;
  /** Waits before each webhook retry. @default [500, 2000, 8000] */
  readonly webhookRetryDelaysMs?: readonly number[] | undefined;
  /** @default a silent logger */
  readonly logger?: Logger | undefined;
}

export interface RunningSandbox {
  /** e.g. `http://127.0.0.1:12111`, for `createStripeClient({ apiUrl })`. */
  readonly url: string;
  readonly port: number;
  /** Closes every connection, keep-alive ones included, and cancels pending webhooks. */
  stop(): Promise<void>;
}

function initialEndpoint(options: SandboxOptions): WebhookEndpoint | undefined {
  const { webhookUrl: url, webhookSecret: secret } = options;
  if (!url && !secret) return undefined;
  if (!url || !secret) throw new Error('webhookUrl and webhookSecret go together');
  return { url, secret };
}

interface Sandbox {
  readonly api: ApiContext;
  readonly control: ControlContext;
  /** Aborted by `stop()`; ends injected delays. */
  readonly stopping: AbortController;
  readonly stopWebhooks: () => void;
}

function createSandbox(options: SandboxOptions, logger: Logger): Sandbox {
  const state = createState();
  const faults = createFaultStore();
  const idempotency = createIdempotencyStore();
  const requestLog = createRequestLog();
  const webhooks = createWebhookSender({
    retryDelaysMs: options.webhookRetryDelaysMs ?? [500, 2000, 8000],
    timeoutMs: 10_000,
    logger,
  });
  const stopping = new AbortController();
  let endpoint = initialEndpoint(options);

  const publish = (events: readonly Stripe.Event[]) => {
    const target = endpoint;
    if (target) for (const event of events) webhooks.send(target, event);
  };
  // A reset forgets what was done at runtime, the webhook endpoint set by control API too.
  const reset = () => {
    clearState(state);
    faults.clear();
    idempotency.clear();
    requestLog.clear();
    webhooks.cancelPending();
    endpoint = initialEndpoint(options);
  };
  const api = {
    state,
    faults,
    idempotency,
    requestLog,
    publish,
    stopping: stopping.signal,
    logger,
  };
  const control: ControlContext = {
    faults,
    requestLog,
    reset,
    webhookEndpoint: () => endpoint,
    setWebhookEndpoint: (next) => {
      endpoint = next;
    },
  };
  return { api, control, stopping, stopWebhooks: () => webhooks.stop() };
}

async function serveApi(
  sandbox: Sandbox,
  request: http.IncomingMessage,
  response: http.ServerResponse,
  incoming: { method: string; url: URL; body: string; requestId: string },
): Promise<void> {
  const { method, url, body, requestId } = incoming;
  const idempotencyKey = headerValue(request.headers, 'idempotency-key');
  if (idempotencyKey !== undefined) response.setHeader('Idempotency-Key', idempotencyKey);
  const outcome = await serveApiRequest(sandbox.api, {
    method,
    path: url.pathname,
    query: url.search.slice(1),
    body,
    requestId,
    idempotencyKey,
    authorization: headerValue(request.headers, 'authorization'),
  });
  const status = outcome.kind === 'drop' ? 'dropped' : outcome.status;
  sandbox.api.logger.debug({ requestId, method, path: url.pathname, status }, 'Request served');
  if (outcome.kind === 'drop') request.socket.destroy();
  else sendJson(response, outcome.status, outcome.body, outcome.headers);
}

async function handle(
  sandbox: Sandbox,
  request: http.IncomingMessage,
  response: http.ServerResponse,
): Promise<void> {
  const requestId = newId('req', 14);
  response.setHeader('Request-Id', requestId);
  const apiVersion = headerValue(request.headers, 'stripe-version') ?? STRIPE_API_VERSION;
  response.setHeader('Stripe-Version', apiVersion);
  const url = new URL(request.url ?? '/', 'http://sandbox.invalid');
  const method = request.method ?? 'GET';
  const body = await readBody(request, MAX_BODY_BYTES);

  if (!url.pathname.startsWith('/_sandbox/')) {
    await serveApi(sandbox, request, response, { method, url, body, requestId });
    return;
  }
  const answer = serveControlRequest(sandbox.control, method, url.pathname, body);
  sendJson(response, answer.status, JSON.stringify(answer.body, null, 2));
}

function answerFailure(sandbox: Sandbox, response: http.ServerResponse, error: unknown): void {
  if (response.headersSent || response.destroyed) return;
  const tooLarge = error instanceof BodyTooLargeError;
  if (!tooLarge) sandbox.api.logger.error({ err: error }, 'Sandbox request failed');
  const failure = tooLarge ? apiError(413, error.message) : apiError(500, 'Sandbox failure');
  sendJson(response, failure.status, JSON.stringify(errorBody(failure.fields), null, 2));
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Starts the Stripe sandbox and resolves once it accepts connections. */
export async function startSandbox(options: SandboxOptions = {}): Promise<RunningSandbox> {
  const logger = options.logger ?? pino({ level: 'silent' });
  const sandbox = createSandbox(options, logger);
  const server = http.createServer((request, response) => {
    handle(sandbox, request, response).catch((error: unknown) =>
      answerFailure(sandbox, response, error),
    );
  });
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? DEFAULT_SANDBOX_PORT, host);
  let stopped: Promise<void> | undefined;

  const stop = () => {
    stopped ??= new Promise<void>((resolve) => {
      sandbox.stopping.abort();
      sandbox.stopWebhooks();
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return stopped;
  };
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return { url: `http://${urlHost}:${port}`, port, stop };
}
