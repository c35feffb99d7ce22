/**
 * The engine end to end on real services: Postgres, the Temporal dev server, the worker
 * with the real activities, and the Stripe sandbox through the official client.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import { autoReloadSettings, decisions } from '../src/db/schema';
import type { AutoReloadStatus } from '../src/domain/auto-reload';
import { parseMoney } from '../src/domain/money';
import {
  injectFault,
  sandboxRequests,
  startTestSystem,
  type TestSystem,
  persistedStatus,
  rechargesOf,
} from './support/system';
import { waitFor } from './support/wait';
import { BASE_SETTINGS } from './support/settings';

let system: TestSystem;
let eventCounter = 0;

before(async () => {
  system = await startTestSystem('e2e');
});
after(async () => {
  await system.stop();
});

/** A merchant with a saved card, an opening credit and Auto Reload configured. */
async function merchantWith(paymentMethod: string, opening: string, settings = BASE_SETTINGS) {
  const merchant = await system.merchants.createMerchant({ name: `Shop ${paymentMethod}` });
  await system.ledger.creditManual({
    merchantId: merchant.id,
    creditId: 'opening',
    amount: parseMoney(opening),
    reason: 'opening credit',
  });
  await system.merchants.savePaymentMethod(merchant.id, paymentMethod);
  await system.merchants.updateAutoReload(merchant.id, settings);
  return merchant.id;
}

async function use(merchantId: string, amount: string) {
  eventCounter += 1;
  return system.pipeline.recordUsage({
    merchantId,
    eventId: `evt-${eventCounter}`,
    amount: parseMoney(amount),
    kind: 'campaign',
  });
}

async function waitForStatus(merchantId: string, status: AutoReloadStatus) {
  return waitFor(`status ${status}`, async () => {
    const state = await system.workflows.getState(merchantId);
    return state.status === status && state.inFlight === null ? state : undefined;
  });
}

async function decisionsOf(merchantId: string) {
  const rows = await system.database.db
    .select()
    .from(decisions)
    .where(eq(decisions.merchantId, merchantId));
  return rows.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
}

async function paymentIntentsOf(merchantId: string) {
  const found = await system.stripe.paymentIntents.search({
    query: `metadata['merchant_id']:'${merchantId}'`,
  });
  return found.data;
}

async function assertLedgerSound(merchantId: string) {
  const report = await system.ledger.checkInvariants(merchantId);
  assert.deepEqual(report.violations, []);
  assert.equal(report.balance, report.ledgerSum);
}

