/**
 * Idempotency keys of the charge (SPEC 3.6): a key older than 23 hours is never sent to
 * Stripe, the lookup of an unclear charge answers what became of it, and a fresh key for
 * the same recharge replaces the old one on its row. The activity is called directly,
 * against Postgres and the sandbox through the real Stripe client.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { eq } from 'drizzle-orm';
import { chargeCard, type ChargeDeps, lookUpCharge } from '../src/activities/charge';
import { findMerchant } from '../src/activities/merchant-store';
import { type ChargeRequest, KEY_EXPIRED_FAILURE_TYPE } from '../src/activities/contract';
import { recharges } from '../src/db/schema';
import { parseMoney } from '../src/domain/money';
import { BASE_SETTINGS } from './support/settings';
import { injectFault, sandboxRequests, startTestSystem, type TestSystem } from './support/system';

const HOUR_MS = 3_600_000;
let system: TestSystem;
let deps: ChargeDeps;

before(async () => {
  system = await startTestSystem('charge-keys');
  deps = { db: system.database.db, stripe: system.stripe };
});
after(async () => {
  await system.stop();
});

/** A merchant with a card whose workflow stays out of the way (auto reload disabled). */
async function merchantWithCard(): Promise<string> {
  const merchant = await system.merchants.createMerchant({ name: 'Keys' });
  await system.merchants.savePaymentMethod(merchant.id, 'pm_card_visa');
  await system.merchants.updateAutoReload(merchant.id, { ...BASE_SETTINGS, enabled: false });
  return merchant.id;
}

function request(merchantId: string, change: Partial<ChargeRequest> = {}): ChargeRequest {
  const attempt = change.attempt ?? 1;
  return {
    merchantId,
    rechargeId: `rch_${randomUUID()}`,
    cycleKey: '2026-12',
    attempt,
    amount: parseMoney('20.00'),
    idempotencyKey: `auto-reload:${merchantId}:2026-12:${attempt}:${randomUUID()}`,
    keyMintedAt: new Date().toISOString(),
    ...change,
  };
}

const hoursAgo = (hours: number) => new Date(Date.now() - hours * HOUR_MS).toISOString();

async function chargesSentWith(idempotencyKey: string): Promise<number> {
  const served = await sandboxRequests(system.sandbox);
  return served.filter((r) => r.method === 'POST' && r.idempotencyKey === idempotencyKey).length;
}

/**
 * Charges once, then forgets the PaymentIntent id saved on the recharge, as after a crash
 * between Stripe's answer and our write: only the lookup by metadata can find it.
 */
async function chargeAndForgetIntentId(merchantId: string) {
  const first = request(merchantId);
  const charged = await chargeCard(deps, first, 1);
  await system.database.db
    .update(recharges)
    .set({ paymentIntentId: null })
    .where(eq(recharges.id, first.rechargeId));
  return { first, charged };
}

