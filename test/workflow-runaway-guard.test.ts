/**
 * The runaway guard (SPEC 3.6) on the time-skipping server, which crosses its 24-hour
 * window in seconds: at most ten recharges a day, and a pause when recharges add far more
 * than the ledger shows for them. Driven by signals and queries only.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { NotificationRequest } from '../src/activities/contract';
import { parseMoney } from '../src/domain/money';
import { balanceChangedSignal } from '../src/workflows/definitions';
import type { FakeActivities, FakeMerchant, FakeWorker } from './support/fake-activities';
import {
  currentDetails,
  type MerchantHandle,
  startMerchant,
  waitForDecisions,
  waitForState,
} from './support/merchant-workflow';
import { type TimeSkippingFixture, startTimeSkipping } from './support/time-skipping';
import { waitFor } from './support/wait';

const money = parseMoney;
let fixture: TimeSkippingFixture;
let env: TestWorkflowEnvironment;
let fakes: FakeActivities;
let worker: FakeWorker;

before(async () => {
  fixture = await startTimeSkipping();
  ({ env, fakes, worker } = fixture);
});

beforeEach(async () => {
  await fixture.skipToMidCycle();
});

after(async () => {
  await fixture?.stop();
});

/** Waits until the workflow has made `count` charges and none is in flight. */
function chargesSettled(handle: MerchantHandle, count: number) {
  return waitForState(
    handle,
    (s) => s.attemptsMade === count && s.inFlight === null,
    `${count} charges settled`,
  );
}

function pausedNotifications(merchant: FakeMerchant): NotificationRequest[] {
  return merchant.callsOf('notifyMerchant').filter((n) => n.type === 'auto_reload.paused');
}

/** A merchant at 5.00 whose recharges (20.00 each) never reach its balance. */
async function startLeakyMerchant(t: Parameters<typeof startMerchant>[0]) {
  const started = await startMerchant(t, env, worker, fakes, {
    balance: '5.00',
    settings: { maxPerCycle: money('1000.00') },
  });
  started.merchant.creditsVanish = true;
  return started;
}

