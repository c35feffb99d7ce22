import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Stripe from 'stripe';
import { SANDBOX_SECRET_KEY, createStripeClient } from '../src/stripe/client';
import { parseForm } from '../src/sandbox/form';
import { readExpand } from '../src/sandbox/params';
import { startSandbox } from '../src/sandbox/server';
import type { RunningSandbox } from '../src/sandbox/server';
import { control, startWebhookReceiver } from './support/sandbox';
import type { ReceivedWebhook, WebhookReceiver } from './support/sandbox';
import { waitFor } from './support/wait';

let sandbox: RunningSandbox;
/** The client as our code uses it: stripe-node's default of 2 network retries. */
let stripe: Stripe;
/** A client that shows the sandbox's raw answers. */
let noRetry: Stripe;

before(async () => {
  sandbox = await startSandbox({ port: 0, webhookRetryDelaysMs: [20, 40, 80] });
  stripe = createStripeClient({ secretKey: SANDBOX_SECRET_KEY, apiUrl: sandbox.url });
  noRetry = createStripeClient({
    secretKey: SANDBOX_SECRET_KEY,
    apiUrl: sandbox.url,
    maxNetworkRetries: 0,
  });
});

after(() => sandbox.stop());

beforeEach(async () => {
  assert.equal((await control(sandbox.url, 'POST', '/_sandbox/reset')).status, 200);
});

interface SavedCard {
  readonly customer: string;
  readonly paymentMethod: string;
}

async function customerWithCard(testPaymentMethod: string): Promise<SavedCard> {
  const customer = await stripe.customers.create({
    email: 'merchant@example.com',
    metadata: { merchant_id: 'm_1' },
  });
  const paymentMethod = await stripe.paymentMethods.attach(testPaymentMethod, {
    customer: customer.id,
  });
  return { customer: customer.id, paymentMethod: paymentMethod.id };
}

function offSessionCharge(card: SavedCard, rechargeId = 'r_1'): Stripe.PaymentIntentCreateParams {
  return {
    amount: 2500,
    currency: 'usd',
    customer: card.customer,
    payment_method: card.paymentMethod,
    off_session: true,
    confirm: true,
    metadata: { merchant_id: 'm_1', recharge_id: rechargeId },
  };
}

/** The id of an expandable field, whether it came back as an id or an object. */
function idOf(value: string | { id: string } | null): string {
  return typeof value === 'string' ? value : (value?.id ?? '');
}

/** The params without one field, to see how the sandbox answers its absence. */
function without<K extends keyof Stripe.PaymentIntentCreateParams>(
  params: Stripe.PaymentIntentCreateParams,
  field: K,
): Stripe.PaymentIntentCreateParams {
  const copy = { ...params };
  delete copy[field];
  return copy;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return assert.fail('expected the call to fail');
}

async function paymentIntentIds(customer: string): Promise<string[]> {
  const list = await stripe.paymentIntents.list({ customer, limit: 100 });
  return list.data.map((intent) => intent.id);
}

async function addFault(fault: Record<string, unknown>): Promise<void> {
  const answer = await control(sandbox.url, 'POST', '/_sandbox/faults', fault);
  assert.equal(answer.status, 201);
}

interface LoggedRequest {
  method: string;
  path: string;
  idempotencyKey: string | null;
  status: number | null;
  at: string;
}

async function requestLog(): Promise<LoggedRequest[]> {
  return (await control(sandbox.url, 'GET', '/_sandbox/requests')).body as LoggedRequest[];
}

/** The logged attempts to create a PaymentIntent. */
async function loggedCreations(): Promise<LoggedRequest[]> {
  return (await requestLog()).filter(
    (entry) => entry.method === 'POST' && entry.path === '/v1/payment_intents',
  );
}

