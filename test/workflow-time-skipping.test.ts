/**
 * Billing cycles on the time-skipping test server: the durable cycle timer rolls the cycle
 * at each (clamped) month end and the cap starts again from zero. Settings come from the
 * loadMerchant snapshot and everything is driven by signals, because this server has hung
 * on Updates.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { parseMoney } from '../src/domain/money';
import { temporalTestServerPath } from '../src/temporal/binaries';
import { AUTO_RELOAD_STATUS_KEY, MERCHANT_ID_KEY } from '../src/temporal/search-attributes';
import { balanceChangedSignal, getStateQuery } from '../src/workflows/definitions';
import {
  FakeActivities,
  type FakeMerchant,
  type FakeWorker,
  startFakeWorker,
} from './support/fake-activities';
import {
  type MerchantHandle,
  startMerchant,
  waitForIdle,
  waitForState,
} from './support/merchant-workflow';
import { installTemporalRuntime } from '../src/temporal/runtime';

const money = parseMoney;
const HOUR_MS = 3_600_000;
/** @temporalio/proto comes with @temporalio/client; it is not a direct dependency. */
const KEYWORD = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
let env: TestWorkflowEnvironment;
let fakes: FakeActivities;
let worker: FakeWorker;

before(async () => {
  installTemporalRuntime();
  env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: temporalTestServerPath() } },
  });
  // This server takes no search-attribute flags; the workflow's upserts need them.
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: { [MERCHANT_ID_KEY.name]: KEYWORD, [AUTO_RELOAD_STATUS_KEY.name]: KEYWORD },
  });
  fakes = new FakeActivities();
  worker = await startFakeWorker(env, fakes);
});

after(async () => {
  await worker?.stop();
  await env?.teardown();
});

/** Moves the server's clock to `isoTime` (it starts at real now and only moves forward). */
async function skipTo(isoTime: string): Promise<void> {
  const delta = Date.parse(isoTime) - (await env.currentTimeMs());
  assert.ok(delta > 0, `the server clock is already past ${isoTime}`);
  await env.sleep(delta);
}

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

void test('the runaway guard stops the 11th recharge in 24 hours, and resumes after', async (t) => {
  const { merchant, handle } = await startMerchant(t, env, worker, fakes, {
    balance: '5.00',
    settings: { maxPerCycle: money('1000.00') },
  });
  await waitForState(handle, (s) => s.attemptsMade === 1 && s.inFlight === null, '1st charge');
  // Each debit of 20.00 drains the balance below the threshold again: ten recharges.
  for (let charge = 2; charge <= 10; charge += 1) {
    await handle.signal(balanceChangedSignal, merchant.debit('20.00'));
    await waitForState(
      handle,
      (s) => s.attemptsMade === charge && s.inFlight === null,
      `charge ${charge}`,
    );
  }

  await handle.signal(balanceChangedSignal, merchant.debit('20.00'));
  const held = await waitForState(
    handle,
    (s) => s.lastDecision?.outcome === 'skipped' && s.inFlight === null,
    'the 11th recharge held back',
  );
  assert.equal(held.attemptsMade, 10);
  assert.equal(held.rechargesInLastDay, 10);
  assert.equal(held.status, 'active');
  assert.deepEqual(merchant.decisions().at(-1), { outcome: 'skipped', reason: 'rate_limited' });
  const until = held.rateLimitedUntil ?? '';
  assert.ok(Date.parse(until) > (await env.currentTimeMs()), `resumes later, at ${until}`);
  assert.equal(merchant.callsOf('chargeCard').length, 10);

  // Once the first recharge is 24 hours old, charging resumes by itself.
  await skipTo(new Date(Date.parse(until) + 1_000).toISOString());
  const resumed = await waitForState(
    handle,
    (s) => s.attemptsMade === 11 && s.inFlight === null,
    'the 11th charge after the window',
  );
  assert.equal(merchant.callsOf('chargeCard').length, 11);
  // The other nine of the first day are still inside the window: it is full again.
  assert.equal(resumed.rechargesInLastDay, 10);
});

void test('soft declines retry after 1 h, 6 h and 24 h, then end in payment_failed', async (t) => {
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
