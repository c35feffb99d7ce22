/**
 * A charge whose answer was lost or saved as an error is looked up before it is tried
 * again, so the money taken is credited once and never charged twice. Real engine, the
 * sandbox's fault modes on the charge.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import { recharges } from '../src/db/schema';
import { parseMoney } from '../src/domain/money';
import { BASE_SETTINGS } from './support/settings';
import { injectFault, sandboxRequests, startTestSystem, type TestSystem } from './support/system';
import { waitFor } from './support/wait';

let system: TestSystem;
let counter = 0;

before(async () => {
  system = await startTestSystem('charge-lost-answer');
});
after(async () => {
  await system.stop();
});

async function merchantWith(paymentMethod: string): Promise<string> {
  const merchant = await system.merchants.createMerchant({ name: `Lost answer ${paymentMethod}` });
  await system.ledger.creditManual({
    merchantId: merchant.id,
    creditId: 'opening',
    amount: parseMoney('15.00'),
    reason: 'opening credit',
  });
  await system.merchants.savePaymentMethod(merchant.id, paymentMethod);
  await system.merchants.updateAutoReload(merchant.id, BASE_SETTINGS);
  return merchant.id;
}

async function use(merchantId: string, amount: string): Promise<void> {
  counter += 1;
  const eventId = `lost-${process.pid}-${counter}`;
  await system.pipeline.recordUsage({
    merchantId,
    eventId,
    amount: parseMoney(amount),
    kind: 'chat',
  });
}

async function intentsOf(merchantId: string) {
  const found = await system.stripe.paymentIntents.search({
    query: `metadata['merchant_id']:'${merchantId}'`,
  });
  return found.data;
}

/**
 * The next charge happens, but Stripe saves a 500 as the answer for its key, so every
 * retry with that key answers 500 again.
 */
async function saveNextChargeAsError(): Promise<void> {
  await injectFault(system.sandbox, {
    method: 'POST',
    path: '/v1/payment_intents',
    mode: 'error_after',
    times: 1,
    status: 500,
  });
}

/** How many times the sandbox was asked to list PaymentIntents. */
async function lookups(): Promise<number> {
  const served = await sandboxRequests(system.sandbox);
  return served.filter((r) => r.method === 'GET' && r.path === '/v1/payment_intents').length;
}

async function settledRecharge(merchantId: string) {
  return waitFor('the recharge to settle', async () => {
    const view = await system.workflows.getState(merchantId);
    return view.lastRecharge !== null && view.inFlight === null ? view : undefined;
  });
}

describe('a charge whose answer was lost', () => {
  test('a success saved as a 500 (error_after) is found and credited once', async () => {
    const merchantId = await merchantWith('pm_card_visa');
    await saveNextChargeAsError();
    await use(merchantId, '6.00');

    const state = await settledRecharge(merchantId);
    assert.equal(state.lastRecharge?.status, 'succeeded');
    assert.equal(state.status, 'active');
    const balance = await system.ledger.readBalance(merchantId);
    assert.equal(balance?.balance, parseMoney('29.00'));

    const intents = await intentsOf(merchantId);
    assert.deepEqual(
      intents.map((intent) => [intent.status, intent.amount]),
      [['succeeded', 2_000]],
    );
    const [row] = await system.database.db
      .select()
      .from(recharges)
      .where(eq(recharges.merchantId, merchantId));
    assert.equal(row?.status, 'succeeded');
    assert.equal(row?.paymentIntentId, intents[0]?.id);

    const served = await sandboxRequests(system.sandbox);
    const creates = served.filter((r) => r.method === 'POST' && r.path === '/v1/payment_intents');
    assert.ok(creates.every((r) => r.idempotencyKey === row?.idempotencyKey));
    assert.ok(served.some((r) => r.method === 'GET' && r.path === '/v1/payment_intents'));
    const report = await system.ledger.checkInvariants(merchantId);
    assert.deepEqual(report.violations, []);
  });

  test('a decline saved as a 500 is found and recorded as the decline it was', async () => {
    const merchantId = await merchantWith('pm_card_visa_chargeDeclinedLostCard');
    const lookupsBefore = await lookups();
    await saveNextChargeAsError();
    await use(merchantId, '6.00');

    const state = await settledRecharge(merchantId);
    assert.equal(state.status, 'payment_failed');
    assert.equal(state.lastRecharge?.status, 'failed');
    assert.deepEqual(
      [
        state.lastDecision?.outcome,
        state.lastDecision?.outcome === 'failed' && state.lastDecision.code,
      ],
      ['failed', 'card_declined'],
    );
    const balance = await system.ledger.readBalance(merchantId);
    assert.equal(balance?.balance, parseMoney('9.00'));
    // The decline was learnt by looking the PaymentIntent up, not from the saved 500.
    assert.ok((await lookups()) > lookupsBefore);
  });
});
