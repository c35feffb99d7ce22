/**
 * Stripe's webhooks through the API: the signature over the raw bytes, one handling per
 * event id, a late `payment_intent.succeeded` credited exactly once, and the sandbox
 * delivering its own signed events to a listening API.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import type Stripe from 'stripe';
import { recharges, stripeEvents } from '../src/db/schema';
import { ADMIN_KEY, WEBHOOK_SECRET, startTestApi, type TestApi } from './support/api';
import {
  type ApiMerchant,
  createApiMerchant,
  nextId,
  rechargeReadyMerchant,
  useCredit,
  waitForBalance,
} from './support/api-merchants';
import { control } from './support/sandbox';
import { waitFor } from './support/wait';

let api: TestApi;

before(async () => {
  api = await startTestApi('api-stripe-webhooks');
});
after(async () => {
  await api.stop();
});

interface SignedEvent {
  readonly payload: string;
  readonly signature: string;
}

/** A Stripe event around a PaymentIntent, signed as Stripe signs it. */
function signedEvent(
  intent: Stripe.PaymentIntent,
  type: string,
  options: { id?: string; secret?: string; timestamp?: number } = {},
): SignedEvent {
  const payload = JSON.stringify({
    id: options.id ?? nextId('evt'),
    object: 'event',
    type,
    created: Math.floor(Date.now() / 1000),
    data: { object: intent },
  });
  const signature = api.system.stripe.webhooks.generateTestHeaderString({
    payload,
    secret: options.secret ?? WEBHOOK_SECRET,
    ...(options.timestamp !== undefined && { timestamp: options.timestamp }),
  });
  return { payload, signature };
}

async function deliver(event: SignedEvent) {
  const response = await api.app.inject({
    method: 'POST',
    url: '/v1/stripe/webhooks',
    headers: { 'content-type': 'application/json', 'stripe-signature': event.signature },
    payload: event.payload,
  });
  return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
}

/** A merchant recharged once, and the PaymentIntent of that recharge. */
async function rechargedMerchant(): Promise<{
  merchant: ApiMerchant;
  intent: Stripe.PaymentIntent;
}> {
  const merchant = await rechargeReadyMerchant(api);
  await useCredit(api, merchant.id, '6.00');
  await waitForBalance(api, merchant.id, '29.00');
  const [row] = await api.system.database.db
    .select()
    .from(recharges)
    .where(eq(recharges.merchantId, merchant.id));
  const intent = await api.system.stripe.paymentIntents.retrieve(row?.paymentIntentId ?? '');
  return { merchant, intent };
}

async function handledEvents(paymentIntentId: string): Promise<number> {
  const rows = await api.system.database.db
    .select()
    .from(stripeEvents)
    .where(eq(stripeEvents.paymentIntentId, paymentIntentId));
  return rows.length;
}

const errorCode = (body: Record<string, unknown>) => (body.error as { code: string }).code;

describe('signatures', () => {
  test('a good signature is accepted once; the same event again changes nothing', async () => {
    const { merchant, intent } = await rechargedMerchant();
    const event = signedEvent(intent, 'payment_intent.succeeded');
    assert.deepEqual(await deliver(event), {
      status: 200,
      body: { received: true, outcome: 'signalled' },
    });
    assert.deepEqual(await deliver(event), {
      status: 200,
      body: { received: true, outcome: 'duplicate' },
    });
    assert.equal(await handledEvents(intent.id), 1);
    // The charge activity had already credited it: the event credits nothing more.
    await waitFor('the workflow handled the event', async () => {
      const { body } = await api.call('GET', `/v1/merchants/${merchant.id}/ledger`, ADMIN_KEY);
      return (body as { data: unknown[] }).data.length === 3 ? true : undefined;
    });
    const balance = await api.call('GET', `/v1/merchants/${merchant.id}/balance`, ADMIN_KEY);
    assert.deepEqual(balance.body, { balance: '29.00', currency: 'usd', ledgerSeq: 3 });
  });

  test('a signature made with another secret is refused', async () => {
    const { intent } = await rechargedMerchant();
    const event = signedEvent(intent, 'payment_intent.succeeded', { secret: 'whsec_other' });
    const { status, body } = await deliver(event);
    assert.equal(status, 400);
    assert.equal(errorCode(body), 'invalid_signature');
    assert.equal(await handledEvents(intent.id), 0);
  });

  test('a signature older than five minutes is refused', async () => {
    const { intent } = await rechargedMerchant();
    const timestamp = Math.floor(Date.now() / 1000) - 600;
    const { status, body } = await deliver(
      signedEvent(intent, 'payment_intent.succeeded', { timestamp }),
    );
    assert.equal(status, 400);
    assert.equal(errorCode(body), 'invalid_signature');
  });

  test('a body changed after signing is refused', async () => {
    const { intent } = await rechargedMerchant();
    const event = signedEvent(intent, 'payment_intent.succeeded');
    const tampered = { ...event, payload: event.payload.replace('"amount":2000', '"amount":9000') };
    assert.notEqual(tampered.payload, event.payload);
    const { status, body } = await deliver(tampered);
    assert.equal(status, 400);
    assert.equal(errorCode(body), 'invalid_signature');
  });

  test('events about other PaymentIntents or of other types are acknowledged and ignored', async () => {
    const { intent } = await rechargedMerchant();
    const foreign = { ...intent, metadata: {} };
    assert.deepEqual((await deliver(signedEvent(foreign, 'payment_intent.succeeded'))).body, {
      received: true,
      outcome: 'ignored',
    });
    assert.deepEqual((await deliver(signedEvent(intent, 'charge.refunded'))).body, {
      received: true,
      outcome: 'ignored',
    });
  });
});

