import type Stripe from 'stripe';
import type { ApiRequest, Handler } from './handler';
import type { SandboxState } from './state';
import { STRIPE_API_VERSION } from '../stripe/client';
import { ok } from './handler';
import { newId, unixSeconds } from './ids';
import { resourceMissing } from './errors';
import { rejectUnknown } from './params';
import { snapshot } from './state';

/** The PaymentIntent outcomes the sandbox announces by webhook. */
export type PaymentIntentEvent =
  Stripe.PaymentIntentSucceededEvent | Stripe.PaymentIntentPaymentFailedEvent;

/**
 * Records the event for a PaymentIntent outcome. The event carries a copy of the
 * PaymentIntent as it was at that moment, as Stripe's do.
 */
export function recordPaymentIntentEvent(
  state: SandboxState,
  type: PaymentIntentEvent['type'],
  paymentIntent: Stripe.PaymentIntent,
  request: ApiRequest,
): PaymentIntentEvent {
  const event: PaymentIntentEvent = {
    id: newId('evt'),
    object: 'event',
    api_version: STRIPE_API_VERSION,
    created: unixSeconds(),
    data: { object: snapshot(paymentIntent) },
    livemode: false,
    pending_webhooks: 1,
    request: { id: request.requestId, idempotency_key: request.idempotencyKey ?? null },
    type,
  };
  state.events.set(event.id, event);
  return event;
}

export const retrieveEvent: Handler = (request, [id = ''], state) => {
  rejectUnknown(request.params, []);
  const event = state.events.get(id);
  if (!event) throw resourceMissing('event', id);
  return ok(event);
};
