import type { ApiRequest, Handler, HandlerResult } from './handler';
import type { SandboxState } from './state';
import { unrecognizedUrl } from './errors';
import { retrieveCharge } from './charges';
import { createCustomer, retrieveCustomer, updateCustomer } from './customers';
import { retrieveEvent } from './events';
import {
  attachPaymentMethod,
  createPaymentMethod,
  detachPaymentMethod,
  listCustomerPaymentMethods,
  listPaymentMethods,
  retrievePaymentMethod,
} from './payment-methods';
import {
  confirmPaymentIntentById,
  createPaymentIntent,
  listPaymentIntents,
  retrievePaymentIntent,
} from './payment-intents';
import { searchPaymentIntents } from './search';

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly handler: Handler;
}

// `:id` stands for one path segment, handed to the handler in order.
function route(method: string, path: string, handler: Handler): Route {
  const pattern = new RegExp(`^${path.replace(/:[a-z]+/g, '([^/]+)')}$`);
  return { method, pattern, handler };
}

// First match wins: `/search` must come before `/:id`.
const ROUTES: readonly Route[] = [
  route('POST', '/v1/customers', createCustomer),
  route('GET', '/v1/customers/:id', retrieveCustomer),
  route('POST', '/v1/customers/:id', updateCustomer),
  route('GET', '/v1/customers/:id/payment_methods', listCustomerPaymentMethods),
  route('POST', '/v1/payment_methods', createPaymentMethod),
  route('GET', '/v1/payment_methods', listPaymentMethods),
  route('GET', '/v1/payment_methods/:id', retrievePaymentMethod),
  route('POST', '/v1/payment_methods/:id/attach', attachPaymentMethod),
  route('POST', '/v1/payment_methods/:id/detach', detachPaymentMethod),
  route('POST', '/v1/payment_intents', createPaymentIntent),
  route('GET', '/v1/payment_intents', listPaymentIntents),
  route('GET', '/v1/payment_intents/search', searchPaymentIntents),
  route('GET', '/v1/payment_intents/:id', retrievePaymentIntent),
  route('POST', '/v1/payment_intents/:id/confirm', confirmPaymentIntentById),
  route('GET', '/v1/charges/:id', retrieveCharge),
  route('GET', '/v1/events/:id', retrieveEvent),
];

/** Runs the handler for the request's method and path; unknown ones are Stripe's 404. */
export function dispatch(request: ApiRequest, state: SandboxState): HandlerResult {
  for (const candidate of ROUTES) {
    if (candidate.method !== request.method) continue;
    const match = candidate.pattern.exec(request.path);
    if (match) return candidate.handler(request, match.slice(1), state);
  }
  throw unrecognizedUrl(request.method, request.path);
}