void describe('test payment methods', () => {
  void test('attaching pm_card_visa makes a new PaymentMethod with its own id', async () => {
    const customer = await stripe.customers.create({ email: 'merchant@example.com' });
    const first = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const second = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });

    assert.match(first.id, /^pm_[A-Za-z0-9]{24}$/);
    assert.notEqual(first.id, second.id);
    assert.equal(first.object, 'payment_method');
    assert.equal(first.type, 'card');
    assert.equal(first.customer, customer.id);
    assert.equal(first.card?.brand, 'visa');
    assert.equal(first.card?.last4, '4242');
    assert.equal(first.card?.fingerprint, second.card?.fingerprint);
    const retrieved = await stripe.paymentMethods.retrieve(first.id);
    assert.deepEqual({ ...retrieved }, { ...first });
  });

  void test('pm_card_visa charges off-session and the PaymentIntent succeeds', async () => {
    const card = await customerWithCard('pm_card_visa');
    const intent = await stripe.paymentIntents.create(offSessionCharge(card));

    assert.match(intent.id, /^pi_/);
    assert.equal(intent.object, 'payment_intent');
    assert.equal(intent.status, 'succeeded');
    assert.equal(intent.amount, 2500);
    assert.equal(intent.amount_received, 2500);
    assert.equal(intent.currency, 'usd');
    assert.equal(intent.customer, card.customer);
    assert.equal(intent.payment_method, card.paymentMethod);
    assert.deepEqual(intent.metadata, { merchant_id: 'm_1', recharge_id: 'r_1' });
    assert.ok(intent.client_secret?.startsWith(`${intent.id}_secret_`));
    assert.equal(intent.last_payment_error, null);
    assert.match(idOf(intent.latest_charge), /^ch_/);
    assert.ok(Math.abs(intent.created - Date.now() / 1000) < 5);
    const retrieved = await stripe.paymentIntents.retrieve(intent.id);
    assert.deepEqual({ ...retrieved }, { ...intent });
  });

  void test('pm_card_mastercard attaches as a Mastercard ending 4444 and charges', async () => {
    const card = await customerWithCard('pm_card_mastercard');
    const paymentMethod = await stripe.paymentMethods.retrieve(card.paymentMethod);
    const intent = await stripe.paymentIntents.create(offSessionCharge(card));

    assert.equal(paymentMethod.card?.brand, 'mastercard');
    assert.equal(paymentMethod.card?.last4, '4444');
    assert.equal(intent.status, 'succeeded');
  });

  const declines: ReadonlyArray<[string, string, string]> = [
    ['pm_card_chargeCustomerFail', 'card_declined', 'generic_decline'],
    ['pm_card_visa_chargeDeclined', 'card_declined', 'generic_decline'],
    ['pm_card_visa_chargeDeclinedInsufficientFunds', 'card_declined', 'insufficient_funds'],
    ['pm_card_visa_chargeDeclinedLostCard', 'card_declined', 'lost_card'],
    ['pm_card_visa_chargeDeclinedStolenCard', 'card_declined', 'stolen_card'],
    ['pm_card_chargeDeclinedExpiredCard', 'expired_card', 'expired_card'],
    ['pm_card_chargeDeclinedProcessingError', 'processing_error', 'processing_error'],
    ['pm_card_chargeDeclinedIncorrectCvc', 'incorrect_cvc', 'incorrect_cvc'],
  ];
  for (const [testCard, code, declineCode] of declines) {
    void test(`${testCard} attaches, then declines with ${code}/${declineCode}`, async () => {
      const card = await customerWithCard(testCard);
      const error = await rejection(noRetry.paymentIntents.create(offSessionCharge(card)));

      assert.ok(error instanceof Stripe.errors.StripeCardError);
      assert.equal(error.statusCode, 402);
      assert.equal(error.rawType, 'card_error');
      assert.equal(error.code, code);
      assert.equal(error.decline_code, declineCode);
      assert.equal(error.doc_url, `https://stripe.com/docs/error-codes/${code.replace(/_/g, '-')}`);
      assert.match(String(error.charge), /^ch_/);
      const intent = error.payment_intent;
      assert.equal(intent?.status, 'requires_payment_method');
      assert.equal(intent?.payment_method, null);
      assert.equal(intent?.latest_charge, error.charge);
      assert.equal(intent?.last_payment_error?.code, code);
      assert.equal(intent?.last_payment_error?.decline_code, declineCode);
      assert.equal(intent?.last_payment_error?.payment_method?.id, card.paymentMethod);
      const stored = await stripe.paymentIntents.retrieve(intent?.id ?? '');
      assert.equal(stored.status, 'requires_payment_method');
    });
  }

  void test('pm_card_authenticationRequired fails off-session with authentication_required', async () => {
    const card = await customerWithCard('pm_card_authenticationRequired');
    const error = await rejection(noRetry.paymentIntents.create(offSessionCharge(card)));

    assert.ok(error instanceof Stripe.errors.StripeCardError);
    assert.equal(error.statusCode, 402);
    assert.equal(error.code, 'authentication_required');
    assert.equal(error.decline_code, 'authentication_required');
    assert.equal(error.charge, undefined);
    assert.equal(error.payment_intent?.status, 'requires_payment_method');
    assert.equal(error.payment_intent?.latest_charge, null);
    assert.equal(error.payment_intent?.last_payment_error?.code, 'authentication_required');
  });

  void test('pm_card_authenticationRequired on-session leaves the PaymentIntent requiring action', async () => {
    const card = await customerWithCard('pm_card_authenticationRequired');
    const intent = await stripe.paymentIntents.create(
      without(offSessionCharge(card), 'off_session'),
    );

    assert.equal(intent.status, 'requires_action');
    assert.equal(intent.next_action?.type, 'use_stripe_sdk');
  });
});

