/**
 * The reconciler, which makes sure no trigger is lost, on real services: a debit whose
 * `balanceChanged` signal was lost strands the merchant until the reconciler signals it,
 * run directly or by its schedule. The SQL that finds stranded merchants is tested alone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AutoReloadSettings, AutoReloadStatus } from '../src/domain/auto-reload';
import { type Micros, micros, parseMoney } from '../src/domain/money';
import { findStrandedMerchants } from '../src/reconciler/stranded';
import { ensureReconcilerSchedule } from '../src/reconciler/schedule';
import { reconcileStrandedMerchants } from '../src/workflows/reconciler';
import { createTestMerchant } from './support/merchants';
import { startTestSystem, type TestSystem, persistedStatus, rechargesOf } from './support/system';
import { waitFor } from './support/wait';
import { BASE_SETTINGS } from './support/settings';

let system: TestSystem;
let counter = 0;

before(async () => {
  system = await startTestSystem('reconciler');
});
after(async () => {
  await system.stop();
});

function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now()}-${counter}`;
}

/**
 * A merchant with a card, 30.00 of opening credit and Auto Reload on, then a 21.00 debit
 * straight through the ledger: no signal is sent, as when the pipeline's signal fails.
 */
async function strandedMerchant(): Promise<{ merchantId: string; ledgerSeq: number }> {
  const merchant = await system.merchants.createMerchant({ name: 'Stranded shop' });
  await system.ledger.creditManual({
    merchantId: merchant.id,
    creditId: 'opening',
    amount: parseMoney('30.00'),
    reason: 'opening credit',
  });
  await system.merchants.savePaymentMethod(merchant.id, 'pm_card_visa');
  await system.merchants.updateAutoReload(merchant.id, BASE_SETTINGS);
  await waitFor('status active in Postgres', async () =>
    (await persistedStatus(system, merchant.id)) === 'active' ? true : undefined,
  );

  const debit = await system.ledger.debitUsage({
    merchantId: merchant.id,
    eventId: unique('evt'),
    amount: parseMoney('21.00'),
    kind: 'campaign',
  });
  assert.equal(debit.status, 'debited');
  assert.equal(debit.status === 'debited' && debit.balance, parseMoney('9.00'));
  return { merchantId: merchant.id, ledgerSeq: debit.status === 'debited' ? debit.ledgerSeq : 0 };
}

/** The workflow never heard of the debit, is idle, and charged nothing. */
async function assertStranded(merchantId: string, ledgerSeq: number): Promise<void> {
  const state = await system.workflows.getState(merchantId);
  assert.ok(state.ledgerSeq < ledgerSeq, `workflow knows seq ${state.ledgerSeq}`);
  assert.equal(state.balance, parseMoney('30.00'));
  assert.equal(state.inFlight, null);
  assert.equal(state.status, 'active');
  assert.deepEqual(await rechargesOf(system, merchantId), []);
}

/** Waits for the one recharge of 20.00 to be credited: 9.00 + 20.00. */
async function assertRecharged(merchantId: string): Promise<void> {
  const balance = await waitFor('the recharge credit', async () => {
    const read = await system.ledger.readBalance(merchantId);
    return read?.balance === parseMoney('29.00') ? read : undefined;
  });
  assert.equal(balance.balance, 29_000_000);
  const rows = await rechargesOf(system, merchantId);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.status, 'succeeded');
  assert.equal(rows[0]?.amount, 20_000_000);
}

describe('reconciler', () => {
  test('signals a merchant whose balance signal was lost, and counts it exactly', async () => {
    const { merchantId, ledgerSeq } = await strandedMerchant();
    await assertStranded(merchantId, ledgerSeq);
    const aboveThreshold = await createTestMerchant(system.database, {
      balance: micros(50_000_000),
      settings: BASE_SETTINGS,
    });

    const summary = await system.env.client.workflow.execute(reconcileStrandedMerchants, {
      workflowId: unique('reconcile'),
      taskQueue: system.taskQueue,
      args: [{ merchantIds: [merchantId, aboveThreshold] }],
    });

    assert.deepEqual(summary, { found: 1, signalled: 1, failed: 0 });
    await assertRecharged(merchantId);
  });

  test('its schedule, created twice and triggered, recharges a stranded merchant', async (t) => {
    const { merchantId, ledgerSeq } = await strandedMerchant();
    await assertStranded(merchantId, ledgerSeq);

    const scheduleId = unique('auto-reload-reconciler-test');
    const options = { scheduleId, intervalSeconds: 60 };
    const first = await ensureReconcilerSchedule(system.env.client, system.taskQueue, options);
    const handle = system.env.client.schedule.getHandle(scheduleId);
    t.after(() => handle.delete());
    const second = await ensureReconcilerSchedule(system.env.client, system.taskQueue, options);
    assert.deepEqual(first, { scheduleId, intervalSeconds: 60, created: true });
    assert.deepEqual(second, { scheduleId, intervalSeconds: 60, created: false });

    const described = await handle.describe();
    assert.deepEqual(
      described.spec.intervals?.map((interval) => interval.every),
      [60_000],
    );
    assert.equal(described.policies.overlap, 'SKIP');
    assert.equal(described.policies.catchupWindow, 60_000);
    assert.equal(described.action.workflowType, 'reconcileStrandedMerchants');
    assert.equal(described.action.taskQueue, system.taskQueue);

    await handle.trigger();
    await assertRecharged(merchantId);
  });

  test('updating the schedule keeps an operator pause', async (t) => {
    const scheduleId = unique('auto-reload-reconciler-test');
    await ensureReconcilerSchedule(system.env.client, system.taskQueue, { scheduleId });
    const handle = system.env.client.schedule.getHandle(scheduleId);
    t.after(() => handle.delete());
    await handle.pause('investigating');

    const again = { scheduleId, intervalSeconds: 120 };
    await ensureReconcilerSchedule(system.env.client, system.taskQueue, again);

    const described = await handle.describe();
    assert.equal(described.state.paused, true);
    assert.equal(described.state.note, 'investigating');
    assert.deepEqual(
      described.spec.intervals?.map((interval) => interval.every),
      [120_000],
    );
  });
});

