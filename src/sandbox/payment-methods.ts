import type Stripe from 'stripe';
import type { ApiRequest, Handler } from './handler';
import type { SandboxState, StoredPaymentMethod } from './state';
import type { TestCard } from './test-cards';
import { ok } from './handler';
import { newId, unixSeconds } from './ids';
import { expandEach, expandObject } from './expand';
import { findCustomer } from './customers';
import { newestFirst, paginate } from './lists';
import { invalidRequest, parameterInvalid, resourceMissing } from './errors';
import { testCardForPaymentMethod, testCardForToken } from './test-cards';
import {
  mergeMetadata,
  readExpand,
  readObject,
  readString,
  rejectUnknown,
  requireString,
} from './params';

/** The PaymentMethod named by `id`, or resource_missing (404 in a path, 400 as a param). */
export function findPaymentMethod(
  state: SandboxState,
  id: string,
  param?: string,
): StoredPaymentMethod {
  const stored = state.paymentMethods.get(id);
  if (!stored) throw resourceMissing('PaymentMethod', id, param);
  return stored;
}

function cardDetails(card: TestCard): Stripe.PaymentMethod.Card {
  const now = new Date();
  return {
    brand: card.brand,
    checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
    country: 'US',
    display_brand: card.brand,
    exp_month: now.getUTCMonth() + 1,
    exp_year: now.getUTCFullYear() + 1,
    fingerprint: card.fingerprint,
    funding: 'credit',
    generated_from: null,
    last4: card.last4,
    networks: { available: [card.brand], preferred: null },
    regulated_status: 'unregulated',
    three_d_secure_usage: { supported: true },
    wallet: null,
  };
}

/**
 * A new card PaymentMethod, not yet stored: attaching a test id such as `pm_card_visa`
 * makes a new one each time, with its own id, as Stripe does.
 */
export function newCardPaymentMethod(
  card: TestCard,
  customer: string | null,
  metadata: Record<string, string> = {},
): StoredPaymentMethod {
  const paymentMethod: Stripe.PaymentMethod = {
    id: newId('pm'),
    object: 'payment_method',
    allow_redisplay: 'unspecified',
    billing_details: {
      address: {
        city: null,
        country: null,
        line1: null,
        line2: null,
        postal_code: null,
        state: null,
      },
      email: null,
      name: null,
      phone: null,
      tax_id: null,
    },
    card: cardDetails(card),
    created: unixSeconds(),
    customer,
    customer_account: null,
    livemode: false,
    metadata,
    type: 'card',
  };
  return { paymentMethod, card };
}

/** Keeps a PaymentMethod made by `newCardPaymentMethod`; answers the Stripe object. */
export function storePaymentMethod(
  state: SandboxState,
  stored: StoredPaymentMethod,
): Stripe.PaymentMethod {
  state.paymentMethods.set(stored.paymentMethod.id, stored);
  return stored.paymentMethod;
}

/** POST /v1/payment_methods with `type=card&card[token]=tok_visa`. */
export const createPaymentMethod: Handler = (request, _path, state) => {
  const { params } = request;
  rejectUnknown(params, ['type', 'card', 'metadata', 'billing_details']);
  if (requireString(params, 'type') !== 'card') {
    throw parameterInvalid('type', 'The Stripe sandbox only makes card PaymentMethods.');
  }
  const token = requireString(readObject(params, 'card') ?? {}, 'token');
  const card = testCardForToken(token);
  if (!card) throw resourceMissing('token', token, 'card[token]');
  const metadata = mergeMetadata({}, params);
  return ok(storePaymentMethod(state, newCardPaymentMethod(card, null, metadata)));
};

export const retrievePaymentMethod: Handler = (request, [id = ''], state) => {
  rejectUnknown(request.params, []);
  const { paymentMethod } = findPaymentMethod(state, id);
  return ok(expandObject(state, paymentMethod, readExpand(request.params)));
};

export const attachPaymentMethod: Handler = (request, [id = ''], state) => {
  rejectUnknown(request.params, ['customer']);
  const customer = findCustomer(state, requireString(request.params, 'customer'), 'customer');
  const testCard = testCardForPaymentMethod(id);
  if (testCard) return ok(storePaymentMethod(state, newCardPaymentMethod(testCard, customer.id)));

  const { paymentMethod } = findPaymentMethod(state, id);
  if (paymentMethod.customer !== null && paymentMethod.customer !== customer.id) {
    throw invalidRequest(
      'The payment method you provided has already been attached to a customer.',
      { code: 'payment_method_unexpected_state' },
    );
  }
  paymentMethod.customer = customer.id;
  return ok(paymentMethod);
};

export const detachPaymentMethod: Handler = (request, [id = ''], state) => {
  rejectUnknown(request.params, []);
  const { paymentMethod } = findPaymentMethod(state, id);
  const owner = paymentMethod.customer;
  if (owner === null) {
    throw invalidRequest(
      'The payment method you provided is not attached to a customer so detachment is impossible.',
      { code: 'payment_method_unexpected_state' },
    );
  }
  // Stripe also drops a detached card from the customer's default.
  const customer = state.customers.get(typeof owner === 'string' ? owner : owner.id);
  const settings = customer?.invoice_settings;
  if (settings?.default_payment_method === paymentMethod.id) settings.default_payment_method = null;
  paymentMethod.customer = null;
  return ok(paymentMethod);
};

function listForCustomer(state: SandboxState, customerId: string, request: ApiRequest) {
  const items = newestFirst(state.paymentMethods.values())
    .map((stored) => stored.paymentMethod)
    .filter((paymentMethod) => paymentMethod.customer === customerId);
  const page = paginate(items, request.params, request.path);
  return ok({ ...page, data: expandEach(state, page.data, readExpand(request.params)) });
}

/** GET /v1/payment_methods?customer=cus_...&type=card */
export const listPaymentMethods: Handler = (request, _path, state) => {
  const { params } = request;
  rejectUnknown(params, ['customer', 'type', 'limit', 'starting_after', 'ending_before']);
  const customer = findCustomer(state, requireString(params, 'customer'), 'customer');
  const type = readString(params, 'type');
  if (type !== undefined && type !== 'card') return ok(paginate([], params, request.path));
  return listForCustomer(state, customer.id, request);
};

/** GET /v1/customers/:id/payment_methods */
export const listCustomerPaymentMethods: Handler = (request, [id = ''], state) => {
  rejectUnknown(request.params, ['type', 'limit', 'starting_after', 'ending_before']);
  return listForCustomer(state, findCustomer(state, id).id, request);
};