describe('late success', () => {
  test('a recharge left action_required is credited exactly once by a late success', async () => {
    const merchant = await createApiMerchant(api);
    const base = `/v1/merchants/${merchant.id}`;
    const card = { paymentMethodId: 'pm_card_authenticationRequired' };
    await api.call('PUT', `${base}/payment-method`, merchant.apiKey, card);
    await api.call('POST', `${base}/credits`, ADMIN_KEY, { id: 'o', amount: '15.00', reason: 'o' });
    const settings = { enabled: true, threshold: '10.00', amount: '20.00', maxPerCycle: '100.00' };
    await api.call('PUT', `${base}/auto-reload`, merchant.apiKey, settings);
    await useCredit(api, merchant.id, '6.00');
    const recharge = await waitFor('the recharge to need authentication', async () => {
      const { body } = await api.call('GET', `${base}/recharges`, merchant.apiKey);
      const [first] = (body as { data: { status: string; paymentIntentId: string }[] }).data;
      return first?.status === 'action_required' ? first : undefined;
    });

    // The merchant's page reads what Stripe.js needs to confirm the payment on-session.
    const intent = await api.system.stripe.paymentIntents.retrieve(recharge.paymentIntentId);
    const pending = await api.call('GET', `${base}/auto-reload/authentication`, merchant.apiKey);
    assert.equal(pending.status, 200);
    assert.deepEqual(pending.body, {
      rechargeId: (pending.body as { rechargeId: string }).rechargeId,
      paymentIntentId: recharge.paymentIntentId,
      amount: '20.00',
      currency: 'usd',
      status: intent.status,
      clientSecret: intent.client_secret,
    });
    // Off-session, Stripe leaves it waiting for the cardholder to confirm it on-session.
    assert.match(intent.client_secret ?? '', /^pi_.+_secret_/);
    assert.equal(intent.status, 'requires_payment_method');

    // The merchant authenticated on their page; Stripe reports the success.
    const succeeded = { ...intent, status: 'succeeded' as const };
    const event = signedEvent(succeeded, 'payment_intent.succeeded');
    assert.equal((await deliver(event)).body.outcome, 'signalled');
    const again = signedEvent(succeeded, 'payment_intent.succeeded');
    assert.equal((await deliver(again)).body.outcome, 'signalled');

    await waitForBalance(api, merchant.id, '29.00');
    await waitFor('status active again', async () => {
      const { body } = await api.call('GET', `${base}/auto-reload`, merchant.apiKey);
      return (body as { status: string }).status === 'active' ? true : undefined;
    });
    const ledger = await api.call('GET', `${base}/ledger`, merchant.apiKey);
    const credits = (ledger.body as { data: { kind: string; id: string }[] }).data.filter(
      (entry) => entry.kind === 'recharge',
    );
    assert.deepEqual(
      credits.map((entry) => entry.id),
      [recharge.paymentIntentId],
    );
    const [row] = await api.system.database.db
      .select()
      .from(recharges)
      .where(eq(recharges.paymentIntentId, recharge.paymentIntentId));
    assert.equal(row?.status, 'succeeded');
    const done = await api.call('GET', `${base}/auto-reload/authentication`, merchant.apiKey);
    assert.equal(done.status, 404);
    assert.equal(errorCode(done.body as Record<string, unknown>), 'nothing_to_authenticate');
  });
});

describe('the sandbox delivering to the API', () => {
  test("the sandbox's own signed events reach a listening API and are handled once", async () => {
    const address = await api.app.listen({ host: '127.0.0.1', port: 0 });
    const sandbox = api.system.sandbox.url;
    const endpoint = { url: `${address}/v1/stripe/webhooks`, secret: WEBHOOK_SECRET };
    await control(sandbox, 'POST', '/_sandbox/webhook-endpoint', endpoint);
    try {
      const { intent } = await rechargedMerchant();
      await waitFor('the sandbox event handled', async () =>
        (await handledEvents(intent.id)) === 1 ? true : undefined,
      );
    } finally {
      await control(sandbox, 'DELETE', '/_sandbox/webhook-endpoint');
    }
  });
});
