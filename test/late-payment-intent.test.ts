/**
 * Late PaymentIntent outcomes through the `paymentIntentEvent` signal (SPEC 3.6: "a late
 * success is credited once"), on the real engine: Postgres ledger, the Stripe sandbox and
 * the worker with the real activities. The signal is sent the way the Stripe webhook route
 * sends it, with the Temporal client.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { asc, eq } from 'drizzle-orm';
import { decisions, notifications, recharges } from '../src/db/schema';
import type { AutoReloadStatus } from '../src/domain/auto-reload';
import { parseMoney } from '../src/domain/money';
import { type PaymentIntentEvent, paymentIntentEventSignal } from '../src/workflows/definitions';
import { merchantWorkflowId } from '../src/workflows/ids';
import type { AutoReloadStateView } from '../src/workflows/state';
import {
  completedActivities,
  signalsHandled,
  waitForSignalsHandled,
} from './support/merchant-workflow';
import { createTestMerchant } from './support/merchants';
import { spendCredit, startTestSystem, type TestSystem, waitForView } from './support/system';
import { waitFor } from './support/wait';
import { BASE_SETTINGS } from './support/settings';

const money = parseMoney;

let system: TestSystem;
let counter = 0;

before(async () => {
  system = await startTestSystem('late-payment');
});
after(async () => {
  await system.stop();
});

function nextId(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

const SIGNAL = 'paymentIntentEvent';

function handleOf(merchantId: string) {
  return system.env.client.workflow.getHandle(merchantWorkflowId(merchantId));
}

async function historyOf(merchantId: string) {
  return (await handleOf(merchantId).fetchHistory()).events ?? [];
}

function idleWith(status: AutoReloadStatus) {
  return (state: AutoReloadStateView) => state.status === status && state.inFlight === null;
}

/** A merchant whose first recharge has settled with `status`. */
async function merchantAfterFirstRecharge(card: string, status: AutoReloadStatus) {
  const merchantId = await createTestMerchant(system.database, {
    balance: money('15.00'),
    settings: BASE_SETTINGS,
  });
  await system.merchants.savePaymentMethod(merchantId, card);
  await spendCredit(system, merchantId, '10.00');
  const state = await waitForView(system, merchantId, `status ${status}`, (s) => {
    return idleWith(status)(s) && s.attemptsMade === 1;
  });
  return { merchantId, state };
}

async function rechargesOf(merchantId: string) {
  return system.database.db
    .select()
    .from(recharges)
    .where(eq(recharges.merchantId, merchantId))
    .orderBy(asc(recharges.attempt));
}

function succeeded(row: { id: string; paymentIntentId: string | null }): PaymentIntentEvent {
  assert.ok(row.paymentIntentId, 'the recharge has a PaymentIntent');
  return {
    eventId: nextId('evt'),
    type: 'payment_intent.succeeded',
    paymentIntentId: row.paymentIntentId,
    rechargeId: row.id,
    amount: money('20.00'),
    code: null,
    declineCode: null,
  };
}

async function rechargeEntries(merchantId: string, paymentIntentId: string) {
  const page = await system.ledger.listLedger(merchantId, { limit: 100 });
  return page.data.filter((e) => e.kind === 'recharge' && e.externalId === paymentIntentId);
}

async function succeededNotifications(merchantId: string) {
  const rows = await system.database.db
    .select()
    .from(notifications)
    .where(eq(notifications.merchantId, merchantId));
  return rows.filter((row) => row.type === 'auto_reload.succeeded');
}

