/**
 * Messages that reach the merchant workflow in the same activation as an activity result,
 * with fake activities that hold a step until the test lets it go.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMoney } from '../src/domain/money';
import { balanceChangedSignal } from '../src/workflows/definitions';
import { FakeWorkflowHarness, waitForIdle, waitForState } from './support/merchant-workflow';
import { waitFor } from './support/wait';

const money = parseMoney;
const harness = FakeWorkflowHarness.perTestFile();
const ROUNDS = 5;

void test('starts the next charge when a debit arrives together with the credit before it', async (t) => {
  const { merchant, handle } = await harness.start(t, {
    balance: '40.00',
    settings: { threshold: money('30.00'), maxPerCycle: money('1000.00') },
  });
  await waitForIdle(handle, merchant, 'active');

  for (let round = 1; round <= ROUNDS; round += 1) {
    // 40 - 15 = 25, below 30: a charge whose credit waits.
    const release = merchant.holdCredits();
    await handle.signal(balanceChangedSignal, merchant.debit('15.00'));
    await waitFor(`credit ${2 * round - 1} held`, () =>
      merchant.callsOf('creditRecharge').length === 2 * round - 1 ? true : undefined,
    );
    // The credit's result and this debit race to the server, often into one workflow
    // task: 25 - 25 + 20 = 20 is still below 30, so the loop must charge again at once.
    const drained = merchant.debit('25.00');
    release();
    await handle.signal(balanceChangedSignal, drained);
    await waitForState(
      handle,
      (s) => s.attemptsMade === 2 * round && s.inFlight === null && s.balance === money('40.00'),
      `round ${round} recharged twice`,
    );
  }

  assert.equal(merchant.callsOf('chargeCard').length, 2 * ROUNDS);
  assert.equal(merchant.callsOf('creditRecharge').length, 2 * ROUNDS);
  assert.equal(merchant.balance, money('40.00'));
});
