/**
 * Billing cycles and the retry schedule on the time-skipping test server: the durable cycle
 * timer rolls the cycle at each (clamped) month end and the cap starts again from zero, and
 * soft declines wait hours between attempts. The runaway guard is in
 * workflow-runaway-guard.test.ts. Settings come from the
 * loadMerchant snapshot and everything is driven by signals, because this server has hung
 * on Updates.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { parseMoney } from '../src/domain/money';
import { AUTO_RELOAD_STATUS_KEY, MERCHANT_ID_KEY } from '../src/temporal/search-attributes';
import { balanceChangedSignal, getStateQuery } from '../src/workflows/definitions';
import type { FakeActivities, FakeMerchant, FakeWorker } from './support/fake-activities';
import {
  type MerchantHandle,
  startMerchant,
  waitForIdle,
  waitForState,
} from './support/merchant-workflow';
import { type TimeSkippingFixture, startTimeSkipping } from './support/time-skipping';

const money = parseMoney;
const HOUR_MS = 3_600_000;
let fixture: TimeSkippingFixture;
let env: TestWorkflowEnvironment;
let fakes: FakeActivities;
let worker: FakeWorker;

before(async () => {
  fixture = await startTimeSkipping();
  ({ env, fakes, worker } = fixture);
});

after(async () => {
  await fixture?.stop();
});

const skipTo = (isoTime: string) => fixture.skipTo(isoTime);

/** Debits to just below the threshold and waits until the cap refuses the recharge. */
async function debitUntilCapped(handle: MerchantHandle, merchant: FakeMerchant): Promise<void> {
  await handle.signal(balanceChangedSignal, merchant.debit('20.00'));
  await waitForIdle(handle, merchant, 'cap_reached');
}

void test('the cap starts again at each month end, with the anchor day clamped', async (t) => {
  // The server's clock starts at real now: put it inside a cycle that ends in February.
  const year = new Date(await env.currentTimeMs()).getUTCFullYear() + 1;
  const februaryEndDay = new Date(Date.UTC(year, 2, 0)).getUTCDate();
  const februaryKey = `${year}-02-${februaryEndDay}`;
  await skipTo(`${year}-02-10T00:00:00.000Z`);

  const { merchant, handle } = await startMerchant(t, env, worker, fakes, {
    billingCycleAnchor: `${year - 1}-01-31T00:00:00.000Z`,
    cycleKey: `${year}-01-31`,
    cycleTotal: '20.00',
    balance: '5.00',
    settings: { maxPerCycle: money('40.00') },
  });
  const january = await waitForIdle(handle, merchant, 'active');
  assert.equal(january.cycle.key, `${year}-01-31`);
  assert.equal(january.cycle.total, money('40.00'));
  await debitUntilCapped(handle, merchant);

  await skipTo(`${februaryKey}T01:00:00.000Z`);

  const february = await waitForState(
    handle,
    (s) => s.cycle.key === februaryKey && s.attemptsMade === 2 && s.status === 'active',
    'a recharge in the February cycle',
  );
  assert.deepEqual(february.cycle, {
    key: februaryKey,
    start: `${februaryKey}T00:00:00.000Z`,
    end: `${year}-03-31T00:00:00.000Z`,
    total: money('20.00'),
    inFlight: 0,
  });
  await handle.signal(balanceChangedSignal, merchant.debit('20.00'));
  await waitForState(handle, (s) => s.attemptsMade === 3 && s.status === 'active', '3rd charge');
  await debitUntilCapped(handle, merchant);

  await skipTo(`${year}-03-31T00:00:00.000Z`);
  await env.sleep(HOUR_MS);

  const march = await waitForState(
    handle,
    (s) => s.cycle.key === `${year}-03-31` && s.attemptsMade === 4 && s.status === 'active',
    'a recharge in the March cycle',
  );
  assert.equal(march.cycle.total, money('20.00'));
  assert.equal(march.cycle.end, `${year}-04-30T00:00:00.000Z`);
  const keys = merchant.callsOf('chargeCard').map((charge) => charge.idempotencyKey);
  const id = merchant.merchantId;
  assert.deepEqual(keys, [
    `auto-reload:${id}:${year}-01-31:1`,
    `auto-reload:${id}:${februaryKey}:2`,
    `auto-reload:${id}:${februaryKey}:3`,
    `auto-reload:${id}:${year}-03-31:4`,
  ]);
  const { typedSearchAttributes } = await handle.describe();
  assert.equal(typedSearchAttributes.get(MERCHANT_ID_KEY), id);
  assert.equal(typedSearchAttributes.get(AUTO_RELOAD_STATUS_KEY), 'active');
});

