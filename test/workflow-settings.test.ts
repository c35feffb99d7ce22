/**
 * Settings reach the merchant workflow through the validated `updateSettings` Update:
 * refused before history, applied and decided on at once, also when sent with the start.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WithStartWorkflowOperation, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { AutoReloadSettings } from '../src/domain/auto-reload';
import { parseMoney } from '../src/domain/money';
import {
  INVALID_SETTINGS_FAILURE_TYPE,
  getStateQuery,
  updateSettingsUpdate,
} from '../src/workflows/definitions';
import { merchantWorkflowId } from '../src/workflows/ids';
import type { merchantAutoReload } from '../src/workflows/merchant-auto-reload';
import type { FakeMerchantOptions } from './support/fake-activities';
import {
  type CleanupRegistry,
  FakeWorkflowHarness,
  sendBalance,
  settingsWith,
  waitForDecisions,
  waitForIdle,
  waitForState,
} from './support/merchant-workflow';

const money = parseMoney;
const harness = FakeWorkflowHarness.perTestFile();

void test('resumes charging as soon as maxPerCycle is raised', async (t) => {
  const { merchant, handle } = await harness.start(t, { balance: '5.00', cycleTotal: '90.00' });
  await waitForIdle(handle, merchant, 'cap_reached');

  const answer = await handle.executeUpdate(updateSettingsUpdate, {
    args: [settingsWith({ maxPerCycle: money('200.00') })],
  });

  assert.equal(answer.status, 'recharging');
  assert.equal(answer.settings.maxPerCycle, money('200.00'));
  assert.equal(answer.cycle.total, money('110.00'));
  assert.equal(answer.cycle.inFlight, money('20.00'));
  const state = await waitForIdle(handle, merchant, 'active');
  assert.equal(state.balance, money('25.00'));
  assert.equal(merchant.callsOf('chargeCard').length, 1);
  assert.deepEqual(merchant.callsOf('saveSettings'), [
    { merchantId: merchant.merchantId, settings: settingsWith({ maxPerCycle: money('200.00') }) },
  ]);
});

void test('disabling stops charging and enabling again evaluates at once', async (t) => {
  const { merchant, handle } = await harness.start(t, { balance: '50.00' });
  await waitForIdle(handle, merchant, 'active');

  const disabled = await handle.executeUpdate(updateSettingsUpdate, {
    args: [settingsWith({ enabled: false })],
  });
  assert.equal(disabled.status, 'disabled');
  await sendBalance(handle, merchant.debit('45.00'));
  await waitForDecisions(merchant, 1);
  assert.deepEqual(merchant.decisions(), [{ outcome: 'skipped', reason: 'disabled' }]);
  assert.deepEqual(merchant.callsOf('chargeCard'), []);

  const enabled = await handle.executeUpdate(updateSettingsUpdate, {
    args: [settingsWith({ enabled: true })],
  });

  assert.equal(enabled.status, 'recharging');
  assert.equal(enabled.lastDecision?.outcome, 'charged');
  const state = await waitForIdle(handle, merchant, 'active');
  assert.equal(state.balance, money('25.00'));
  assert.equal(merchant.callsOf('chargeCard').length, 1);
});

const INVALID_SETTINGS: readonly {
  name: string;
  currency: 'usd' | 'jpy';
  settings: Partial<AutoReloadSettings>;
  field: string;
}[] = [
  {
    name: 'an amount below the minimum',
    currency: 'usd',
    settings: { amount: money('19.99') },
    field: 'amount',
  },
  {
    name: 'a maxPerCycle below the amount',
    currency: 'usd',
    settings: { amount: money('50.00'), maxPerCycle: money('40.00') },
    field: 'maxPerCycle',
  },
  {
    name: 'an amount in fractions of a cent',
    currency: 'usd',
    settings: { amount: money('20.005') },
    field: 'amount',
  },
  {
    name: 'a yen amount with a fraction',
    currency: 'jpy',
    settings: { amount: money('3000.5') },
    field: 'amount',
  },
];

for (const row of INVALID_SETTINGS) {
  void test(`refuses settings with ${row.name} and leaves the state unchanged`, async (t) => {
    const base =
      row.currency === 'jpy'
        ? { threshold: money('1000'), amount: money('3000'), maxPerCycle: money('15000') }
        : {};
    const { merchant, handle } = await harness.start(t, {
      currency: row.currency,
      balance: '50000.00',
      settings: base,
    });
    const before = await waitForIdle(handle, merchant, 'active');

    const refusal = await handle
      .executeUpdate(updateSettingsUpdate, { args: [settingsWith({ ...base, ...row.settings })] })
      .then(
        () => assert.fail('the update was accepted'),
        (error: unknown) => error,
      );

    assert.ok(refusal instanceof WorkflowUpdateFailedError);
    assert.ok(refusal.cause instanceof ApplicationFailure);
    assert.equal(refusal.cause.type, INVALID_SETTINGS_FAILURE_TYPE);
    assert.ok(
      refusal.cause.details?.some((v) => (v as { field: string }).field === row.field),
      `a violation on ${row.field}`,
    );
    assert.deepEqual(await handle.query(getStateQuery), before);
    assert.deepEqual(merchant.callsOf('saveSettings'), []);
    const history = await handle.fetchHistory();
    const updateEvents = history.events?.filter(
      (e) => e.workflowExecutionUpdateAcceptedEventAttributes,
    );
    assert.deepEqual(updateEvents, [], 'a refused update leaves no trace in history');
  });
}

void test('a charge in flight when auto reload is disabled still completes and credits', async (t) => {
  const { merchant, handle } = await harness.start(t, { balance: '5.00' });
  const release = merchant.holdCharges();
  await waitForState(handle, (s) => s.status === 'recharging', 'a charge in flight');

  const answer = await handle.executeUpdate(updateSettingsUpdate, {
    args: [settingsWith({ enabled: false })],
  });
  assert.equal(answer.status, 'disabled');
  assert.notEqual(answer.inFlight, null);
  release();

  const state = await waitForState(
    handle,
    (s) => s.lastRecharge?.status === 'succeeded',
    'a recharge',
  );
  assert.equal(state.status, 'disabled');
  assert.equal(state.balance, money('25.00'));
  assert.equal(merchant.callsOf('creditRecharge').length, 1);
});

function updateWithStart(
  t: CleanupRegistry,
  merchantOptions: FakeMerchantOptions,
  newSettings: AutoReloadSettings,
) {
  const merchant = harness.fakes.addMerchant(merchantOptions);
  const workflowId = merchantWorkflowId(merchant.merchantId);
  const startWorkflowOperation = new WithStartWorkflowOperation<typeof merchantAutoReload>(
    'merchantAutoReload',
    {
      workflowId,
      taskQueue: harness.worker.taskQueue,
      args: [{ merchantId: merchant.merchantId }],
      workflowIdConflictPolicy: 'USE_EXISTING',
    },
  );
  t.after(async () => {
    await harness.env.client.workflow.getHandle(workflowId).terminate('test finished');
  });
  const answer = harness.env.client.workflow.executeUpdateWithStart(updateSettingsUpdate, {
    args: [newSettings],
    startWorkflowOperation,
  });
  return { merchant, answer };
}

void test('applies settings sent with the start, once the merchant is loaded', async (t) => {
  const { merchant, answer } = updateWithStart(
    t,
    { balance: '5.00', settings: { enabled: false } },
    settingsWith({ enabled: true }),
  );

  const state = await answer;

  assert.equal(state.status, 'recharging');
  assert.equal(state.settings.enabled, true);
  assert.equal(merchant.callsOf('saveSettings').length, 1);
});

void test('refuses invalid settings sent with the start, after loading the currency', async (t) => {
  const yen = { threshold: money('1000'), amount: money('3000'), maxPerCycle: money('15000') };
  const { merchant, answer } = updateWithStart(
    t,
    { currency: 'jpy', balance: '50000', settings: yen },
    settingsWith({ ...yen, amount: money('3000.5') }),
  );

  const refusal = await answer.then(
    () => assert.fail('the update was accepted'),
    (error: unknown) => error,
  );

  assert.ok(refusal instanceof WorkflowUpdateFailedError);
  assert.ok(refusal.cause instanceof ApplicationFailure);
  assert.equal(refusal.cause.type, INVALID_SETTINGS_FAILURE_TYPE);
  assert.deepEqual(merchant.callsOf('saveSettings'), []);
});