void test('the runaway guard stops the 11th recharge in 24 hours, and resumes after', async (t) => {
  const { merchant, handle } = await startMerchant(t, env, worker, fakes, {
    balance: '5.00',
    settings: { maxPerCycle: money('1000.00') },
  });
  await chargesSettled(handle, 1);
  // Each debit of 20.00 drains the balance below the threshold again: ten recharges.
  for (let charge = 2; charge <= 10; charge += 1) {
    await handle.signal(balanceChangedSignal, merchant.debit('20.00'));
    await chargesSettled(handle, charge);
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
  await waitForDecisions(merchant, 11);
  assert.deepEqual(merchant.decisions().at(-1), { outcome: 'skipped', reason: 'rate_limited' });
  const until = held.rateLimitedUntil ?? '';
  assert.ok(Date.parse(until) > (await env.currentTimeMs()), `resumes later, at ${until}`);
  assert.equal(merchant.callsOf('chargeCard').length, 10);
  // Real usage paid for every recharge: the ledger was read before charges 6 to 10 (the
  // money added had passed twice the headroom), and the guard let each of them through.
  assert.equal(merchant.callsOf('measureFunding').length, 5);
  assert.equal(held.runawayPause, null);
  assert.match(
    await currentDetails(handle),
    new RegExp(`Not recharging: At most 10 recharges in 24 hours; resumes at ${until}\\.`),
  );

  // Once the first recharge is 24 hours old, charging resumes by itself.
  await fixture.skipTo(new Date(Date.parse(until) + 1_000).toISOString());
  const resumed = await chargesSettled(handle, 11);
  assert.equal(merchant.callsOf('chargeCard').length, 11);
  // The other nine of the first day are still inside the window: it is full again.
  assert.equal(resumed.rechargesInLastDay, 10);
});

void test('recharges that never reach the balance are paused after five, with the figures', async (t) => {
  const { merchant, handle } = await startLeakyMerchant(t);

  // Each credit vanishes, so the balance stays at 5.00 and every settlement asks again. The
  // sixth charge would bring the credits after the first to 100.00 against 5.00 shown.
  const paused = await waitForState(
    handle,
    (s) => s.runawayPause !== null && s.inFlight === null,
    'the runaway pause',
  );
  assert.equal(paused.attemptsMade, 5);
  assert.equal(paused.status, 'active');
  assert.equal(paused.balance, money('5.00'));
  assert.deepEqual(
    {
      added: paused.runawayPause?.added,
      balance: paused.runawayPause?.balance,
      used: paused.runawayPause?.used,
    },
    { added: money('80.00'), balance: money('5.00'), used: 0 },
  );
  await waitForDecisions(merchant, 6);
  assert.deepEqual(merchant.decisions().at(-1), { outcome: 'skipped', reason: 'runaway_paused' });
  assert.match(
    await currentDetails(handle),
    /Not recharging: Runaway guard: recharges added 80\.00 USD while the ledger shows 5\.00 USD balance and 0\.00 USD usage; paused until /,
  );
  assert.equal(merchant.callsOf('chargeCard').length, 5);
  assert.equal(merchant.callsOf('measureFunding').length, 1);

  const [notice, ...more] = await waitFor('auto_reload.paused', () => {
    const sent = pausedNotifications(merchant);
    return sent.length > 0 ? sent : undefined;
  });
  assert.deepEqual(more, []);
  assert.deepEqual(notice?.data, {
    merchantId: merchant.merchantId,
    currency: 'usd',
    reason: 'runaway',
    added: '80.00',
    balance: '5.00',
    used: '0.00',
    since: paused.runawayPause?.since,
    recheckAt: paused.runawayPause?.recheckAt,
  });

  // More signals while paused charge nothing and record nothing new.
  await handle.signal(balanceChangedSignal, merchant.debit('1.00'));
  const still = await waitForState(handle, (s) => s.balance === money('4.00'), 'the debit');
  assert.equal(still.attemptsMade, 5);
  await waitForDecisions(merchant, 6);
  assert.equal(pausedNotifications(merchant).length, 1);
});

void test('a runaway pause lifts when the first credit leaves the window, and comes back', async (t) => {
  const { merchant, handle } = await startMerchant(t, env, worker, fakes, {
    balance: '5.00',
    settings: { maxPerCycle: money('1000.00') },
  });
  // A sound first recharge; an hour later the ledger starts losing credits.
  await chargesSettled(handle, 1);
  await env.sleep(60 * 60_000);
  merchant.creditsVanish = true;
  await handle.signal(balanceChangedSignal, merchant.debit('20.00'));
  const paused = await waitForState(handle, (s) => s.runawayPause !== null, 'the pause');
  assert.equal(paused.attemptsMade, 5);
  assert.deepEqual(
    [paused.runawayPause?.added, paused.runawayPause?.balance, paused.runawayPause?.used],
    [money('80.00'), money('5.00'), money('20.00')],
  );
  const recheckAt = paused.runawayPause?.recheckAt ?? '';

  // Without the first credit, the other three add 60.00: within twice the headroom (30.00).
  await fixture.skipTo(new Date(Date.parse(recheckAt) + 60_000).toISOString());
  await chargesSettled(handle, 6);
  const again = await waitForState(handle, (s) => s.runawayPause !== null, 'paused again');
  assert.equal(again.attemptsMade, 6);
  assert.deepEqual(
    [again.runawayPause?.added, again.runawayPause?.balance, again.runawayPause?.used],
    [money('80.00'), money('5.00'), 0],
  );
  assert.ok(Date.parse(again.runawayPause?.recheckAt ?? '') > Date.parse(recheckAt));
  await waitForDecisions(merchant, 8);
  assert.deepEqual(
    merchant.decisions().map((d) => (d.outcome === 'skipped' ? d.reason : d.outcome)),
    [...Array<string>(5).fill('charged'), 'runaway_paused', 'charged', 'runaway_paused'],
  );
  await waitFor('a second auto_reload.paused', () =>
    pausedNotifications(merchant).length === 2 ? true : undefined,
  );
});

void test('crediting the missing money lifts a runaway pause at the next look, a minute on', async (t) => {
  const { merchant, handle } = await startLeakyMerchant(t);
  await waitForState(handle, (s) => s.runawayPause !== null, 'the pause');
  merchant.creditsVanish = false;

  // An operator credits the 100.00 that never arrived; the merchant then spends it.
  await handle.signal(balanceChangedSignal, merchant.creditManually('100.00'));
  await handle.signal(balanceChangedSignal, merchant.debit('100.00'));
  await waitForState(handle, (s) => s.balance === money('5.00'), 'spent again');
  assert.equal(merchant.callsOf('measureFunding').length, 1);

  await env.sleep(61_000);
  await handle.signal(balanceChangedSignal, merchant.debit('0.01'));
  const resumed = await chargesSettled(handle, 6);
  assert.equal(resumed.runawayPause, null);
  assert.equal(resumed.balance, money('24.99'));
  assert.equal(merchant.callsOf('measureFunding').length, 2);
});
