/**
 * How the merchant workflow answers each way a charge can fail (SPEC 3.6), and how a
 * saved card puts it back to work.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHARGE_FAILURE_TYPES } from '../src/activities/contract';
import { parseMoney } from '../src/domain/money';
import { MAX_KEYS_PER_RECHARGE } from '../src/workflows/recharge';
import { paymentMethodChangedSignal } from '../src/workflows/definitions';
import type { ChargeScript } from './support/fake-activities';
import {
  FakeWorkflowHarness,
  waitForDecisions,
  waitForIdle,
  waitForState,
} from './support/merchant-workflow';

const money = parseMoney;
const harness = FakeWorkflowHarness.perTestFile();

const FAILURES: readonly {
  script: ChargeScript;
  status: 'payment_failed' | 'action_required' | 'retry_scheduled';
  failureType: string;
  rechargeStatus: string;
}[] = [
  {
    script: { outcome: 'softDecline', code: 'card_declined', declineCode: 'insufficient_funds' },
    // A new attempt follows later (the schedule is tested on the time-skipping server).
    status: 'retry_scheduled',
    failureType: CHARGE_FAILURE_TYPES.softDecline,
    rechargeStatus: 'failed',
  },
  {
    script: { outcome: 'hardDecline', code: 'card_declined', declineCode: 'stolen_card' },
    status: 'payment_failed',
    failureType: CHARGE_FAILURE_TYPES.hardDecline,
    rechargeStatus: 'failed',
  },
  {
    script: { outcome: 'authenticationRequired', code: 'authentication_required' },
    status: 'action_required',
    failureType: CHARGE_FAILURE_TYPES.authenticationRequired,
    rechargeStatus: 'action_required',
  },
  {
    script: { outcome: 'configuration', code: 'resource_missing' },
    status: 'payment_failed',
    failureType: CHARGE_FAILURE_TYPES.configuration,
    rechargeStatus: 'failed',
  },
];

for (const row of FAILURES) {
  void test(`a charge failing with ${row.script.outcome} leaves status ${row.status} and records why`, async (t) => {
    const { merchant, handle } = await harness.start(t, { balance: '5.00' });
    merchant.chargeScript.push(row.script);

    const state = await waitForIdle(handle, merchant, row.status);
    await waitForDecisions(merchant, 2);

    const [charge] = merchant.callsOf('chargeCard');
    const expectedCode = 'code' in row.script ? (row.script.code ?? null) : null;
    const expectedDecline = 'declineCode' in row.script ? (row.script.declineCode ?? null) : null;
    assert.deepEqual(merchant.decisions()[1], {
      outcome: 'failed',
      rechargeId: charge?.rechargeId,
      amount: money('20.00'),
      failureType: row.failureType,
      code: expectedCode,
      declineCode: expectedDecline,
    });
    assert.equal(state.lastRecharge?.status, row.rechargeStatus);
    assert.equal(state.cycle.total, 0, 'a failed charge no longer counts toward the cap');
    assert.equal(state.cycle.inFlight, 0);
    assert.equal(state.balance, money('5.00'));
    assert.deepEqual(merchant.callsOf('creditRecharge'), []);
    assert.equal(merchant.callsOf('chargeCard').length, 1);
  });
}

void test('an unclear charge found by the lookup is credited once, with no second charge', async (t) => {
  const { merchant, handle } = await harness.start(t, { balance: '5.00' });
  merchant.chargeScript.push({ outcome: 'unclassified' });
  merchant.lookupScript.push('found');

  const state = await waitForIdle(handle, merchant, 'active');

  assert.equal(state.balance, money('25.00'));
  assert.equal(state.lastRecharge?.status, 'succeeded');
  assert.equal(merchant.callsOf('chargeCard').length, 1);
  const [lookup] = merchant.callsOf('lookUpCharge');
  assert.equal(lookup?.rechargeId, state.lastRecharge?.id);
  assert.equal(merchant.callsOf('creditRecharge').length, 1);
  assert.equal(state.attemptsMade, 1);
});

void test('an unclear charge that left no PaymentIntent is charged again under a fresh key', async (t) => {
  const { merchant, handle } = await harness.start(t, { balance: '5.00' });
  merchant.chargeScript.push({ outcome: 'unclassified' });

  const state = await waitForIdle(handle, merchant, 'active');

  const charges = merchant.callsOf('chargeCard');
  assert.deepEqual(
    charges.map((charge) => charge.idempotencyKey.split(':').at(-1)),
    ['1', '2'],
  );
  assert.equal(charges[0]?.rechargeId, charges[1]?.rechargeId, 'one recharge, two keys');
  assert.ok(Date.parse(charges[1]?.keyMintedAt ?? '') >= Date.parse(charges[0]?.keyMintedAt ?? ''));
  assert.equal(merchant.callsOf('lookUpCharge').length, 1);
  assert.equal(merchant.callsOf('creditRecharge').length, 1);
  assert.equal(state.balance, money('25.00'));
  assert.equal(state.cycle.total, money('20.00'));
  assert.equal(state.attemptsMade, 2);
  assert.equal(state.lastRecharge?.id, charges[0]?.rechargeId);
});

void test('a charge unclear under every key, with nothing found, follows the retry schedule', async (t) => {
  const { merchant, handle } = await harness.start(t, { balance: '5.00' });
  for (let i = 0; i < MAX_KEYS_PER_RECHARGE; i += 1) {
    merchant.chargeScript.push({ outcome: 'unclassified' });
  }

  const state = await waitForIdle(handle, merchant, 'retry_scheduled');
  await waitForDecisions(merchant, 2);

  const charges = merchant.callsOf('chargeCard');
  assert.equal(new Set(charges.map((charge) => charge.idempotencyKey)).size, MAX_KEYS_PER_RECHARGE);
  assert.equal(new Set(charges.map((charge) => charge.rechargeId)).size, 1);
  assert.equal(merchant.callsOf('lookUpCharge').length, MAX_KEYS_PER_RECHARGE);
  assert.deepEqual(merchant.decisions()[1], {
    outcome: 'failed',
    rechargeId: charges[0]?.rechargeId,
    amount: money('20.00'),
    failureType: 'unknown',
    code: 'stripe_unavailable',
    declineCode: null,
  });
  assert.deepEqual(merchant.callsOf('creditRecharge'), []);
  assert.equal(state.cycle.total, 0);
  assert.equal(state.balance, money('5.00'));
});

void test('saving a card clears payment_failed and charges again at once with a new key', async (t) => {
  const { merchant, handle } = await harness.start(t, { balance: '5.00' });
  merchant.chargeScript.push({ outcome: 'hardDecline', declineCode: 'expired_card' });
  await waitForIdle(handle, merchant, 'payment_failed');

  await handle.signal(paymentMethodChangedSignal, { hasPaymentMethod: true });

  const state = await waitForState(
    handle,
    (s) => s.lastRecharge?.status === 'succeeded' && s.status === 'active',
    'a succeeded recharge',
  );
  const keys = merchant.callsOf('chargeCard').map((charge) => charge.idempotencyKey);
  assert.equal(keys.length, 2);
  assert.notEqual(keys[0], keys[1]);
  assert.match(keys[1] ?? '', /:2$/);
  assert.equal(state.attemptsMade, 2);
  assert.equal(state.balance, money('25.00'));
});

void test('records no_payment_method until a card is saved, then charges', async (t) => {
  const { merchant, handle } = await harness.start(t, { balance: '5.00', hasPaymentMethod: false });
  await waitForDecisions(merchant, 1);
  assert.deepEqual(merchant.decisions(), [{ outcome: 'skipped', reason: 'no_payment_method' }]);

  await handle.signal(paymentMethodChangedSignal, { hasPaymentMethod: true });

  const state = await waitForState(
    handle,
    (s) => s.lastRecharge?.status === 'succeeded',
    'a recharge',
  );
  assert.equal(state.hasPaymentMethod, true);
  assert.equal(merchant.callsOf('chargeCard').length, 1);
});