void describe('invalid requests', () => {
  void test('an unknown PaymentMethod is a 404 resource_missing', async () => {
    const error = await rejection(stripe.paymentMethods.retrieve('pm_unknown'));

    assert.ok(error instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(error.statusCode, 404);
    assert.equal(error.code, 'resource_missing');
    // stripe-node prefixes the message with the request id.
    assert.equal(error.message, `[${error.requestId}] No such PaymentMethod: 'pm_unknown'`);
  });

  void test('attaching an unknown PaymentMethod is a 404 resource_missing', async () => {
    const customer = await stripe.customers.create({});
    const error = await rejection(
      stripe.paymentMethods.attach('pm_unknown', { customer: customer.id }),
    );

    assert.ok(error instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(error.statusCode, 404);
    assert.equal(error.code, 'resource_missing');
  });

  void test('a charge without a payment_method is refused with param payment_method', async () => {
    const card = await customerWithCard('pm_card_visa');
    const params = without(offSessionCharge(card), 'payment_method');
    const error = await rejection(stripe.paymentIntents.create(params));

    assert.ok(error instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(error.statusCode, 400);
    assert.equal(error.code, 'parameter_missing');
    assert.equal(error.param, 'payment_method');
    assert.deepEqual(await paymentIntentIds(card.customer), []);
  });

  void test('an off-session charge without a customer is refused with param customer', async () => {
    const card = await customerWithCard('pm_card_visa');
    const params = without(offSessionCharge(card), 'customer');
    const error = await rejection(stripe.paymentIntents.create(params));

    assert.ok(error instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(error.statusCode, 400);
    assert.equal(error.param, 'customer');
  });

  void test('an unknown customer is a 400 resource_missing with param customer', async () => {
    const card = await customerWithCard('pm_card_visa');
    const error = await rejection(
      stripe.paymentIntents.create({ ...offSessionCharge(card), customer: 'cus_unknown' }),
    );

    assert.ok(error instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(error.statusCode, 400);
    assert.equal(error.code, 'resource_missing');
    assert.equal(error.param, 'customer');
  });

  void test("charging another customer's PaymentMethod is refused", async () => {
    const card = await customerWithCard('pm_card_visa');
    const other = await customerWithCard('pm_card_visa');
    const error = await rejection(
      stripe.paymentIntents.create({
        ...offSessionCharge(card),
        payment_method: other.paymentMethod,
      }),
    );

    assert.ok(error instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(error.statusCode, 400);
    assert.equal(error.param, 'payment_method');
    assert.deepEqual(await paymentIntentIds(card.customer), []);
  });

  void test('a key that is not a test secret key is refused with 401', async () => {
    const live = createStripeClient({ secretKey: 'sk_live_abcdefghijkl1234', apiUrl: sandbox.url });
    const error = await rejection(live.customers.create({}));

    assert.ok(error instanceof Stripe.errors.StripeAuthenticationError);
    assert.equal(error.statusCode, 401);
    assert.equal(error.message, `[${error.requestId}] Invalid API Key provided: sk_live_****1234`);
  });
});

void describe('idempotency keys', () => {
  void test('the same key and parameters replay the same PaymentIntent', async () => {
    const card = await customerWithCard('pm_card_visa');
    const options = { idempotencyKey: 'auto-reload:m_1:2026-12:1' };
    const first = await stripe.paymentIntents.create(offSessionCharge(card), options);
    const second = await stripe.paymentIntents.create(offSessionCharge(card), options);

    assert.equal(second.id, first.id);
    assert.equal(first.lastResponse.headers['idempotent-replayed'], undefined);
    assert.equal(second.lastResponse.headers['idempotent-replayed'], 'true');
    assert.deepEqual(await paymentIntentIds(card.customer), [first.id]);
  });

  void test('a saved 402 decline is replayed for the same key', async () => {
    const card = await customerWithCard('pm_card_visa_chargeDeclinedInsufficientFunds');
    const options = { idempotencyKey: 'decline-key' };
    const first = await rejection(noRetry.paymentIntents.create(offSessionCharge(card), options));
    const second = await rejection(noRetry.paymentIntents.create(offSessionCharge(card), options));

    assert.ok(first instanceof Stripe.errors.StripeCardError);
    assert.ok(second instanceof Stripe.errors.StripeCardError);
    assert.equal(second.payment_intent?.id, first.payment_intent?.id);
    assert.equal(second.headers?.['idempotent-replayed'], 'true');
    assert.deepEqual(await paymentIntentIds(card.customer), [first.payment_intent?.id]);
  });

  void test('the same key with other parameters is an idempotency_error', async () => {
    const card = await customerWithCard('pm_card_visa');
    const options = { idempotencyKey: 'mismatch-key' };
    await stripe.paymentIntents.create(offSessionCharge(card), options);
    const error = await rejection(
      stripe.paymentIntents.create({ ...offSessionCharge(card), amount: 9900 }, options),
    );

    assert.ok(error instanceof Stripe.errors.StripeIdempotencyError);
    assert.equal(error.statusCode, 400);
    assert.equal(error.rawType, 'idempotency_error');
    assert.equal((await paymentIntentIds(card.customer)).length, 1);
  });

  void test('a request refused by validation does not use up its key', async () => {
    const card = await customerWithCard('pm_card_visa');
    const options = { idempotencyKey: 'corrected-key' };
    const refused = await rejection(
      stripe.paymentIntents.create({ ...offSessionCharge(card), customer: 'cus_typo' }, options),
    );
    const intent = await stripe.paymentIntents.create(offSessionCharge(card), options);

    assert.ok(refused instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(intent.status, 'succeeded');
  });

  void test('the same key while the first request runs is a 409 idempotency_key_in_use', async () => {
    const card = await customerWithCard('pm_card_visa');
    await addFault({ method: 'POST', path: '/v1/payment_intents', mode: 'delay', delayMs: 300 });
    const options = { idempotencyKey: 'concurrent-key' };
    // Whichever arrives first takes the delay and holds the key; the other meets it.
    const results = await Promise.allSettled([
      noRetry.paymentIntents.create(offSessionCharge(card), options),
      noRetry.paymentIntents.create(offSessionCharge(card), options),
    ]);

    const fulfilled = results.filter((result) => result.status === 'fulfilled');
    const rejected = results.filter((result) => result.status === 'rejected');
    assert.equal(fulfilled.length, 1);
    assert.equal(rejected.length, 1);
    const error: unknown = rejected[0]?.reason;
    assert.ok(error instanceof Stripe.errors.StripeAPIError);
    assert.equal(error.statusCode, 409);
    assert.equal(error.code, 'idempotency_key_in_use');
    assert.equal((await paymentIntentIds(card.customer)).length, 1);
  });

  void test('the retrying client waits out idempotency_key_in_use and gets the same result', async () => {
    const card = await customerWithCard('pm_card_visa');
    await addFault({ method: 'POST', path: '/v1/payment_intents', mode: 'delay', delayMs: 200 });
    const options = { idempotencyKey: 'concurrent-retry-key' };
    const [first, second] = await Promise.all([
      stripe.paymentIntents.create(offSessionCharge(card), options),
      stripe.paymentIntents.create(offSessionCharge(card), options),
    ]);

    assert.equal(first.id, second.id);
    assert.deepEqual(await paymentIntentIds(card.customer), [first.id]);
    const statuses = (await loggedCreations()).map((entry) => entry.status);
    // Listed by arrival: the delayed first request, the 409, then the retry's replay.
    assert.deepEqual(statuses, [200, 409, 200]);
  });
});

void describe('faults', () => {
  void test('error_before answers the status and creates nothing', async () => {
    const card = await customerWithCard('pm_card_visa');
    await addFault({
      method: 'POST',
      path: '/v1/payment_intents',
      mode: 'error_before',
      status: 503,
    });
    const error = await rejection(noRetry.paymentIntents.create(offSessionCharge(card)));

    assert.ok(error instanceof Stripe.errors.StripeAPIError);
    assert.equal(error.statusCode, 503);
    assert.equal(error.rawType, 'api_error');
    assert.deepEqual(await paymentIntentIds(card.customer), []);
  });

  void test('error_after charges, then saves and replays the error for the key', async () => {
    const card = await customerWithCard('pm_card_visa');
    await addFault({ method: 'POST', path: '/v1/payment_intents', mode: 'error_after' });
    const options = { idempotencyKey: 'error-after-key' };
    const first = await rejection(noRetry.paymentIntents.create(offSessionCharge(card), options));
    const second = await rejection(noRetry.paymentIntents.create(offSessionCharge(card), options));

    assert.ok(first instanceof Stripe.errors.StripeAPIError);
    assert.equal(first.statusCode, 500);
    assert.ok(second instanceof Stripe.errors.StripeAPIError);
    assert.equal(second.statusCode, 500);
    assert.equal(second.headers?.['idempotent-replayed'], 'true');
    const [id] = await paymentIntentIds(card.customer);
    assert.equal((await stripe.paymentIntents.retrieve(id ?? '')).status, 'succeeded');
    assert.equal((await paymentIntentIds(card.customer)).length, 1);
  });

  void test('drop_after charges and cuts the connection; without retries that is a connection error', async () => {
    const card = await customerWithCard('pm_card_visa');
    // stripe-node retries a closed connection once even with maxNetworkRetries 0.
    await addFault({ method: 'POST', path: '/v1/payment_intents', mode: 'drop_after', times: 2 });
    const error = await rejection(noRetry.paymentIntents.create(offSessionCharge(card)));

    assert.ok(error instanceof Stripe.errors.StripeConnectionError);
    const [id] = await paymentIntentIds(card.customer);
    assert.equal((await stripe.paymentIntents.retrieve(id ?? '')).status, 'succeeded');
    const drops = await loggedCreations();
    assert.deepEqual(
      drops.map((entry) => entry.status),
      [null, null],
    );
    assert.equal(drops[0]?.idempotencyKey, drops[1]?.idempotencyKey);
  });

  void test('drop_after once: the retrying client gets the one PaymentIntent made', async () => {
    const card = await customerWithCard('pm_card_visa');
    await addFault({ method: 'POST', path: '/v1/payment_intents', mode: 'drop_after' });
    const intent = await stripe.paymentIntents.create(offSessionCharge(card));

    assert.equal(intent.status, 'succeeded');
    assert.equal(intent.lastResponse.headers['idempotent-replayed'], 'true');
    assert.deepEqual(await paymentIntentIds(card.customer), [intent.id]);
  });

  void test('rate_limit answers 429, creates nothing and is not retried by stripe-node', async () => {
    const card = await customerWithCard('pm_card_visa');
    await addFault({ method: 'POST', path: '/v1/payment_intents', mode: 'rate_limit' });
    const error = await rejection(stripe.paymentIntents.create(offSessionCharge(card)));

    assert.ok(error instanceof Stripe.errors.StripeRateLimitError);
    assert.equal(error.statusCode, 429);
    assert.equal(error.code, 'rate_limit');
    assert.deepEqual(await paymentIntentIds(card.customer), []);
    const attempts = await loggedCreations();
    assert.deepEqual(
      attempts.map((entry) => entry.status),
      [429],
    );
  });

  void test('a rate-limited key is not saved: the retry with it charges', async () => {
    const card = await customerWithCard('pm_card_visa');
    await addFault({ method: 'POST', path: '/v1/payment_intents', mode: 'rate_limit' });
    const options = { idempotencyKey: 'rate-limited-key' };
    await rejection(stripe.paymentIntents.create(offSessionCharge(card), options));
    const intent = await stripe.paymentIntents.create(offSessionCharge(card), options);

    assert.equal(intent.status, 'succeeded');
    assert.equal(intent.lastResponse.headers['idempotent-replayed'], undefined);
  });

  void test('delay serves the request normally after the wait', async () => {
    const card = await customerWithCard('pm_card_visa');
    await addFault({ method: 'POST', path: '/v1/payment_intents', mode: 'delay', delayMs: 250 });
    const startedAt = performance.now();
    const intent = await noRetry.paymentIntents.create(offSessionCharge(card));

    assert.ok(performance.now() - startedAt >= 245);
    assert.equal(intent.status, 'succeeded');
  });

  void test('a fault applies to the next `times` matching requests only', async () => {
    await addFault({ method: 'POST', path: '/v1/customers', mode: 'error_before', times: 2 });
    const first = await rejection(noRetry.customers.create({}));
    const second = await rejection(noRetry.customers.create({}));
    const third = await noRetry.customers.create({});
    const retrieved = await noRetry.customers.retrieve(third.id);

    assert.ok(first instanceof Stripe.errors.StripeAPIError);
    assert.ok(second instanceof Stripe.errors.StripeAPIError);
    assert.equal(retrieved.id, third.id);
  });

  void test('DELETE /_sandbox/faults clears the faults', async () => {
    await addFault({ method: 'POST', path: '/v1/customers', mode: 'error_before' });
    const cleared = await control(sandbox.url, 'DELETE', '/_sandbox/faults');
    const customer = await noRetry.customers.create({});

    assert.equal(cleared.status, 200);
    assert.match(customer.id, /^cus_/);
  });

  void test('an invalid fault is refused with 400', async () => {
    const badMode = await control(sandbox.url, 'POST', '/_sandbox/faults', {
      method: 'POST',
      path: '/v1/payment_intents',
      mode: 'explode',
    });
    const noPath = await control(sandbox.url, 'POST', '/_sandbox/faults', {
      method: 'POST',
      mode: 'delay',
    });
    const zeroTimes = await control(sandbox.url, 'POST', '/_sandbox/faults', {
      method: 'POST',
      path: '/v1/payment_intents',
      mode: 'delay',
      times: 0,
    });

    assert.equal(badMode.status, 400);
    assert.deepEqual(badMode.body, {
      error: {
        type: 'invalid_request_error',
        message: 'mode must be one of error_before, error_after, drop_after, rate_limit, delay',
      },
    });
    assert.equal(noPath.status, 400);
    assert.equal(zeroTimes.status, 400);
  });
});

void describe('control API', () => {
  void test('/_sandbox/requests lists the requests served, oldest first', async () => {
    const customer = await stripe.customers.create({});
    await stripe.customers.retrieve(customer.id);
    await rejection(stripe.paymentMethods.retrieve('pm_unknown'));
    const log = await requestLog();

    assert.deepEqual(
      log.map(({ method, path: requestPath, status }) => ({ method, path: requestPath, status })),
      [
        { method: 'POST', path: '/v1/customers', status: 200 },
        { method: 'GET', path: `/v1/customers/${customer.id}`, status: 200 },
        { method: 'GET', path: '/v1/payment_methods/pm_unknown', status: 404 },
      ],
    );
    assert.match(String(log[0]?.idempotencyKey), /^stripe-node-retry-/);
    assert.equal(log[1]?.idempotencyKey, null);
    const times = log.map((entry) => Date.parse(entry.at));
    assert.ok(times.every((time, index) => index === 0 || time >= (times[index - 1] ?? 0)));
  });

  void test('reset forgets objects, keys, faults and the request log', async () => {
    const card = await customerWithCard('pm_card_visa');
    await stripe.paymentIntents.create(offSessionCharge(card), { idempotencyKey: 'reset-key' });
    await addFault({ method: 'GET', path: '/v1/payment_intents', mode: 'error_before' });
    await control(sandbox.url, 'POST', '/_sandbox/reset');

    assert.deepEqual(await requestLog(), []);
    const missing = await rejection(stripe.customers.retrieve(card.customer));
    assert.ok(missing instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(missing.statusCode, 404);
    const fresh = await customerWithCard('pm_card_visa');
    const intent = await stripe.paymentIntents.create(
      { ...offSessionCharge(fresh), amount: 700 },
      { idempotencyKey: 'reset-key' },
    );
    assert.equal(intent.amount, 700);
    assert.deepEqual(await paymentIntentIds(fresh.customer), [intent.id]);
  });

  void test('stop closes keep-alive connections at once', async () => {
    const own = await startSandbox({ port: 0 });
    const client = createStripeClient({ secretKey: SANDBOX_SECRET_KEY, apiUrl: own.url });
    await client.customers.create({});
    const startedAt = performance.now();
    await own.stop();

    assert.ok(performance.now() - startedAt < 1_000);
    const refused = await new Promise<boolean>((resolve) => {
      const socket = net.connect(own.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    assert.equal(refused, true);
  });

  void test('the CLI prints its URL when ready and exits cleanly on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(__dirname, '../src/sandbox/main.ts')],
      {
        env: { ...process.env, STRIPE_SANDBOX_PORT: '0', LOG_LEVEL: 'silent' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));

    const line = await waitFor(
      'the ready line',
      () => (output.includes('\n') ? output : undefined),
      15_000,
    );
    assert.match(
      line,
      /^Stripe sandbox listening on http:\/\/127\.0\.0\.1:\d+ \(webhooks: off\)\n$/,
    );
    const url = /http:\/\/\S+/.exec(line)?.[0] ?? '';
    const client = createStripeClient({ secretKey: SANDBOX_SECRET_KEY, apiUrl: url });
    assert.match((await client.customers.create({})).id, /^cus_/);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});

void describe('listing and searching PaymentIntents', () => {
  void test('list by customer answers newest first and pages with starting_after', async () => {
    const card = await customerWithCard('pm_card_visa');
    const other = await customerWithCard('pm_card_visa');
    const created: string[] = [];
    for (const rechargeId of ['r_1', 'r_2', 'r_3']) {
      created.push((await stripe.paymentIntents.create(offSessionCharge(card, rechargeId))).id);
    }
    await stripe.paymentIntents.create(offSessionCharge(other));
    const firstPage = await stripe.paymentIntents.list({ customer: card.customer, limit: 2 });
    const secondPage = await stripe.paymentIntents.list({
      customer: card.customer,
      limit: 2,
      starting_after: firstPage.data[1]?.id ?? '',
    });

    assert.equal(firstPage.object, 'list');
    assert.equal(firstPage.url, '/v1/payment_intents');
    assert.deepEqual(
      firstPage.data.map((intent) => intent.id),
      [created[2], created[1]],
    );
    assert.equal(firstPage.has_more, true);
    assert.deepEqual(
      secondPage.data.map((intent) => intent.id),
      [created[0]],
    );
    assert.equal(secondPage.has_more, false);
  });

  void test('search finds PaymentIntents by metadata and customer', async () => {
    const card = await customerWithCard('pm_card_visa');
    const other = await customerWithCard('pm_card_visa');
    const wanted = await stripe.paymentIntents.create(offSessionCharge(card, 'r_wanted'));
    await stripe.paymentIntents.create(offSessionCharge(card, 'r_other'));
    await stripe.paymentIntents.create(offSessionCharge(other, 'r_wanted'));
    const found = await stripe.paymentIntents.search({
      query: `metadata['recharge_id']:'r_wanted' AND customer:'${card.customer}'`,
    });
    const none = await stripe.paymentIntents.search({ query: `metadata['recharge_id']:'r_none'` });

    assert.equal(found.object, 'search_result');
    assert.deepEqual(
      found.data.map((intent) => intent.id),
      [wanted.id],
    );
    assert.equal(found.has_more, false);
    assert.equal(found.next_page, null);
    assert.deepEqual(none.data, []);
  });

  void test('search refuses OR, which the sandbox does not support', async () => {
    const error = await rejection(
      stripe.paymentIntents.search({
        query: `status:'succeeded' OR status:'canceled'`,
      }),
    );

    assert.ok(error instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(error.param, 'query');
  });
});

/** Waits until the receiver has had `count` deliveries. */
function deliveries(receiver: WebhookReceiver, count: number): Promise<ReceivedWebhook[]> {
  return waitFor(
    `${count} webhook deliveries`,
    () => (receiver.received.length >= count ? receiver.received : undefined),
    5_000,
  );
}

void describe('webhooks', () => {
  const secret = 'whsec_sandbox_test';

  async function receiverFor(respond?: (delivery: number) => number | Promise<number>) {
    const receiver = await startWebhookReceiver(respond);
    const answer = await control(sandbox.url, 'POST', '/_sandbox/webhook-endpoint', {
      url: receiver.url,
      secret,
    });
    assert.equal(answer.status, 200);
    return receiver;
  }

  void test('a succeeded PaymentIntent is sent as a signed payment_intent.succeeded', async (t) => {
    const receiver = await receiverFor();
    t.after(() => receiver.stop());
    const card = await customerWithCard('pm_card_visa');
    const intent = await stripe.paymentIntents.create(offSessionCharge(card));

    const [delivery] = await deliveries(receiver, 1);
    const event = stripe.webhooks.constructEvent(
      delivery?.body ?? '',
      delivery?.signature ?? '',
      secret,
    );
    assert.match(event.id, /^evt_/);
    assert.equal(event.type, 'payment_intent.succeeded');
    assert.equal(event.livemode, false);
    assert.equal(event.api_version, '2026-11-18.endive');
    const object = event.data.object;
    assert.equal(object.id, intent.id);
    assert.equal(object.status, 'succeeded');
    assert.deepEqual(object.metadata, { merchant_id: 'm_1', recharge_id: 'r_1' });
    const retrieved = await stripe.events.retrieve(event.id);
    assert.equal(retrieved.type, 'payment_intent.succeeded');
  });

  void test('a declined PaymentIntent is sent as payment_intent.payment_failed', async (t) => {
    const receiver = await receiverFor();
    t.after(() => receiver.stop());
    const card = await customerWithCard('pm_card_visa_chargeDeclinedLostCard');
    await rejection(noRetry.paymentIntents.create(offSessionCharge(card)));

    const [delivery] = await deliveries(receiver, 1);
    const event = stripe.webhooks.constructEvent(
      delivery?.body ?? '',
      delivery?.signature ?? '',
      secret,
    );
    assert.equal(event.type, 'payment_intent.payment_failed');
    const object = event.data.object;
    assert.equal(object.status, 'requires_payment_method');
    assert.equal(object.last_payment_error?.decline_code, 'lost_card');
  });

  void test('a delivery answered with 500 is retried with the same event', async (t) => {
    const receiver = await receiverFor((delivery) => (delivery === 1 ? 500 : 200));
    t.after(() => receiver.stop());
    const card = await customerWithCard('pm_card_visa');
    await stripe.paymentIntents.create(offSessionCharge(card));

    const received = await deliveries(receiver, 2);
    const events = received.map((d) => stripe.webhooks.constructEvent(d.body, d.signature, secret));
    assert.equal(events.length, 2);
    assert.equal(events[1]?.id, events[0]?.id);
  });

  void test('the API answers without waiting for the webhook endpoint', async (t) => {
    let release: (status: number) => void = () => undefined;
    const held = new Promise<number>((resolve) => {
      release = resolve;
    });
    const receiver = await receiverFor(() => held);
    t.after(async () => {
      release(200);
      await receiver.stop();
    });
    const card = await customerWithCard('pm_card_visa');
    const intent = await stripe.paymentIntents.create(offSessionCharge(card));

    assert.equal(intent.status, 'succeeded');
    assert.equal((await deliveries(receiver, 1)).length, 1);
  });

  void test('webhookUrl and webhookSecret given at start are used', async (t) => {
    const receiver = await startWebhookReceiver();
    const own = await startSandbox({ port: 0, webhookUrl: receiver.url, webhookSecret: secret });
    t.after(async () => {
      await own.stop();
      await receiver.stop();
    });
    const client = createStripeClient({ secretKey: SANDBOX_SECRET_KEY, apiUrl: own.url });
    const customer = await client.customers.create({});
    const paymentMethod = await client.paymentMethods.attach('pm_card_visa', {
      customer: customer.id,
    });
    await client.paymentIntents.create(
      offSessionCharge({ customer: customer.id, paymentMethod: paymentMethod.id }),
    );

    const [delivery] = await deliveries(receiver, 1);
    const event = client.webhooks.constructEvent(
      delivery?.body ?? '',
      delivery?.signature ?? '',
      secret,
    );
    assert.equal(event.type, 'payment_intent.succeeded');
  });
});

void describe('other Stripe calls', () => {
  void test('customer update merges metadata and sets an attached default card', async () => {
    const customer = await stripe.customers.create({
      email: 'merchant@example.com',
      name: 'Merchant One',
      metadata: { merchant_id: 'm_1', plan: 'basic' },
    });
    const card = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const updated = await stripe.customers.update(customer.id, {
      metadata: { plan: '', region: 'eu' },
      invoice_settings: { default_payment_method: card.id },
    });

    assert.match(customer.id, /^cus_/);
    assert.equal(customer.email, 'merchant@example.com');
    assert.equal(customer.name, 'Merchant One');
    assert.deepEqual(updated.metadata, { merchant_id: 'm_1', region: 'eu' });
    assert.equal(updated.invoice_settings.default_payment_method, card.id);
  });

  void test('a PaymentMethod made from tok_visa attaches, lists and detaches', async () => {
    const customer = await stripe.customers.create({});
    const created = await stripe.paymentMethods.create({
      type: 'card',
      card: { token: 'tok_visa' },
    });
    const attached = await stripe.paymentMethods.attach(created.id, { customer: customer.id });
    const newer = await stripe.paymentMethods.attach('pm_card_mastercard', {
      customer: customer.id,
    });
    const listed = await stripe.paymentMethods.list({ customer: customer.id, type: 'card' });
    const detached = await stripe.paymentMethods.detach(created.id);
    const after = await stripe.customers.listPaymentMethods(customer.id);

    assert.equal(created.customer, null);
    assert.equal(attached.id, created.id);
    assert.equal(attached.customer, customer.id);
    assert.deepEqual(
      listed.data.map((method) => method.id),
      [newer.id, created.id],
    );
    assert.equal(detached.customer, null);
    assert.deepEqual(
      after.data.map((method) => method.id),
      [newer.id],
    );
  });

  void test('a declined PaymentIntent can be confirmed again with another card', async () => {
    const card = await customerWithCard('pm_card_visa_chargeDeclinedInsufficientFunds');
    const error = await rejection(noRetry.paymentIntents.create(offSessionCharge(card)));
    assert.ok(error instanceof Stripe.errors.StripeCardError);
    const replacement = await stripe.paymentMethods.attach('pm_card_visa', {
      customer: card.customer,
    });
    const intent = await stripe.paymentIntents.confirm(error.payment_intent?.id ?? '', {
      payment_method: replacement.id,
      off_session: true,
    });

    assert.equal(intent.id, error.payment_intent?.id);
    assert.equal(intent.status, 'succeeded');
    assert.equal(intent.payment_method, replacement.id);
    assert.equal(intent.last_payment_error, null);
  });

  void test('latest_charge expands to the charge, also readable on its own', async () => {
    const card = await customerWithCard('pm_card_visa');
    const intent = await stripe.paymentIntents.create(offSessionCharge(card));
    const expanded = await stripe.paymentIntents.retrieve(intent.id, { expand: ['latest_charge'] });
    const charge = await stripe.charges.retrieve(idOf(intent.latest_charge));

    assert.deepEqual(expanded.latest_charge, { ...charge });
    assert.equal(charge.amount, 2500);
    assert.equal(charge.status, 'succeeded');
    assert.equal(charge.paid, true);
    assert.equal(charge.payment_intent, intent.id);
    assert.equal(charge.payment_method_details?.card?.last4, '4242');
  });

  void test('an unknown parameter is refused with parameter_unknown', async () => {
    const card = await customerWithCard('pm_card_visa');
    const params = {
      ...offSessionCharge(card),
      capture_mode: 'later',
    } as Stripe.PaymentIntentCreateParams;
    const error = await rejection(stripe.paymentIntents.create(params));

    assert.ok(error instanceof Stripe.errors.StripeInvalidRequestError);
    assert.equal(error.code, 'parameter_unknown');
    assert.equal(error.param, 'capture_mode');
  });

  void test('every answer carries a Request-Id, control API and 401s included', async () => {
    const unauthorized = await fetch(`${sandbox.url}/v1/customers`, { method: 'POST' });
    const controlAnswer = await fetch(`${sandbox.url}/_sandbox/requests`);
    const customer = await stripe.customers.create({});

    assert.equal(unauthorized.status, 401);
    assert.match(unauthorized.headers.get('request-id') ?? '', /^req_/);
    assert.match(controlAnswer.headers.get('request-id') ?? '', /^req_/);
    assert.match(customer.lastResponse.requestId, /^req_/);
  });

  void test('bracket notation decodes to nested parameters', () => {
    const params = parseForm(
      'metadata[merchant_id]=m%201&expand[]=customer&expand[]=latest_charge&card[token]=tok_visa',
    );

    assert.deepEqual(JSON.parse(JSON.stringify(params)), {
      metadata: { merchant_id: 'm 1' },
      expand: { 0: 'customer', 1: 'latest_charge' },
      card: { token: 'tok_visa' },
    });
    assert.deepEqual(readExpand(params), ['customer', 'latest_charge']);
  });
});