void test('soft declines retry after 1 h, 6 h and 24 h, then end in payment_failed', async (t) => {
  await fixture.skipToMidCycle();
  const { merchant, handle } = await startMerchant(t, env, worker, fakes, { balance: '5.00' });
  for (let i = 0; i < 4; i += 1) {
    merchant.chargeScript.push({ outcome: 'softDecline', declineCode: 'insufficient_funds' });
  }
  const delaysHours = [1, 6, 24];
  for (const [retry, hours] of delaysHours.entries()) {
    const scheduled = await waitForState(
      handle,
      (s) => s.status === 'retry_scheduled' && s.attemptsMade === retry + 1,
      `retry ${retry + 1} scheduled`,
    );
    assert.equal(scheduled.lastRecharge?.status, 'failed');
    // Just before the retry is due nothing happens; just after, a new attempt is made. After
    // the first, the clock already stands a minute past the attempt that scheduled it.
    const alreadyPast = retry === 0 ? 0 : 60_000;
    await env.sleep(hours * HOUR_MS - 60_000 - alreadyPast);
    assert.equal((await handle.query(getStateQuery)).attemptsMade, retry + 1);
    await env.sleep(120_000);
  }
  const failed = await waitForState(
    handle,
    (s) => s.status === 'payment_failed' && s.attemptsMade === 4,
    'payment_failed after the last retry',
  );
  assert.equal(failed.inFlight, null);
  const keys = merchant.callsOf('chargeCard').map((charge) => charge.idempotencyKey);
  assert.equal(new Set(keys).size, 4);
  assert.deepEqual(
    merchant.decisions().map((d) => d.outcome),
    ['charged', 'failed', 'charged', 'failed', 'charged', 'failed', 'charged', 'failed'],
  );
});

void test('a soft decline followed by a success returns to active and starts the schedule over', async (t) => {
  await fixture.skipToMidCycle();
  const { merchant, handle } = await startMerchant(t, env, worker, fakes, { balance: '5.00' });
  merchant.chargeScript.push({ outcome: 'softDecline', declineCode: 'try_again_later' });
  await waitForState(handle, (s) => s.status === 'retry_scheduled', 'a retry scheduled');
  await env.sleep(HOUR_MS + 60_000);
  const recovered = await waitForState(
    handle,
    (s) => s.status === 'active' && s.attemptsMade === 2 && s.inFlight === null,
    'the retry succeeded',
  );
  assert.equal(recovered.lastRecharge?.status, 'succeeded');
  assert.equal(recovered.balance, money('25.00'));
});

void test('a generic decline is retried once after 1 h; a second one in a row is final', async (t) => {
  await fixture.skipToMidCycle();
  const { merchant, handle } = await startMerchant(t, env, worker, fakes, { balance: '5.00' });
  for (let i = 0; i < 2; i += 1) {
    merchant.chargeScript.push({ outcome: 'softDecline', declineCode: 'generic_decline' });
  }
  await waitForState(handle, (s) => s.status === 'retry_scheduled', 'a retry scheduled');
  await env.sleep(HOUR_MS + 60_000);
  const failed = await waitForState(
    handle,
    (s) => s.status === 'payment_failed' && s.attemptsMade === 2,
    'payment_failed after the one retry',
  );
  assert.equal(failed.inFlight, null);
  const counts = merchant.callsOf('chargeCard').map((charge) => charge.softDeclinesInARow);
  assert.deepEqual(counts, [0, 1]);
});