describe('finding stranded merchants', () => {
  const created: string[] = [];
  // These merchants have no workflow: switched off, later runs' reconcilers leave them alone.
  after(async () => {
    const { sql } = system.database;
    await sql`update auto_reload_settings set enabled = false where merchant_id in ${sql(created)}`;
  });

  /** A merchant at 9.00 with threshold 10.00 and the given settings and status. */
  async function merchantAt9(
    status: AutoReloadStatus,
    settings: Partial<AutoReloadSettings> = {},
  ): Promise<string> {
    const merchantId = await createTestMerchant(system.database, {
      balance: micros(9_000_000),
      settings: { ...BASE_SETTINGS, ...settings },
    });
    created.push(merchantId);
    await system.database.sql`
      update auto_reload_settings set status = ${status} where merchant_id = ${merchantId}`;
    return merchantId;
  }

  async function addPendingRecharge(merchantId: string): Promise<void> {
    const id = unique('rch');
    await system.database.sql`
      insert into recharges (id, merchant_id, cycle_key, attempt, amount, currency, status,
        idempotency_key)
      values (${id}, ${merchantId}, '2026-01', 1, 20000000, 'usd', 'pending', ${id})`;
  }

  async function found(merchantIds: string[], limit = 1_000, afterMerchantId?: string) {
    return findStrandedMerchants(system.database.db, {
      afterMerchantId: afterMerchantId ?? null,
      limit,
      merchantIds,
    });
  }

  test('finds an enabled merchant below its threshold with its balance and ledgerSeq', async () => {
    const merchantId = await merchantAt9('active');
    const page = await found([merchantId]);
    assert.deepEqual(page, {
      merchants: [{ merchantId, balance: 9_000_000 as Micros, ledgerSeq: 1 }],
      nextCursor: null,
    });
  });

  test('finds cap_reached and retry_scheduled merchants: the workflow decides', async () => {
    const capReached = await merchantAt9('cap_reached');
    const retrying = await merchantAt9('retry_scheduled');
    const page = await found([capReached, retrying]);
    assert.deepEqual(
      page.merchants.map((merchant) => merchant.merchantId),
      [capReached, retrying].sort(),
    );
  });

  test('skips a merchant with auto reload disabled', async () => {
    const merchantId = await merchantAt9('active', { enabled: false });
    assert.deepEqual((await found([merchantId])).merchants, []);
  });

  test('skips merchants waiting for the merchant: payment_failed, action_required', async () => {
    const failed = await merchantAt9('payment_failed');
    const actionRequired = await merchantAt9('action_required');
    assert.deepEqual((await found([failed, actionRequired])).merchants, []);
  });

  test('skips a merchant with a pending recharge', async () => {
    const merchantId = await merchantAt9('active');
    await addPendingRecharge(merchantId);
    assert.deepEqual((await found([merchantId])).merchants, []);
  });

  test('skips a merchant whose balance equals its threshold', async () => {
    const merchantId = await merchantAt9('active', { threshold: parseMoney('9.00') });
    assert.deepEqual((await found([merchantId])).merchants, []);
  });

  test('skips a merchant with no settings row', async () => {
    const merchantId = await createTestMerchant(system.database, { balance: micros(1) });
    assert.deepEqual((await found([merchantId])).merchants, []);
  });

  test('pages in merchant id order with a cursor', async () => {
    const ids = [await merchantAt9('active'), await merchantAt9('active')].sort();
    const first = await found(ids, 1);
    assert.deepEqual(
      first.merchants.map((merchant) => merchant.merchantId),
      [ids[0]],
    );
    assert.equal(first.nextCursor, ids[0]);
    const second = await found(ids, 1, first.nextCursor ?? undefined);
    assert.deepEqual(
      second.merchants.map((merchant) => merchant.merchantId),
      [ids[1]],
    );
    const third = await found(ids, 1, second.nextCursor ?? undefined);
    assert.deepEqual(third, { merchants: [], nextCursor: null });
  });
});
