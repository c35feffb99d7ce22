import type Stripe from 'stripe';
import type { FormObject } from './form';
import type { SandboxState } from './state';

/** One Stripe API request, decoded. */
export interface ApiRequest {
  readonly method: string;
  /** The path without the query string, e.g. `/v1/payment_intents`. */
  readonly path: string;
  /** Body parameters for POST, query parameters otherwise. */
  readonly params: FormObject;
  readonly requestId: string;
  readonly idempotencyKey: string | undefined;
}

export interface ApiResponse {
  readonly status: number;
  readonly body: unknown;
}

/** What a handler did: its answer and the events it caused, sent as webhooks afterwards. */
export interface HandlerResult {
  readonly response: ApiResponse;
  readonly events: readonly Stripe.Event[];
}

/**
 * Serves one route. A handler validates first and throws `StripeRequestError` before
 * changing any state (never saved under an idempotency key); whatever it returns,
 * including a 402 decline, is the outcome of work done and is saved.
 */
export type Handler = (
  request: ApiRequest,
  pathParams: readonly string[],
  state: SandboxState,
) => HandlerResult;

export function ok(body: unknown, events: readonly Stripe.Event[] = []): HandlerResult {
  return { response: { status: 200, body }, events };
}
