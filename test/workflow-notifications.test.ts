/**
 * When the merchant workflow notifies (SPEC 3.8) and how it treats Stripe's late word on a
 * charge in flight, with fake activities so that every notification can be asserted exactly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NotificationRequest } from '../src/activities/contract';
import { parseMoney } from '../src/domain/money';
import {
  balanceChangedSignal,
  paymentIntentEventSignal,
  paymentMethodChangedSignal,
} from '../src/workflows/definitions';
import type { FakeMerchant } from './support/fake-activities';
import { MAX_KEYS_PER_RECHARGE } from '../src/workflows/recharge';
import {
  FakeWorkflowHarness,
  sendBalance,
  waitForIdle,
  waitForSignalsHandled,
  waitForState,
} from './support/merchant-workflow';
import { waitFor } from './support/wait';

const money = parseMoney;

/** Stripe's word that the merchant's first PaymentIntent, for `rechargeId`, succeeded. */
function lateSuccess(merchant: FakeMerchant, rechargeId: string, eventId: string) {
  return {
    eventId,
    type: 'payment_intent.succeeded' as const,
    paymentIntentId: `pi_fake_${merchant.merchantId}_1`,
    rechargeId,
    amount: money('20.00'),
    code: null,
    declineCode: null,
  };
}
const harness = FakeWorkflowHarness.perTestFile();

/** Waits until the fake has been asked for exactly `count` notifications. */
async function notificationsSent(
  merchant: FakeMerchant,
  count: number,
): Promise<NotificationRequest[]> {
  return waitFor(`${count} notifications`, () => {
    const sent = merchant.callsOf('notifyMerchant');
    return sent.length === count ? sent : undefined;
  });
}

function typesOf(sent: readonly NotificationRequest[]): string[] {
  return sent.map((request) => request.type).sort();
}

void test('sends one cap warning per level a charge jumps past, once per cycle', async (t) => {
  const { merchant, handle } = await harness.start(t, {
    balance: '50.00',
    settings: { maxPerCycle: money('20.00') },
  });
  await waitForIdle(handle, merchant, 'active');
  // The first charge is declined after counting in the total; a new card charges again.
  merchant.chargeScript.push({ outcome: 'hardDecline', declineCode: 'expired_card' });
  await handle.signal(balanceChangedSignal, merchant.debit('45.00'));
  await waitForIdle(handle, merchant, 'payment_failed');
  await handle.signal(paymentMethodChangedSignal, { hasPaymentMethod: true });
  await waitForState(handle, (s) => s.lastRecharge?.status === 'succeeded', 'the 2nd charge');
  await waitForIdle(handle, merchant, 'active');

  const sent = await notificationsSent(merchant, 6);
  assert.deepEqual(typesOf(sent), [
    'auto_reload.cap_warning',
    'auto_reload.cap_warning',
    'auto_reload.cap_warning',
    'auto_reload.failed',
    'auto_reload.succeeded',
    'balance.low',
  ]);
  const warnings = sent.filter((request) => request.type === 'auto_reload.cap_warning');
  assert.deepEqual(
    // Delivered concurrently: the order they were sent in is not the order they ran in.
    warnings.map((request) => Number(request.data.level)).sort((a, b) => a - b),
    [80, 90, 100],
  );
  assert.ok(warnings.every((request) => request.data.cycleTotal === '20.00'));
  assert.equal(new Set(sent.map((request) => request.notificationId)).size, 6);
  assert.ok(sent.every((request) => /^ntf_[0-9a-f-]{36}$/.test(request.notificationId)));
});

void test('sends balance.low once per stay below the threshold', async (t) => {
  const { merchant, handle } = await harness.start(t, {
    balance: '50.00',
    settings: { enabled: false },
  });
  await waitForIdle(handle, merchant, 'disabled');

  await sendBalance(handle, merchant.debit('45.00'));
  await sendBalance(handle, merchant.debit('1.00'));
  await sendBalance(handle, merchant.debit('2.00'));
  await notificationsSent(merchant, 1);
  // A manual credit brings it back to the threshold exactly: not low any more.
  merchant.balance = money('10.00');
  merchant.ledgerSeq += 1;
  await sendBalance(handle, { balance: merchant.balance, ledgerSeq: merchant.ledgerSeq });
  await sendBalance(handle, merchant.debit('0.0075'));

  const sent = await notificationsSent(merchant, 2);
  assert.deepEqual(
    sent.map((request) => [request.type, request.data.balance, request.data.autoReloadEnabled]),
    [
      ['balance.low', '5.00', false],
      ['balance.low', '9.9925', false],
    ],
  );
  assert.deepEqual(merchant.callsOf('chargeCard'), []);
});

void test('leaves a success reported for the charge in flight to that charge', async (t) => {
  const { merchant, handle } = await harness.start(t, { balance: '50.00' });
  await waitForIdle(handle, merchant, 'active');
  const release = merchant.holdCharges();
  await handle.signal(balanceChangedSignal, merchant.debit('45.00'));
  const charging = await waitForState(handle, (s) => s.inFlight !== null, 'a charge in flight');
  const rechargeId = charging.inFlight?.rechargeId ?? '';

  await handle.signal(paymentIntentEventSignal, lateSuccess(merchant, rechargeId, 'evt_in_flight'));
  await waitForSignalsHandled(handle, 'paymentIntentEvent', 1);
  release();

  const state = await waitForIdle(handle, merchant, 'active');
  assert.equal(state.balance, money('25.00'));
  assert.equal(merchant.callsOf('creditRecharge').length, 1);
  assert.deepEqual(merchant.callsOf('settleLateRecharge'), []);
  assert.equal(state.cycle.total, money('20.00'));
});

void test('credits a late success after an unknown outcome and clears retry_scheduled', async (t) => {
  const { merchant, handle } = await harness.start(t, { balance: '50.00' });
  await waitForIdle(handle, merchant, 'active');
  for (let i = 0; i < MAX_KEYS_PER_RECHARGE; i += 1) {
    merchant.chargeScript.push({ outcome: 'unclassified' });
  }
  await handle.signal(balanceChangedSignal, merchant.debit('45.00'));
  const failed = await waitForIdle(handle, merchant, 'retry_scheduled');
  assert.equal(failed.cycle.total, 0);
  const rechargeId = failed.lastRecharge?.id ?? '';

  await handle.signal(paymentIntentEventSignal, lateSuccess(merchant, rechargeId, 'evt_late'));

  const state = await waitForIdle(handle, merchant, 'active');
  assert.equal(state.balance, money('25.00'));
  assert.equal(state.cycle.total, money('20.00'));
  assert.equal(state.lastRecharge?.status, 'succeeded');
  assert.equal(state.attemptsMade, MAX_KEYS_PER_RECHARGE);
  assert.equal(merchant.callsOf('settleLateRecharge').length, 1);
  const sent = await notificationsSent(merchant, 3);
  assert.deepEqual(typesOf(sent), ['auto_reload.failed', 'auto_reload.succeeded', 'balance.low']);
  const failure = sent.find((request) => request.type === 'auto_reload.failed');
  assert.equal(failure?.data.failureType, 'unknown');
});
