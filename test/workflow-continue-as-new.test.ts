/**
 * Continue-as-new carries every field of the merchant's state. Runs on its own dev server
 * whose suggestion threshold is lowered to 30 events, so a few signals force new runs.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { parseMoney } from '../src/domain/money';
import { type RunningDevServer, startDevServer } from '../src/temporal/dev-server';
import { AUTO_RELOAD_STATUS_KEY, MERCHANT_ID_KEY } from '../src/temporal/search-attributes';
import {
  balanceChangedSignal,
  getStateQuery,
  updateSettingsUpdate,
} from '../src/workflows/definitions';
import {
  BASE_SETTINGS,
  FakeActivities,
  type FakeWorker,
  startFakeWorker,
} from './support/fake-activities';
import {
  type MerchantHandle,
  startMerchant,
  waitForDecisions,
  waitForIdle,
  waitForState,
} from './support/merchant-workflow';
import { installTemporalRuntime } from '../src/temporal/runtime';
import { waitFor } from './support/wait';

const money = parseMoney;
const SUGGEST_AFTER_EVENTS = 30;
let server: RunningDevServer;
let env: TestWorkflowEnvironment;
let fakes: FakeActivities;
let worker: FakeWorker;

before(async () => {
  installTemporalRuntime();
  server = await startDevServer({
    dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': SUGGEST_AFTER_EVENTS },
  });
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: server.address });
  fakes = new FakeActivities();
  worker = await startFakeWorker(env, fakes);
});

after(async () => {
  await worker?.stop();
  await env?.teardown();
  await server?.stop();
});

async function currentRunId(handle: MerchantHandle): Promise<string> {
  return (await handle.describe()).runId;
}

/**
 * Sends signals the workflow must ignore (a repeated ledgerSeq), so history grows while
 * the state stays put, until the workflow continues as new; answers the new run id.
 */
async function forceContinueAsNew(handle: MerchantHandle): Promise<string> {
  const runBefore = await currentRunId(handle);
  const { balance, ledgerSeq } = await handle.query(getStateQuery);
  return waitFor(
    'a new run',
    async () => {
      // A few at a time: each signal adds about four events (signal and workflow task).
      for (let i = 0; i < 4; i += 1) {
        await handle.signal(balanceChangedSignal, { balance, ledgerSeq });
      }
      const runId = await currentRunId(handle);
      return runId === runBefore ? undefined : runId;
    },
    30_000,
  );
}

void test('continue-as-new keeps every field of the state, then keeps counting attempts', async (t) => {
  const { merchant, handle } = await startMerchant(t, env, worker, fakes, {
    balance: '5.00',
    settings: { maxPerCycle: money('40.00') },
  });
  const firstRunId = handle.firstExecutionRunId;

  // Two recharges fill the cap, a third debit is refused: every part of state is set.
  await waitForIdle(handle, merchant, 'active');
  await handle.signal(balanceChangedSignal, merchant.debit('20.00'));
  await waitForState(handle, (s) => s.attemptsMade === 2 && s.inFlight === null, '2nd recharge');
  await handle.signal(balanceChangedSignal, merchant.debit('20.00'));
  const before = await waitForIdle(handle, merchant, 'cap_reached');
  await waitForDecisions(merchant, 3);

  const runIds = new Set([firstRunId, await currentRunId(handle)]);
  for (let round = 0; round < 4; round += 1) {
    runIds.add(await forceContinueAsNew(handle));
    assert.deepEqual(await handle.query(getStateQuery), before, `state after run ${runIds.size}`);
  }
  assert.ok(runIds.size >= 5, `expected at least 5 runs, saw ${runIds.size}`);

  const { typedSearchAttributes } = await handle.describe();
  assert.equal(typedSearchAttributes.get(MERCHANT_ID_KEY), merchant.merchantId);
  assert.equal(typedSearchAttributes.get(AUTO_RELOAD_STATUS_KEY), 'cap_reached');

  // The durable attempt counter survived: the next charge uses attempt 3 in its key.
  await handle.executeUpdate(updateSettingsUpdate, {
    args: [{ ...BASE_SETTINGS, maxPerCycle: money('60.00') }],
  });
  await waitForState(handle, (s) => s.attemptsMade === 3 && s.inFlight === null, '3rd recharge');
  const keys = merchant.callsOf('chargeCard').map((charge) => charge.idempotencyKey);
  assert.equal(keys.length, 3);
  assert.equal(new Set(keys).size, 3);
  assert.match(keys[2] ?? '', /:3$/);
  assert.deepEqual(merchant.callsOf('loadMerchant'), [merchant.merchantId]);
});

void test('a notification whose delivery hangs does not hold up continue-as-new', async (t) => {
  const { merchant, handle } = await startMerchant(t, env, worker, fakes, { balance: '50.00' });
  const release = merchant.holdNotifications();
  t.after(release);
  await waitForIdle(handle, merchant, 'active');
  // Saving settings sends auto_reload.settings_changed, whose delivery now hangs.
  await handle.executeUpdate(updateSettingsUpdate, {
    args: [{ ...BASE_SETTINGS, threshold: money('9.00') }],
  });
  const runBefore = await currentRunId(handle);

  const newRun = await forceContinueAsNew(handle);
  assert.notEqual(newRun, runBefore);
  assert.deepEqual(merchant.callsOf('notifyMerchant'), []);

  release();
  const delivered = await waitFor('the delivery once released', () => {
    const calls = merchant.callsOf('notifyMerchant');
    return calls.length > 0 ? calls : undefined;
  });
  assert.deepEqual(
    delivered.map((request) => request.type),
    ['auto_reload.settings_changed'],
  );
});
