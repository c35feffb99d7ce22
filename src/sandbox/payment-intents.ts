import type Stripe from 'stripe';
import type { ApiRequest, Handler, HandlerResult } from './handler';
import type { FormObject } from './form';
import type { SandboxState, StoredPaymentMethod } from './state';
import { ok } from './handler';
import { newId, unixSeconds } from './ids';
import { checkExpandable, expandEach, expandObject } from './expand';
import { findCustomer } from './customers';
import { findPaymentMethod, newCardPaymentMethod, storePaymentMethod } from './payment-methods';
import { testCardForPaymentMethod } from './test-cards';
import { checkOwnership, confirmPaymentIntent } from './charging';
import { createdFilter, newestFirst, paginate } from './lists';
import { invalidRequest, parameterInvalid, parameterMissing, resourceMissing } from './errors';
import {
  mergeMetadata,
  readBoolean,
  readExpand,
  readInteger,
  readString,
  rejectUnknown,
  requireString,
} from './params';

const CREATE_PARAMS = [
  'amount',
  'currency',
  'customer',
  'payment_method',
  'confirm',
  'off_session',
  'metadata',
  'description',
  'receipt_email',
  'statement_descriptor',
  'statement_descriptor_suffix',
  'setup_future_usage',
  'payment_method_types',
  'error_on_requires_action',
  'return_url',
];
const CONFIRM_PARAMS = ['payment_method', 'off_session', 'error_on_requires_action', 'return_url'];
const CONFIRMABLE = ['requires_payment_method', 'requires_confirmation', 'requires_action'];

/** The PaymentIntent named in the path, or Stripe's 404 resource_missing. */
export function findPaymentIntent(state: SandboxState, id: string): Stripe.PaymentIntent {
  const intent = state.paymentIntents.get(id);
  if (!intent) throw resourceMissing('payment_intent', id);
  return intent;
}

function readAmount(params: FormObject): number {
  const amount = readInteger(params, 'amount');
  if (amount === undefined) throw parameterMissing('amount');
  if (amount < 1) {
    throw parameterInvalid('amount', 'This value must be greater than or equal to 1.');
  }
  return amount;
}

function readCurrency(params: FormObject): string {
  const currency = requireString(params, 'currency');
  if (!/^[a-zA-Z]{3}$/.test(currency)) {
    throw parameterInvalid('currency', `Invalid currency: ${currency}.`);
  }
  return currency.toLowerCase();
}

// Stripe also takes `one_off` and `recurring` for off_session; both mean true.
function readOffSession(params: FormObject): boolean {
  const value = readString(params, 'off_session');
  if (value === 'one_off' || value === 'recurring') return true;
  return readBoolean(params, 'off_session') ?? false;
}

/** A stored PaymentMethod, or a fresh one for a raw test id used without a customer. */
function resolvePaymentMethod(state: SandboxState, id: string): StoredPaymentMethod {
  const card = testCardForPaymentMethod(id);
  return card ? newCardPaymentMethod(card, null) : findPaymentMethod(state, id, 'payment_method');
}

function readSetupFutureUsage(params: FormObject): Stripe.PaymentIntent.SetupFutureUsage | null {
  const value = readString(params, 'setup_future_usage');
  if (value === undefined || value === '') return null;
  if (value === 'off_session' || value === 'on_session') return value;
  throw parameterInvalid('setup_future_usage', `Invalid setup_future_usage: ${value}`);
}

interface CreateInput {
  readonly amount: number;
  readonly currency: string;
  readonly customer: string | null;
  readonly paymentMethod: StoredPaymentMethod | undefined;
  readonly confirm: boolean;
  readonly offSession: boolean;
  readonly params: FormObject;
}

function readCreateInput(state: SandboxState, params: FormObject): CreateInput {
  rejectUnknown(params, CREATE_PARAMS);
  const amount = readAmount(params);
  const currency = readCurrency(params);
  const customerId = readString(params, 'customer');
  const customer = customerId ? findCustomer(state, customerId, 'customer').id : null;
  const paymentMethodId = readString(params, 'payment_method');
  const paymentMethod = paymentMethodId ? resolvePaymentMethod(state, paymentMethodId) : undefined;
  const confirm = readBoolean(params, 'confirm') ?? false;
  const offSession = readOffSession(params);

  if (offSession && !confirm) {
    throw invalidRequest('off_session can only be used with confirm=true.', {
      param: 'off_session',
    });
  }
  if (confirm && !paymentMethod) throw parameterMissing('payment_method');
  if (offSession && customer === null) throw parameterMissing('customer');
  if (paymentMethod) checkOwnership(customer, paymentMethod);
  return { amount, currency, customer, paymentMethod, confirm, offSession, params };
}

