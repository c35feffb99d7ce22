/**
 * Scenarios that walk the merchant workflow through most of its paths. record.ts runs
 * them to produce the checked-in fixture histories; replay.test.ts runs them again for
 * fresh histories of the current code.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { parseMoney } from '../../../src/domain/money';
import {
  balanceChangedSignal,
  paymentMethodChangedSignal,
  updateSettingsUpdate,
} from '../../../src/workflows/definitions';
import { BASE_SETTINGS, type FakeMerchant, type FakeMerchantOptions } from '../fake-activities';
import {
  type MerchantHandle,
  waitForDecisions,
  waitForIdle,
  waitForState,
} from '../merchant-workflow';

export const HISTORIES_DIR = __dirname;

export interface Scenario {
  readonly name: string;
  readonly merchant: FakeMerchantOptions;
  drive(handle: MerchantHandle, merchant: FakeMerchant): Promise<void>;
}

const money = parseMoney;

async function debit(handle: MerchantHandle, merchant: FakeMerchant, amount: string) {
  await handle.signal(balanceChangedSignal, merchant.debit(amount));
}

/** Charges, an in_flight skip, the cap and raising it, a decline, a new card, disabling. */
const rechargeLifecycle: Scenario = {
  name: 'recharge-lifecycle',
  merchant: { balance: '5.00', settings: { maxPerCycle: money('60.00') } },
  async drive(handle, merchant) {
    await waitForState(handle, (s) => s.attemptsMade === 1 && s.inFlight === null, '1st');
    await debit(handle, merchant, '20.00');
    await waitForState(handle, (s) => s.attemptsMade === 2 && s.inFlight === null, '2nd');

    const release = merchant.holdCharges();
    await debit(handle, merchant, '20.00');
    await waitForState(handle, (s) => s.status === 'recharging', 'a charge in flight');
    await debit(handle, merchant, '1.00');
    await waitForDecisions(merchant, 4);
    release();
    await waitForIdle(handle, merchant, 'active');

    await debit(handle, merchant, '20.00');
    await waitForIdle(handle, merchant, 'cap_reached');
    const raised = { ...BASE_SETTINGS, maxPerCycle: money('100.00') };
    await handle.executeUpdate(updateSettingsUpdate, { args: [raised] });
    await waitForState(handle, (s) => s.attemptsMade === 4 && s.inFlight === null, '4th');

    merchant.chargeScript.push({ outcome: 'hardDecline', declineCode: 'expired_card' });
    await debit(handle, merchant, '20.00');
    await waitForIdle(handle, merchant, 'payment_failed');
    await debit(handle, merchant, '1.00');
    await handle.signal(paymentMethodChangedSignal, { hasPaymentMethod: true });
    await waitForState(handle, (s) => s.attemptsMade === 6 && s.status === 'active', '6th');

    await handle.executeUpdate(updateSettingsUpdate, { args: [{ ...raised, enabled: false }] });
    await debit(handle, merchant, '20.00');
    await waitForIdle(handle, merchant, 'disabled');
    await handle.signal(balanceChangedSignal, { balance: money('1.00'), ledgerSeq: 1 });
  },
};

/** Target mode, a missing card, then authentication required and a card saved. */
const targetAndAuthentication: Scenario = {
  name: 'target-and-authentication',
  merchant: {
    balance: '5.00',
    hasPaymentMethod: false,
    settings: { mode: 'target', amount: money('50.00') },
  },
  async drive(handle, merchant) {
    await waitForDecisions(merchant, 1);
    merchant.chargeScript.push({ outcome: 'authenticationRequired' });
    await handle.signal(paymentMethodChangedSignal, { hasPaymentMethod: true });
    await waitForIdle(handle, merchant, 'action_required');
    await handle.signal(paymentMethodChangedSignal, { hasPaymentMethod: true });
    await waitForState(handle, (s) => s.lastRecharge?.status === 'succeeded', 'a recharge');
    await waitForIdle(handle, merchant, 'active');
  },
};

export const SCENARIOS: readonly Scenario[] = [rechargeLifecycle, targetAndAuthentication];

/**
 * Every run of a workflow, oldest first, following continue-as-new links from the first
 * run (exact, unlike visibility queries, which lag).
 */
export async function fetchAllRuns(
  client: Client,
  workflowId: string,
  firstRunId: string,
): Promise<temporal.api.history.v1.IHistory[]> {
  const histories: temporal.api.history.v1.IHistory[] = [];
  let runId: string | null | undefined = firstRunId;
  while (runId) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    histories.push(history);
    const last = history.events?.at(-1);
    runId = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
  }
  return histories;
}

/**
 * The checked-in fixture histories, by file name. They are protobufjs `toJSON` output, so
 * `fromObject` restores them; the SDK's own `historyFromJSON` (for CLI exports) fails in
 * this install with "type must be a Type", a clash of two protobufjs copies.
 */
export function fixtureHistories(): { name: string; history: temporal.api.history.v1.History }[] {
  return readdirSync(HISTORIES_DIR)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => {
      const json = JSON.parse(readFileSync(path.join(HISTORIES_DIR, name), 'utf8')) as object;
      return { name, history: temporal.api.history.v1.History.fromObject(json) };
    });
}