describe('end to end', () => {
  test('a usage stream drives capped recharges, each credited once', async () => {
    const merchantId = await merchantWith('pm_card_visa', '30.00');

    // 30.00 - 25.00 = 5.00, below the 10.00 threshold: one recharge of 20.00.
    const debit = await use(merchantId, '25.00');
    assert.equal(debit.status, 'debited');
    assert.equal((debit as { signalled?: boolean }).signalled, true);
    await waitFor('the first credit', async () => {
      const balance = await system.ledger.readBalance(merchantId);
      return balance?.balance === parseMoney('25.00') ? balance : undefined;
    });

    // Each round drains 20.00 to 5.00 and is refilled; the sixth would pass the 100.00 cap.
    // Ledger: seq 1 opening credit, then a debit (seq 2r) and a credit (seq 2r + 1) a round.
    for (let round = 2; round <= 5; round += 1) {
      await use(merchantId, '20.00');
      const view = await waitFor(`round ${round} credited`, async () => {
        const current = await system.workflows.getState(merchantId);
        return current.ledgerSeq === 2 * round + 1 && current.inFlight === null
          ? current
          : undefined;
      });
      assert.equal(view.cycle.total, parseMoney('20.00') * round);
      assert.equal(view.balance, parseMoney('25.00'));
    }
    await use(merchantId, '20.00');

    const state = await waitForStatus(merchantId, 'cap_reached');
    assert.equal(state.cycle.total, parseMoney('100.00'));
    assert.equal(state.balance, parseMoney('5.00'));

    const intents = await paymentIntentsOf(merchantId);
    assert.equal(intents.length, 5);
    assert.ok(intents.every((intent) => intent.status === 'succeeded' && intent.amount === 2_000));
    const rows = await rechargesOf(system, merchantId);
    assert.equal(rows.length, 5);
    assert.ok(rows.every((row) => row.status === 'succeeded' && row.paymentIntentId !== null));
    assert.deepEqual(
      new Set(rows.map((row) => row.paymentIntentId)),
      new Set(intents.map((intent) => intent.id)),
    );

    const log = await decisionsOf(merchantId);
    assert.equal(log.filter((row) => row.outcome === 'charged').length, 5);
    assert.equal(log.filter((row) => row.reason === 'cap_reached').length, 1);
    await assertLedgerSound(merchantId);
  });

  test('a declined card ends in payment_failed with its decline code', async () => {
    const merchantId = await merchantWith('pm_card_visa_chargeDeclinedLostCard', '15.00');
    await use(merchantId, '10.00');

    const state = await waitForStatus(merchantId, 'payment_failed');
    assert.equal(state.balance, parseMoney('5.00'));
    assert.equal(state.cycle.total, 0);

    const [row] = await rechargesOf(system, merchantId);
    assert.equal(row?.status, 'failed');
    assert.equal(row?.failureCode, 'card_declined');
    assert.equal(row?.declineCode, 'lost_card');
    const failed = (await decisionsOf(merchantId)).filter((d) => d.outcome === 'failed');
    assert.equal(failed.length, 1);
    assert.equal(failed[0]?.declineCode, 'lost_card');
    // Postgres hears of the status just after the workflow decides it.
    await waitFor('payment_failed in Postgres', async () =>
      (await persistedStatus(system, merchantId)) === 'payment_failed' ? true : undefined,
    );
    await assertLedgerSound(merchantId);
  });

  test('a new merchant gets a status row with default settings before any are saved', async () => {
    const merchant = await system.merchants.createMerchant({ name: 'Shop without settings' });
    const status = await waitFor('the status row', () => persistedStatus(system, merchant.id));
    assert.equal(status, 'disabled');
    const [row] = await system.database.db
      .select()
      .from(autoReloadSettings)
      .where(eq(autoReloadSettings.merchantId, merchant.id));
    assert.equal(row?.enabled, false);
    assert.equal(row?.amount, parseMoney('20.00'));
    assert.equal(row?.maxPerCycle, parseMoney('100.00'));
  });

  test('a card that needs authentication ends in action_required', async () => {
    const merchantId = await merchantWith('pm_card_authenticationRequired', '15.00');
    await use(merchantId, '10.00');

    const state = await waitForStatus(merchantId, 'action_required');
    assert.equal(state.balance, parseMoney('5.00'));
    const [row] = await rechargesOf(system, merchantId);
    assert.equal(row?.status, 'action_required');
    assert.equal(row?.failureCode, 'authentication_required');
    assert.ok(row?.paymentIntentId?.startsWith('pi_'));
  });

  test('a dropped answer after the charge leaves one PaymentIntent and one credit', async () => {
    const merchantId = await merchantWith('pm_card_visa', '15.00');
    await injectFault(system.sandbox, {
      method: 'POST',
      path: '/v1/payment_intents',
      mode: 'drop_after',
      times: 1,
    });
    await use(merchantId, '10.00');

    const state = await waitFor('the recharge credited', async () => {
      const view = await system.workflows.getState(merchantId);
      return view.lastRecharge?.status === 'succeeded' && view.inFlight === null ? view : undefined;
    });
    assert.equal(state.balance, parseMoney('25.00'));
    const intents = await paymentIntentsOf(merchantId);
    assert.equal(intents.length, 1);

    const requests = (await sandboxRequests(system.sandbox)).filter(
      (request) => request.method === 'POST' && request.path === '/v1/payment_intents',
    );
    const keys = new Set(requests.map((request) => request.idempotencyKey));
    const rows = await rechargesOf(system, merchantId);
    assert.equal(rows.length, 1);
    assert.ok(keys.has(rows[0]?.idempotencyKey ?? ''));
    assert.ok(requests.filter((r) => r.idempotencyKey === rows[0]?.idempotencyKey).length >= 2);

    const entries = await system.ledger.listLedger(merchantId, { limit: 100 });
    assert.equal(entries.data.filter((entry) => entry.kind === 'recharge').length, 1);
    await assertLedgerSound(merchantId);
  });
});
