import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type Stripe from 'stripe';
import type { ApiRequest, HandlerResult } from './handler';
import type { Fault, FaultStore } from './faults';
import type { IdempotencyStore, SavedResponse } from './idempotency';
import type { RequestLog } from './request-log';
import type { SandboxState } from './state';
import { checkAuthorization } from './auth';
import { dispatch } from './routes';
import { FormError, parseForm } from './form';
import { requestFingerprint } from './idempotency';
import {
  StripeRequestError,
  apiError,
  errorBody,
  idempotencyKeyInUse,
  idempotencyMismatch,
  invalidRequest,
  rateLimited,
} from './errors';

/** Everything the Stripe API side of the sandbox works with. */
export interface ApiContext {
  readonly state: SandboxState;
  readonly faults: FaultStore;
  readonly idempotency: IdempotencyStore;
  readonly requestLog: RequestLog;
  /** Hands the events of a request to the webhook sender, once its work is done. */
  readonly publish: (events: readonly Stripe.Event[]) => void;
  /** Aborted when the sandbox stops; cuts injected delays short. */
  readonly stopping: AbortSignal;
  readonly logger: Logger;
}

/** A request to a Stripe path as the HTTP layer read it. */
export interface IncomingApiRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly body: string;
  readonly authorization: string | undefined;
  readonly idempotencyKey: string | undefined;
  readonly requestId: string;
}

/** What the HTTP layer must do: answer, or cut the connection without a word. */
export type ApiOutcome =
  | {
      readonly kind: 'answer';
      readonly status: number;
      readonly body: string;
      readonly headers: Readonly<Record<string, string>>;
    }
  | { readonly kind: 'drop' };

// Stripe answers indented JSON.
function stringify(body: unknown): string {
  return JSON.stringify(body, null, 2);
}

function refuse(error: StripeRequestError): ApiOutcome {
  return {
    kind: 'answer',
    status: error.status,
    body: stringify(errorBody(error.fields)),
    headers: {},
  };
}

function injectedError(fault: Fault): StripeRequestError {
  return apiError(
    fault.status,
    `An unknown error occurred (injected by the Stripe sandbox: ` +
      `${fault.mode}, fault ${fault.id}).`,
  );
}

function decode(incoming: IncomingApiRequest): ApiRequest {
  try {
    const params = parseForm(incoming.method === 'POST' ? incoming.body : incoming.query);
    const { method, path, requestId, idempotencyKey } = incoming;
    return { method, path, params, requestId, idempotencyKey };
  } catch (error) {
    if (error instanceof FormError) throw invalidRequest(error.message);
    throw error;
  }
}

function delayFor(context: ApiContext, fault: Fault | undefined): Promise<void> {
  if (fault?.mode !== 'delay') return Promise.resolve();
  return sleep(fault.delayMs, undefined, { signal: context.stopping });
}

/**
 * Does the work of a request. What the handler returns is saved under the key, even a
 * 402; what it throws (validation) is not, and frees the key for a corrected retry.
 */
async function execute(
  context: ApiContext,
  request: ApiRequest,
  fault: Fault | undefined,
  key: string | undefined,
): Promise<ApiOutcome> {
  let result: HandlerResult;
  try {
    await delayFor(context, fault);
    result = dispatch(request, context.state);
  } catch (error) {
    if (key !== undefined) context.idempotency.release(key);
    throw error;
  }
  // error_after: the work stands, but the key keeps the error, as if Stripe failed late.
  const failure = fault?.mode === 'error_after' ? injectedError(fault) : undefined;
  const answer = failure
    ? { status: failure.status, body: errorBody(failure.fields) }
    : result.response;
  const saved = {
    status: answer.status,
    body: stringify(answer.body),
    requestId: request.requestId,
  };
  if (key !== undefined) context.idempotency.save(key, saved);
  context.publish(result.events);
  if (fault?.mode === 'drop_after') return { kind: 'drop' };
  return { kind: 'answer', status: saved.status, body: saved.body, headers: {} };
}

/** A repeat of a finished request: its saved answer, unless a fault says otherwise. */
async function replay(
  context: ApiContext,
  saved: SavedResponse,
  fault: Fault | undefined,
): Promise<ApiOutcome> {
  await delayFor(context, fault);
  if (fault?.mode === 'drop_after') return { kind: 'drop' };
  if (fault?.mode === 'error_after') return refuse(injectedError(fault));
  const headers = { 'Idempotent-Replayed': 'true', 'Original-Request': saved.requestId };
  return { kind: 'answer', status: saved.status, body: saved.body, headers };
}

async function serve(context: ApiContext, incoming: IncomingApiRequest): Promise<ApiOutcome> {
  const unauthorized = checkAuthorization(incoming.authorization);
  if (unauthorized) return refuse(unauthorized);

  const fault = context.faults.take(incoming.method, incoming.path);
  if (fault?.mode === 'error_before') return refuse(injectedError(fault));
  if (fault?.mode === 'rate_limit') return refuse(rateLimited());

  const request = decode(incoming);
  const key = incoming.method === 'POST' ? incoming.idempotencyKey : undefined;
  if (key === undefined) return execute(context, request, fault, undefined);
  if (key.length > 255) throw invalidRequest('Idempotency-Key must be at most 255 characters.');

  const claim = context.idempotency.claim(
    key,
    requestFingerprint(request.method, request.path, request.params),
  );
  switch (claim.kind) {
    case 'mismatch':
      throw idempotencyMismatch(key);
    case 'in_use':
      throw idempotencyKeyInUse(key);
    case 'replay':
      return replay(context, claim.saved, fault);
    case 'new':
      return execute(context, request, fault, key);
  }
}

/**
 * Serves one Stripe API request: authentication, injected faults, idempotency, then the
 * route. Records it in the request log with the status answered (null when dropped).
 */
export async function serveApiRequest(
  context: ApiContext,
  incoming: IncomingApiRequest,
): Promise<ApiOutcome> {
  const entry = context.requestLog.begin(
    incoming.method,
    incoming.path,
    incoming.idempotencyKey ?? null,
  );
  const outcome = await serve(context, incoming).catch((error: unknown): ApiOutcome => {
    if (error instanceof StripeRequestError) return refuse(error);
    if (context.stopping.aborted) return { kind: 'drop' };
    context.logger.error({ err: error, requestId: incoming.requestId }, 'Sandbox request failed');
    return refuse(apiError(500, 'An unexpected error occurred in the Stripe sandbox.'));
  });
  entry.finish(outcome.kind === 'answer' ? outcome.status : null);
  return outcome;
}