describe('idempotency keys', () => {
  test('a key older than 23 hours is never sent; with nothing found it asks for a fresh one', async () => {
    const merchantId = await merchantWithCard();
    const stale = request(merchantId, { keyMintedAt: hoursAgo(23.02) });

    await assert.rejects(
      chargeCard(deps, stale, 1),
      (error: unknown) =>
        error instanceof ApplicationFailure &&
        error.type === KEY_EXPIRED_FAILURE_TYPE &&
        error.nonRetryable,
    );
    assert.equal(await chargesSentWith(stale.idempotencyKey), 0);
    const [row] = await system.database.db
      .select()
      .from(recharges)
      .where(eq(recharges.id, stale.rechargeId));
    assert.equal(row?.status, 'pending', 'the recharge waits for its fresh key');
  });

  test('a key just under 23 hours old is still used', async () => {
    const merchantId = await merchantWithCard();
    const recent = request(merchantId, { keyMintedAt: hoursAgo(22.98) });

    const { paymentIntentId } = await chargeCard(deps, recent, 1);

    assert.match(paymentIntentId, /^pi_/);
    assert.equal(await chargesSentWith(recent.idempotencyKey), 1);
  });

  test('an old key whose charge went through is settled from its PaymentIntent, not resent', async () => {
    const merchantId = await merchantWithCard();
    const first = request(merchantId);
    const charged = await chargeCard(deps, first, 1);

    const later = { ...first, keyMintedAt: hoursAgo(24) };
    const settled = await chargeCard(deps, later, 1);

    assert.equal(settled.paymentIntentId, charged.paymentIntentId);
    assert.equal(await chargesSentWith(first.idempotencyKey), 1);
  });

  test('the lookup of a recharge never charged answers nothing, with the schedule’s wait', async () => {
    const merchantId = await merchantWithCard();
    const rechargeId = `rch_${randomUUID()}`;

    const first = await lookUpCharge(deps, { merchantId, rechargeId, softDeclinesInARow: 0 });
    const spent = await lookUpCharge(deps, { merchantId, rechargeId, softDeclinesInARow: 3 });
    const configured = await lookUpCharge(
      { ...deps, softDeclineRetryDelaysMs: [5_000] },
      { merchantId, rechargeId, softDeclinesInARow: 0 },
    );

    assert.deepEqual(first, { paymentIntentId: null, retryInMs: HOUR_MS });
    assert.deepEqual(spent, { paymentIntentId: null, retryInMs: null });
    assert.deepEqual(configured, { paymentIntentId: null, retryInMs: 5_000 });
  });

  test('the lookup finds a charge made under an earlier key by its recharge id', async () => {
    const merchantId = await merchantWithCard();
    const { first, charged } = await chargeAndForgetIntentId(merchantId);

    const found = await lookUpCharge(deps, {
      merchantId,
      rechargeId: first.rechargeId,
      softDeclinesInARow: 0,
    });

    assert.deepEqual(found, { paymentIntentId: charged.paymentIntentId });
  });

  test('the lookup pages past a hundred newer PaymentIntents of the customer', async () => {
    const merchantId = await merchantWithCard();
    const { first, charged } = await chargeAndForgetIntentId(merchantId);
    const merchant = await findMerchant(deps.db, merchantId);
    for (let other = 0; other < 120; other += 1) {
      await system.stripe.paymentIntents.create({
        amount: 100,
        currency: 'usd',
        customer: merchant.stripeCustomerId ?? '',
        payment_method: merchant.paymentMethod?.id ?? '',
        off_session: true,
        confirm: true,
        metadata: { merchant_id: merchantId, recharge_id: `rch_other_${other}` },
      });
    }

    const found = await lookUpCharge(deps, {
      merchantId,
      rechargeId: first.rechargeId,
      softDeclinesInARow: 0,
    });

    assert.deepEqual(found, { paymentIntentId: charged.paymentIntentId });
  });

  test('a fresh key for the same recharge replaces the old one on its row', async () => {
    const merchantId = await merchantWithCard();
    const first = request(merchantId);
    // The first key never gets through: every try (the client's own retries too) fails.
    await injectFault(system.sandbox, {
      method: 'POST',
      path: '/v1/payment_intents',
      mode: 'error_before',
      times: 3,
      status: 503,
    });
    await assert.rejects(chargeCard(deps, first, 1));

    const fresh = request(merchantId, {
      rechargeId: first.rechargeId,
      attempt: 2,
      idempotencyKey: `${first.idempotencyKey}:fresh`,
    });
    const { paymentIntentId } = await chargeCard(deps, fresh, 1);

    const rows = await system.database.db
      .select()
      .from(recharges)
      .where(eq(recharges.id, first.rechargeId));
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.idempotencyKey, fresh.idempotencyKey);
    assert.equal(rows[0]?.attempt, 2);
    assert.equal(rows[0]?.paymentIntentId, paymentIntentId);
    const intent = await system.stripe.paymentIntents.retrieve(paymentIntentId);
    assert.equal(intent.metadata.recharge_id, first.rechargeId);
  });
});