describe('late PaymentIntent events', () => {
  test('credits a late success of an action_required recharge exactly once', async () => {
    const { merchantId } = await merchantAfterFirstRecharge(
      'pm_card_authenticationRequired',
      'action_required',
    );
    const [row] = await rechargesOf(merchantId);
    assert.equal(row?.status, 'action_required');
    const intent = await system.stripe.paymentIntents.retrieve(row.paymentIntentId ?? '');
    // Off-session, Stripe fails the PaymentIntent; the merchant confirms it again on-session.
    assert.equal(intent.status, 'requires_payment_method');
    assert.equal(intent.metadata.recharge_id, row.id);
    assert.equal(intent.amount, 2_000);

    const event = succeeded(row);
    const handle = handleOf(merchantId);
    await handle.signal(paymentIntentEventSignal, event);
    await handle.signal(paymentIntentEventSignal, { ...event, eventId: nextId('evt') });

    const state = await waitForView(
      system,
      merchantId,
      'active after the late credit',
      idleWith('active'),
    );
    const events = await waitForSignalsHandled(handle, SIGNAL, 2);
    assert.equal(state.balance, 25_000_000);
    assert.equal(state.cycle.total, 20_000_000);
    assert.deepEqual(state.lastRecharge, {
      id: row.id,
      amount: 20_000_000,
      status: 'succeeded',
      paymentIntentId: row.paymentIntentId,
      at: state.lastRecharge?.at,
    });
    assert.equal(completedActivities(events, 'settleLateRecharge'), 1);

    assert.equal((await system.ledger.readBalance(merchantId))?.balance, 25_000_000);
    const entries = await rechargeEntries(merchantId, row.paymentIntentId ?? '');
    assert.deepEqual(
      entries.map(({ amount, rechargeId }) => ({ amount, rechargeId })),
      [{ amount: 20_000_000, rechargeId: row.id }],
    );
    const [settled] = await rechargesOf(merchantId);
    assert.equal(settled?.status, 'succeeded');
    assert.equal(settled.paymentIntentId, row.paymentIntentId);
    assert.deepEqual((await system.ledger.checkInvariants(merchantId)).violations, []);
    const sent = await waitFor('the succeeded notification', async () => {
      const rows = await succeededNotifications(merchantId);
      return rows.length > 0 ? rows : undefined;
    });
    assert.equal(sent.length, 1);
    const logged = await system.database.db
      .select()
      .from(decisions)
      .where(eq(decisions.merchantId, merchantId))
      .orderBy(asc(decisions.createdAt));
    assert.deepEqual(
      logged.map(({ outcome, reason, rechargeId, statusAfter }) => ({
        outcome,
        reason,
        rechargeId,
        statusAfter,
      })),
      [
        { outcome: 'charged', reason: null, rechargeId: row.id, statusAfter: 'recharging' },
        {
          outcome: 'failed',
          reason: 'AuthenticationRequiredFailure',
          rechargeId: row.id,
          statusAfter: 'action_required',
        },
        {
          outcome: 'resumed',
          reason: 'late_payment_succeeded',
          rechargeId: row.id,
          statusAfter: 'active',
        },
      ],
    );
  });

  test('a success for a recharge credited long ago changes nothing', async () => {
    const { merchantId } = await merchantAfterFirstRecharge('pm_card_visa', 'active');
    // A second recharge, so that the first is no longer the last one the state knows.
    await spendCredit(system, merchantId, '20.00');
    const before = await waitForView(system, merchantId, 'the 2nd recharge', (s) => {
      return idleWith('active')(s) && s.attemptsMade === 2;
    });
    const [first] = await rechargesOf(merchantId);
    assert.equal(first?.status, 'succeeded');

    await handleOf(merchantId).signal(paymentIntentEventSignal, succeeded(first));
    const events = await waitFor('the repeat settled', async () => {
      const history = await historyOf(merchantId);
      return completedActivities(history, 'settleLateRecharge') === 1 ? history : undefined;
    });

    assert.ok(signalsHandled(events, SIGNAL, 1));
    const after = await waitForView(system, merchantId, 'idle', idleWith('active'));
    assert.deepEqual(after, before);
    assert.equal((await system.ledger.readBalance(merchantId))?.balance, before.balance);
    assert.equal((await rechargeEntries(merchantId, first.paymentIntentId ?? '')).length, 1);
    // One per recharge, sent when each was credited; the repeat sent none.
    await waitFor('two succeeded notifications', async () =>
      (await succeededNotifications(merchantId)).length === 2 ? true : undefined,
    );
  });

  test('a payment_failed event is only logged', async () => {
    const { merchantId, state } = await merchantAfterFirstRecharge(
      'pm_card_authenticationRequired',
      'action_required',
    );
    const [row] = await rechargesOf(merchantId);
    assert.ok(row);
    const failed: PaymentIntentEvent = {
      ...succeeded(row),
      type: 'payment_intent.payment_failed',
      code: 'payment_intent_authentication_failure',
      declineCode: null,
    };
    await handleOf(merchantId).signal(paymentIntentEventSignal, failed);
    const events = await waitForSignalsHandled(handleOf(merchantId), SIGNAL, 1);

    assert.equal(completedActivities(events, 'settleLateRecharge'), 0);
    assert.deepEqual(await system.workflows.getState(merchantId), state);
    assert.equal((await rechargesOf(merchantId))[0]?.status, 'action_required');
  });

  test('ignores a malformed signal and a success for a recharge it never made', async () => {
    const { merchantId, state } = await merchantAfterFirstRecharge(
      'pm_card_authenticationRequired',
      'action_required',
    );
    const [row] = await rechargesOf(merchantId);
    assert.ok(row);
    const handle = handleOf(merchantId);
    const malformed = { ...succeeded(row), amount: '20.00' } as unknown as PaymentIntentEvent;
    await handle.signal(paymentIntentEventSignal, malformed);
    const stranger = { ...succeeded(row), rechargeId: 'rch_unknown', paymentIntentId: 'pi_x' };
    await handle.signal(paymentIntentEventSignal, stranger);

    const events = await waitFor('the stranger refused', async () => {
      const history = await historyOf(merchantId);
      return completedActivities(history, 'settleLateRecharge') === 1 ? history : undefined;
    });
    assert.ok(signalsHandled(events, SIGNAL, 2));
    assert.deepEqual(await system.workflows.getState(merchantId), state);
    assert.equal((await system.ledger.readBalance(merchantId))?.balance, 5_000_000);
  });
});
