/**
 * The merchant workflow's recharge rule in action (SPEC 3.4) on the shared dev server,
 * with fake activities so that every call the workflow makes can be asserted exactly.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { billingCycleAt } from '../src/domain/billing-cycle';
import { parseMoney } from '../src/domain/money';
import { AUTO_RELOAD_STATUS_KEY, MERCHANT_ID_KEY } from '../src/temporal/search-attributes';
import {
  balanceChangedSignal,
  getStateQuery,
  updateSettingsUpdate,
} from '../src/workflows/definitions';
import {
  currentDetails,
  FakeWorkflowHarness,
  sendBalance,
  settingsWith,
  waitForDecisions,
  waitForIdle,
  waitForState,
} from './support/merchant-workflow';
import { waitFor } from './support/wait';

const money = parseMoney;
const harness = FakeWorkflowHarness.perTestFile();

void test('charges exactly amount once when the balance is below the threshold, then credits', async (t) => {
  const { merchant, handle } = await harness.start(t, { balance: '5.00' });

  const state = await waitForState(
    handle,
    (s) => s.lastRecharge?.status === 'succeeded' && s.status === 'active',
    'a succeeded recharge',
  );

  const cycleKey = billingCycleAt('2026-01-01T00:00:00.000Z', Date.now()).key;
  const [charge, ...moreCharges] = merchant.callsOf('chargeCard');
  assert.deepEqual(moreCharges, []);
  assert.equal(charge?.amount, money('20.00'));
  assert.equal(charge?.attempt, 1);
  assert.equal(charge?.idempotencyKey, `auto-reload:${merchant.merchantId}:${cycleKey}:1`);
  assert.match(charge?.rechargeId ?? '', /^rch_[0-9a-f-]{36}$/);
  assert.deepEqual(merchant.callsOf('creditRecharge'), [
    {
      merchantId: merchant.merchantId,
      rechargeId: charge?.rechargeId,
      paymentIntentId: `pi_fake_${merchant.merchantId}_1`,
      amount: money('20.00'),
    },
  ]);
  assert.deepEqual(merchant.decisions(), [
    { outcome: 'charged', rechargeId: charge?.rechargeId, amount: money('20.00') },
  ]);
  assert.equal(state.balance, money('25.00'));
  assert.equal(state.ledgerSeq, 2);
  assert.deepEqual(state.cycle, {
    ...state.cycle,
    key: cycleKey,
    total: money('20.00'),
    inFlight: 0,
  });
  assert.equal(state.attemptsMade, 1);
  assert.equal(state.inFlight, null);
  assert.equal(state.lastRecharge?.amount, money('20.00'));
  assert.equal(state.lastDecision?.outcome, 'charged');
});

void test('does nothing while the balance stays above the threshold', async (t) => {
  const { merchant, handle } = await harness.start(t, { balance: '50.00' });
  await waitForIdle(handle, merchant, 'active');

  await sendBalance(handle, merchant.debit('30.00'));

  const state = await handle.query(getStateQuery);
  assert.equal(state.balance, money('20.00'));
  assert.deepEqual(merchant.callsOf('chargeCard'), []);
  assert.deepEqual(merchant.decisions(), []);
  assert.equal(state.lastDecision, null);
});

void test('does nothing when the balance is exactly at the threshold', async (t) => {
  const { merchant, handle } = await harness.start(t, { balance: '50.00' });
  await waitForIdle(handle, merchant, 'active');

  await sendBalance(handle, merchant.debit('40.00'));

  const state = await handle.query(getStateQuery);
  assert.equal(state.balance, money('10.00'));
  assert.equal(state.status, 'active');
  assert.deepEqual(merchant.callsOf('chargeCard'), []);
  assert.deepEqual(merchant.decisions(), []);
});

void test('charges when the charge brings the cycle total exactly to maxPerCycle', async (t) => {
  const { merchant, handle } = await harness.start(t, { balance: '5.00', cycleTotal: '80.00' });

  const state = await waitForState(
    handle,
    (s) => s.lastRecharge?.status === 'succeeded',
    'a succeeded recharge',
  );

  assert.equal(merchant.callsOf('chargeCard').length, 1);
  assert.equal(state.cycle.total, money('100.00'));
  assert.equal(state.balance, money('25.00'));
});

void test('refuses a charge that would pass the cap and records the skip once', async (t) => {
  const { merchant, handle } = await harness.start(t, { balance: '5.00', cycleTotal: '90.00' });
  const capped = await waitForIdle(handle, merchant, 'cap_reached');
  await waitForDecisions(merchant, 1);

  for (let i = 0; i < 3; i += 1) await sendBalance(handle, merchant.debit('1.00'));

  const state = await handle.query(getStateQuery);
  assert.equal(state.status, 'cap_reached');
  assert.equal(state.balance, money('2.00'));
  assert.equal(state.cycle.total, money('90.00'));
  assert.equal(state.lastDecision?.decisionId, capped.lastDecision?.decisionId);
  assert.deepEqual(merchant.decisions(), [{ outcome: 'skipped', reason: 'cap_reached' }]);
  assert.deepEqual(merchant.callsOf('chargeCard'), []);
});

void test('ignores stale and repeated balance signals', async (t) => {
  const { merchant, handle } = await harness.start(t, { balance: '50.00' });
  await waitForIdle(handle, merchant, 'active');

  // Same sequence as the snapshot (a repeat) and an older one: both below the threshold.
  await handle.signal(balanceChangedSignal, { balance: money('5.00'), ledgerSeq: 1 });
  await handle.signal(balanceChangedSignal, { balance: money('3.00'), ledgerSeq: 0 });
  await sendBalance(handle, merchant.debit('10.00'));
  await handle.signal(balanceChangedSignal, { balance: money('1.00'), ledgerSeq: 2 });
  await sendBalance(handle, merchant.debit('10.00'));

  const state = await handle.query(getStateQuery);
  assert.equal(state.balance, money('30.00'));
  assert.equal(state.ledgerSeq, 3);
  assert.deepEqual(merchant.callsOf('chargeCard'), []);
  assert.deepEqual(merchant.decisions(), []);
});

void test('records one in_flight skip for debits that arrive while a charge is pending', async (t) => {
  const fakesMerchantOptions = { balance: '5.00' };
  const { merchant, handle } = await harness.start(t, fakesMerchantOptions);
  const release = merchant.holdCharges();
  await waitForState(handle, (s) => s.status === 'recharging', 'a charge in flight');

  await sendBalance(handle, merchant.debit('1.00'));
  await sendBalance(handle, merchant.debit('1.00'));
  await waitForDecisions(merchant, 2);
  release();

  const state = await waitForIdle(handle, merchant, 'active');
  assert.deepEqual(
    merchant.decisions().map((d) => (d.outcome === 'skipped' ? d.reason : d.outcome)),
    ['charged', 'in_flight'],
  );
  assert.equal(state.balance, money('23.00'));
  assert.equal(merchant.callsOf('chargeCard').length, 1);
});

void test('publishes MerchantId, AutoReloadStatus and a summary for the Web UI', async (t) => {
  const { merchant, handle } = await harness.start(t, { balance: '50.00' });
  await waitForIdle(handle, merchant, 'active');

  await handle.executeUpdate(updateSettingsUpdate, { args: [settingsWith({ enabled: false })] });
  await waitForIdle(handle, merchant, 'disabled');

  const attributes = await waitFor('the disabled status attribute', async () => {
    const { typedSearchAttributes } = await handle.describe();
    const published = typedSearchAttributes.get(AUTO_RELOAD_STATUS_KEY) === 'disabled';
    return published ? typedSearchAttributes : undefined;
  });
  assert.equal(attributes.get(MERCHANT_ID_KEY), merchant.merchantId);
  const details = await currentDetails(handle);
  assert.match(details, /^\*\*Auto Reload: disabled\*\*/);
  assert.match(details, /Balance: 50\.00 USD \(threshold 10\.00 USD\)/);
  assert.match(details, /Not recharging: Auto Reload is switched off\./);
});

void test('target mode tops up to the target in one charge, rounded up to the cent', async (t) => {
  const { merchant, handle } = await harness.start(t, {
    balance: '7.345',
    settings: { mode: 'target', amount: money('50.00') },
  });

  const state = await waitForState(
    handle,
    (s) => s.lastRecharge?.status === 'succeeded',
    'a recharge',
  );

  assert.deepEqual(
    merchant.callsOf('chargeCard').map((charge) => charge.amount),
    [money('42.66')],
  );
  assert.equal(state.balance, money('50.005'));
  assert.equal(state.cycle.total, money('42.66'));
});

/** Update-with-start, as the API does for a merchant whose workflow does not run yet. */