/** Reads the optional fields too, so it may still refuse: call it before storing anything. */
function newPaymentIntent(input: CreateInput): Stripe.PaymentIntent {
  const id = newId('pi');
  const { params } = input;
  return {
    id,
    object: 'payment_intent',
    allowed_payment_method_types: null,
    amount: input.amount,
    amount_capturable: 0,
    amount_received: 0,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: null,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: 'automatic',
    client_secret: `${id}_secret_${newId('s').slice(2)}`,
    confirmation_method: 'automatic',
    created: unixSeconds(),
    currency: input.currency,
    customer: input.customer,
    customer_account: null,
    description: readString(params, 'description') || null,
    excluded_payment_method_types: null,
    last_payment_error: null,
    latest_charge: null,
    livemode: false,
    managed_payments: null,
    metadata: mergeMetadata({}, params),
    next_action: null,
    on_behalf_of: null,
    payment_method: input.paymentMethod?.paymentMethod.id ?? null,
    payment_method_configuration_details: null,
    payment_method_options: null,
    payment_method_types: ['card'],
    payment_record: null,
    processing: null,
    receipt_email: readString(params, 'receipt_email') || null,
    review: null,
    setup_future_usage: readSetupFutureUsage(params),
    shipping: null,
    source: null,
    statement_descriptor: readString(params, 'statement_descriptor') || null,
    statement_descriptor_suffix: readString(params, 'statement_descriptor_suffix') || null,
    status: input.paymentMethod ? 'requires_confirmation' : 'requires_payment_method',
    transfer_group: null,
  };
}

// A success answers the PaymentIntent, expanded as asked; a decline answers its error.
function respond(
  state: SandboxState,
  request: ApiRequest,
  intent: Stripe.PaymentIntent,
  result: HandlerResult,
): HandlerResult {
  if (result.response.status !== 200) return result;
  return ok(expandObject(state, intent, readExpand(request.params)), result.events);
}

function customerOf(intent: Stripe.PaymentIntent): string | null {
  return typeof intent.customer === 'string' ? intent.customer : (intent.customer?.id ?? null);
}

/** POST /v1/payment_intents: create, and with `confirm=true` charge at once. */
export const createPaymentIntent: Handler = (request, _path, state) => {
  const input = readCreateInput(state, request.params);
  checkExpandable('payment_intent', readExpand(request.params));
  const intent = newPaymentIntent(input);
  state.paymentIntents.set(intent.id, intent);
  if (input.paymentMethod && !state.paymentMethods.has(input.paymentMethod.paymentMethod.id)) {
    storePaymentMethod(state, input.paymentMethod);
  }
  if (!input.confirm || !input.paymentMethod) return respond(state, request, intent, ok(intent));
  const { paymentMethod, offSession } = input;
  const result = confirmPaymentIntent(state, intent, paymentMethod, offSession, request);
  return respond(state, request, intent, result);
};

export const retrievePaymentIntent: Handler = (request, [id = ''], state) => {
  rejectUnknown(request.params, ['client_secret']);
  const intent = findPaymentIntent(state, id);
  return ok(expandObject(state, intent, readExpand(request.params)));
};

/** GET /v1/payment_intents: newest first, optionally for one customer. */
export const listPaymentIntents: Handler = (request, _path, state) => {
  const { params } = request;
  rejectUnknown(params, ['customer', 'created', 'limit', 'starting_after', 'ending_before']);
  const customer = readString(params, 'customer');
  const created = createdFilter(params);
  const items = newestFirst(state.paymentIntents.values()).filter(
    (intent) => (customer === undefined || intent.customer === customer) && created(intent.created),
  );
  const page = paginate(items, params, request.path);
  return ok({ ...page, data: expandEach(state, page.data, readExpand(params)) });
};

/** POST /v1/payment_intents/:id/confirm, e.g. to try again with another card. */
export const confirmPaymentIntentById: Handler = (request, [id = ''], state) => {
  const { params } = request;
  rejectUnknown(params, CONFIRM_PARAMS);
  const intent = findPaymentIntent(state, id);
  if (!CONFIRMABLE.includes(intent.status)) {
    throw invalidRequest(
      `You cannot confirm this PaymentIntent because it has a status of ` +
        `${intent.status}. Only a PaymentIntent with one of the following statuses may be ` +
        `confirmed: ${CONFIRMABLE.join(', ')}.`,
      { code: 'payment_intent_unexpected_state' },
    );
  }
  const paymentMethodId = readString(params, 'payment_method') ?? intent.payment_method;
  if (typeof paymentMethodId !== 'string') throw parameterMissing('payment_method');
  const stored = resolvePaymentMethod(state, paymentMethodId);
  checkOwnership(customerOf(intent), stored);
  const offSession = readOffSession(params);
  if (!state.paymentMethods.has(stored.paymentMethod.id)) storePaymentMethod(state, stored);
  const result = confirmPaymentIntent(state, intent, stored, offSession, request);
  return respond(state, request, intent, result);
};
