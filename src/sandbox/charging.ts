import type Stripe from 'stripe';
import type { ApiRequest, HandlerResult } from './handler';
import type { SandboxState, StoredPaymentMethod } from './state';
import type { Decline } from './charges';
import { ok } from './handler';
import { newId } from './ids';
import { recordCharge } from './charges';
import { recordPaymentIntentEvent } from './events';
import { docUrl, errorBody, invalidRequest } from './errors';
import { snapshot } from './state';

const AUTHENTICATION_REQUIRED: Decline = {
  code: 'authentication_required',
  declineCode: 'authentication_required',
  message: 'Your card was declined. This transaction requires authentication.',
};

/**
 * Stripe charges only a PaymentMethod attached to the PaymentIntent's customer; one used
 * without a customer must not belong to anyone (a raw test id such as `pm_card_visa`).
 */
export function checkOwnership(customer: string | null, stored: StoredPaymentMethod): void {
  const { id, customer: owner } = stored.paymentMethod;
  if (owner === customer) return;
  if (customer === null) {
    throw invalidRequest(
      `The provided PaymentMethod ${id} is attached to a Customer. To use ` +
        'it, also pass the id of that Customer as `customer`.',
      { param: 'customer' },
    );
  }
  throw invalidRequest(
    `The provided PaymentMethod ${id} does not belong to the Customer ` +
      `${customer}. Attach it to the Customer first.`,
    { param: 'payment_method' },
  );
}

function succeed(
  state: SandboxState,
  intent: Stripe.PaymentIntent,
  stored: StoredPaymentMethod,
  request: ApiRequest,
): HandlerResult {
  const charge = recordCharge(state, intent, stored, undefined);
  intent.status = 'succeeded';
  intent.amount_received = intent.amount;
  intent.latest_charge = charge.id;
  intent.last_payment_error = null;
  intent.next_action = null;
  return ok(intent, [recordPaymentIntentEvent(state, 'payment_intent.succeeded', intent, request)]);
}

/**
 * A decline answers 402 with the PaymentIntent back in `requires_payment_method` and its
 * `payment_method` cleared (the card stays in `last_payment_error`), as Stripe leaves it.
 */
function fail(
  state: SandboxState,
  intent: Stripe.PaymentIntent,
  stored: StoredPaymentMethod,
  request: ApiRequest,
  decline: Decline,
  charged: boolean,
): HandlerResult {
  const charge = charged ? recordCharge(state, intent, stored, decline) : undefined;
  const fields = {
    type: 'card_error' as const,
    code: decline.code,
    decline_code: decline.declineCode,
    doc_url: docUrl(decline.code),
    message: decline.message,
    payment_method: snapshot(stored.paymentMethod),
    ...(charge ? { charge: charge.id } : {}),
  };
  const error: Stripe.PaymentIntent.LastPaymentError = fields;
  intent.status = 'requires_payment_method';
  intent.last_payment_error = error;
  intent.latest_charge = charge?.id ?? intent.latest_charge;
  intent.payment_method = null;
  intent.next_action = null;
  const event = recordPaymentIntentEvent(state, 'payment_intent.payment_failed', intent, request);
  const body = errorBody({ ...fields, payment_intent: snapshot(intent) });
  return { response: { status: 402, body }, events: [event] };
}

// On-session, Stripe hands the 3-D Secure step to Stripe.js; the sandbox cannot finish it.
function requireAction(intent: Stripe.PaymentIntent): HandlerResult {
  intent.status = 'requires_action';
  intent.next_action = {
    type: 'use_stripe_sdk',
    use_stripe_sdk: { type: 'three_d_secure_redirect', source: newId('src') },
  };
  return ok(intent);
}

/** Charges the card behind `stored` for `intent` and answers as Stripe would. */
export function confirmPaymentIntent(
  state: SandboxState,
  intent: Stripe.PaymentIntent,
  stored: StoredPaymentMethod,
  offSession: boolean,
  request: ApiRequest,
): HandlerResult {
  intent.payment_method = stored.paymentMethod.id;
  const behaviour = stored.card.behaviour;
  switch (behaviour.kind) {
    case 'succeed':
      return succeed(state, intent, stored, request);
    case 'decline':
      return fail(state, intent, stored, request, behaviour, true);
    case 'authenticate':
      if (!offSession) return requireAction(intent);
      return fail(state, intent, stored, request, AUTHENTICATION_REQUIRED, false);
  }
}
