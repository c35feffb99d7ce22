// node:test tracks the promises test() and describe() return; nothing is left floating.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { connect, type DatabaseHandle } from '../src/db/client';
import { type Micros, micros } from '../src/domain/money';
import { createLedger, type Ledger } from '../src/ledger';
import {
  InvalidAmountError,
  InvalidCursorError,
  InvalidLimitError,
  InvalidUsageKindError,
  LedgerWriteError,
  MerchantNotFoundError,
} from '../src/ledger/errors';
import { encodeCursor } from '../src/ledger/read';
import { runLedgerWrite } from '../src/ledger/run';
import { DEBIT_USAGE_SQL } from '../src/ledger/statements';
import type { DebitResult, UsageEvent } from '../src/ledger/types';
import { testDatabaseUrl } from './support/env';
import { createTestMerchant, type TestMerchantOptions } from './support/merchants';
import { waitFor } from './support/wait';

const USD = 1_000_000;
let handle: DatabaseHandle;
let ledger: Ledger;
const merchantIds: string[] = [];

before(() => {
  // More connections than the default so that concurrent debits really contend in Postgres.
  handle = connect(testDatabaseUrl(), { max: 30 });
  ledger = createLedger(handle);
});
after(() => handle.close());

async function merchant(options: TestMerchantOptions = {}): Promise<string> {
  const id = await createTestMerchant(handle, options);
  merchantIds.push(id);
  return id;
}

let eventCounter = 0;
function usage(merchantId: string, amount: number, eventId?: string): UsageEvent {
  eventCounter += 1;
  return {
    merchantId,
    eventId: eventId ?? `evt_${eventCounter}`,
    amount: micros(amount),
    kind: 'chat',
  };
}

async function usageEntries(merchantId: string): Promise<number> {
  const [row] = await handle.sql<{ n: number }[]>`
    select count(*)::int8 as n from ledger_entries where merchant_id = ${merchantId} and kind = 'usage'`;
  return row?.n ?? -1;
}

/** Only the fields every answer about a balance carries, for compact exact assertions. */
function brief(result: DebitResult): { status: string; balance?: number; ledgerSeq?: number } {
  if (result.status === 'merchant_not_found') return { status: result.status };
  return { status: result.status, balance: result.balance, ledgerSeq: result.ledgerSeq };
}

describe('usage debits', () => {
  test('a debit lowers the balance to the micro-unit and answers the new sequence', async () => {
    const id = await merchant({ balance: micros(10 * USD) });
    const result = await ledger.debitUsage(usage(id, 7_501));
    assert.deepEqual(result, {
      status: 'debited',
      balance: 9_992_499,
      ledgerSeq: 2,
      enabled: false,
      threshold: null,
      belowThreshold: false,
    });
    assert.deepEqual(await ledger.readBalance(id), { balance: 9_992_499, ledgerSeq: 2 });
  });

  test('a repeated event id debits once and answers the first result', async () => {
    const id = await merchant({ balance: micros(10 * USD) });
    const first = await ledger.debitUsage(usage(id, USD, 'evt_repeat'));
    await ledger.debitUsage(usage(id, 2 * USD));
    const again = await ledger.debitUsage(usage(id, USD, 'evt_repeat'));

    assert.deepEqual(brief(again), { status: 'duplicate', balance: 9 * USD, ledgerSeq: 2 });
    assert.deepEqual(brief(first), { ...brief(again), status: 'debited' });
    assert.equal(await usageEntries(id), 2);
    assert.deepEqual(await ledger.readBalance(id), { balance: 7 * USD, ledgerSeq: 3 });
  });

  test('a debit beyond the balance is refused and changes nothing', async () => {
    const id = await merchant({ balance: micros(USD) });
    const result = await ledger.debitUsage(usage(id, USD + 1));
    assert.deepEqual(brief(result), { status: 'insufficient_funds', balance: USD, ledgerSeq: 1 });
    assert.equal(await usageEntries(id), 0);
    assert.deepEqual(await ledger.readBalance(id), { balance: USD, ledgerSeq: 1 });
  });

  test('a debit may take the balance to exactly zero', async () => {
    const id = await merchant({ balance: micros(USD) });
    assert.deepEqual(brief(await ledger.debitUsage(usage(id, USD))), {
      status: 'debited',
      balance: 0,
      ledgerSeq: 2,
    });
  });

  test('a debit for an unknown merchant answers merchant_not_found', async () => {
    assert.deepEqual(await ledger.debitUsage(usage('mer_missing', 1)), {
      status: 'merchant_not_found',
    });
  });

  test('amounts that are not positive whole micros, and unknown kinds, are refused before any write', async () => {
    const id = await merchant({ balance: micros(USD) });
    for (const amount of [0, -5, 1.5, Number.NaN]) {
      const event = { ...usage(id, 1), amount: amount as Micros };
      await assert.rejects(ledger.debitUsage(event), InvalidAmountError);
      await assert.rejects(ledger.debitUsageBatch([usage(id, 1), event]), InvalidAmountError);
    }
    const oddKind = { ...usage(id, 1), kind: 'sms' } as unknown as UsageEvent;
    await assert.rejects(ledger.debitUsage(oddKind), InvalidUsageKindError);
    assert.deepEqual(await ledger.readBalance(id), { balance: USD, ledgerSeq: 1 });
  });

  test('100 parallel debits against a balance for 50 succeed exactly 50 times', async () => {
    const id = await merchant({ balance: micros(50 * 30_000) });
    const results = await Promise.all(
      Array.from({ length: 100 }, () => ledger.debitUsage(usage(id, 30_000))),
    );
    const debited = results.filter((result) => result.status === 'debited');
    const refused = results.filter((result) => result.status === 'insufficient_funds');

    assert.equal(debited.length, 50);
    assert.equal(refused.length, 50);
    // Each refusal answers the empty balance it met, even when its snapshot was older.
    for (const result of refused) {
      assert.deepEqual(brief(result), { status: 'insufficient_funds', balance: 0, ledgerSeq: 51 });
    }
    assert.deepEqual(await ledger.readBalance(id), { balance: 0, ledgerSeq: 51 });
    assert.equal(await usageEntries(id), 50);
    assert.deepEqual((await ledger.checkInvariants(id)).violations, []);
  });

  test('20 concurrent debits with the same new event id debit once', async () => {
    const id = await merchant({ balance: micros(10 * USD) });
    const event = usage(id, USD);
    const results = await Promise.all(Array.from({ length: 20 }, () => ledger.debitUsage(event)));

    assert.equal(results.filter((result) => result.status === 'debited').length, 1);
    const states = results.map((result) => ({ ...brief(result), status: undefined }));
    assert.deepEqual(
      new Set(states.map((state) => JSON.stringify(state))),
      new Set([JSON.stringify({ balance: 9 * USD, ledgerSeq: 2 })]),
    );
    assert.equal(await usageEntries(id), 1);
  });

  test('a debit that loses the race on its event id answers the winner as a duplicate', async () => {
    const id = await merchant({ balance: micros(10 * USD) });
    const event = usage(id, USD);
    let waiting: Promise<DebitResult> | undefined;

    // The first debit holds the merchant row until the second is seen waiting for it; both
    // saw no entry for the event, so the second can only learn of the first from the index.
    await handle.sql.begin(async (tx) => {
      await tx.unsafe(DEBIT_USAGE_SQL, [id, event.eventId, event.amount, event.kind]);
      waiting = ledger.debitUsage(event);
      await waitForLockWaiters(1);
    });
    assert.deepEqual(brief(await (waiting as Promise<DebitResult>)), {
      status: 'duplicate',
      balance: 9 * USD,
      ledgerSeq: 2,
    });
    assert.equal(await usageEntries(id), 1);
  });

  test('a debit refused after waiting for another answers the balance that other left', async () => {
    const id = await merchant({ balance: micros(USD) });
    const first = usage(id, USD);
    let waiting: Promise<DebitResult> | undefined;

    // The second debit's snapshot still shows 1 USD; the answer must show the 0 it met.
    await handle.sql.begin(async (tx) => {
      await tx.unsafe(DEBIT_USAGE_SQL, [id, first.eventId, first.amount, first.kind]);
      waiting = ledger.debitUsage(usage(id, USD));
      await waitForLockWaiters(1);
    });
    assert.deepEqual(brief(await (waiting as Promise<DebitResult>)), {
      status: 'insufficient_funds',
      balance: 0,
      ledgerSeq: 2,
    });
  });
});

/** Waits until this many backends wait for a row lock. */
async function waitForLockWaiters(count: number): Promise<void> {
  await waitFor(`${count} backends waiting for a row lock`, async () => {
    const [row] = await handle.sql<{ n: number }[]>`
      select count(*)::int8 as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'`;
    return (row?.n ?? 0) >= count ? true : undefined;
  });
}

describe('retries on the entry key race', () => {
  const driverError = (constraint: string) =>
    Object.assign(new Error('duplicate key value'), { code: '23505', constraint_name: constraint });
  const conflict = driverError('ledger_entries_external_idx');

  test('a write that lost the race is run once more', async () => {
    let calls = 0;
    const answer = await runLedgerWrite('test', 'mer_x', () => {
      calls += 1;
      return calls === 1 ? Promise.reject(conflict) : Promise.resolve('second');
    });
    assert.equal(answer, 'second');
  });

  test('other failures are not retried and keep the driver error as cause', async () => {
    const failure = driverError('recharges_payment_intent_idx');
    let calls = 0;
    const write = () => {
      calls += 1;
      return Promise.reject(failure);
    };
    await assert.rejects(runLedgerWrite('recharge credit', 'mer_x', write), (error) => {
      assert.ok(error instanceof LedgerWriteError);
      assert.equal(error.operation, 'recharge credit');
      assert.equal(error.cause, failure);
      return true;
    });
    assert.equal(calls, 1);
  });
});

describe('batch debits', () => {
  test('a batch applies in order and answers each event with its own status', async () => {
    const a = await merchant({ balance: micros(10 * USD) });
    const b = await merchant({ balance: micros(USD) });
    const results = await ledger.debitUsageBatch([
      usage(a, 4 * USD, 'evt_a1'),
      usage(b, 2 * USD, 'evt_b1'),
      usage('mer_missing', USD),
      usage(a, 7 * USD, 'evt_a2'),
      usage(a, 4 * USD, 'evt_a1'),
      usage(b, USD, 'evt_b2'),
      usage(a, 6 * USD, 'evt_a3'),
    ]);

    assert.deepEqual(results.map(brief), [
      { status: 'debited', balance: 6 * USD, ledgerSeq: 2 },
      { status: 'insufficient_funds', balance: USD, ledgerSeq: 1 },
      { status: 'merchant_not_found' },
      { status: 'insufficient_funds', balance: 6 * USD, ledgerSeq: 2 },
      { status: 'duplicate', balance: 6 * USD, ledgerSeq: 2 },
      { status: 'debited', balance: 0, ledgerSeq: 2 },
      { status: 'debited', balance: 0, ledgerSeq: 3 },
    ]);
    assert.deepEqual((await ledger.checkInvariants(a)).violations, []);
  });

  test('concurrent batches that repeat the same events debit each event once', async () => {
    const ids = await Promise.all([1, 2, 3, 4].map(() => merchant({ balance: micros(100 * USD) })));
    const events = ids.flatMap((id) => [1, 2, 3].map((n) => usage(id, n * USD, `evt_${id}_${n}`)));
    // Each batch lists the events in another order, so merchants appear in different orders.
    const batches = Array.from({ length: 8 }, (_, k) =>
      events.map((_, index) => events[(index * 5 + k) % events.length] as UsageEvent),
    );
    const results = (
      await Promise.all(batches.map((batch) => ledger.debitUsageBatch(batch)))
    ).flat();

    assert.equal(results.filter((result) => result.status === 'debited').length, events.length);
    assert.equal(
      results.filter((result) => result.status === 'duplicate').length,
      7 * events.length,
    );
    for (const id of ids) {
      assert.deepEqual(await ledger.readBalance(id), { balance: 94 * USD, ledgerSeq: 4 });
    }
  });

  test('an empty batch answers an empty list', async () => {
    assert.deepEqual(await ledger.debitUsageBatch([]), []);
  });
});

describe('credits', () => {
  test('a recharge is credited once per PaymentIntent and marks the recharge succeeded', async () => {
    const id = await merchant({ balance: micros(USD) });
    const rechargeId = `rch_${id}`;
    await handle.sql`
      insert into recharges (id, merchant_id, cycle_key, attempt, amount, currency, idempotency_key)
      values (${rechargeId}, ${id}, '2025-01', 1, ${20 * USD}, 'usd', ${`key_${id}`})`;
    const credit = {
      merchantId: id,
      rechargeId,
      paymentIntentId: `pi_${id}`,
      amount: micros(20 * USD),
    };

    const first = await ledger.creditRecharge(credit);
    const second = await ledger.creditRecharge(credit);

    assert.deepEqual(first, { credited: true, balance: 21 * USD, ledgerSeq: 2 });
    assert.deepEqual(second, { credited: false, balance: 21 * USD, ledgerSeq: 2 });
    const [recharge] = await handle.sql`
      select status, payment_intent_id from recharges where id = ${rechargeId}`;
    assert.deepEqual({ ...recharge }, { status: 'succeeded', payment_intent_id: `pi_${id}` });
    assert.equal((await ledger.listLedger(id)).data.length, 2);
  });

  test('a manual credit is credited once per credit id and keeps its reason', async () => {
    const id = await merchant();
    const credit = {
      merchantId: id,
      creditId: 'crd_1',
      amount: micros(5 * USD),
      reason: 'goodwill',
    };
    assert.deepEqual(await ledger.creditManual(credit), {
      credited: true,
      balance: 5 * USD,
      ledgerSeq: 1,
    });
    assert.deepEqual(await ledger.creditManual(credit), {
      credited: false,
      balance: 5 * USD,
      ledgerSeq: 1,
    });
    const { data } = await ledger.listLedger(id);
    assert.deepEqual(
      data.map((entry) => [entry.kind, entry.amount, entry.description]),
      [['manual_credit', 5 * USD, 'goodwill']],
    );
  });

  test('a credit for an unknown merchant throws MerchantNotFoundError', async () => {
    const credit = { merchantId: 'mer_missing', creditId: 'crd_x', amount: micros(1), reason: 'x' };
    await assert.rejects(ledger.creditManual(credit), MerchantNotFoundError);
  });
});

describe('threshold state', () => {
  const settings = (enabled: boolean) => ({
    enabled,
    threshold: micros(5 * USD),
    amount: micros(20 * USD),
    maxPerCycle: micros(100 * USD),
  });

  test('belowThreshold is true only when enabled and strictly below the threshold', async () => {
    const id = await merchant({ balance: micros(6 * USD), settings: settings(true) });
    const atThreshold = await ledger.debitUsage(usage(id, USD));
    const below = await ledger.debitUsage(usage(id, 1));

    assert.deepEqual(atThreshold, {
      status: 'debited',
      balance: 5 * USD,
      ledgerSeq: 2,
      enabled: true,
      threshold: 5 * USD,
      belowThreshold: false,
    });
    assert.deepEqual(below, {
      ...atThreshold,
      balance: 5 * USD - 1,
      ledgerSeq: 3,
      belowThreshold: true,
    });
  });

  test('belowThreshold is false when auto reload is disabled', async () => {
    const id = await merchant({ balance: micros(6 * USD), settings: settings(false) });
    assert.deepEqual(await ledger.debitUsage(usage(id, 2 * USD)), {
      status: 'debited',
      balance: 4 * USD,
      ledgerSeq: 2,
      enabled: false,
      threshold: 5 * USD,
      belowThreshold: false,
    });
  });
});

describe('ledger pages', () => {
  test('pages walk every entry once, newest first', async () => {
    const id = await merchant({ balance: micros(100 * USD) });
    await ledger.debitUsageBatch(Array.from({ length: 24 }, () => usage(id, 1)));

    const seen: number[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const page = await ledger.listLedger(id, { limit: 10, cursor });
      seen.push(...page.data.map((entry) => entry.seq));
      sizes.push(page.data.length);
      cursor = page.nextCursor;
    } while (cursor !== null);

    assert.deepEqual(sizes, [10, 10, 5]);
    assert.deepEqual(
      seen,
      Array.from({ length: 25 }, (_, index) => 25 - index),
    );
  });

  test('a page limit outside 1..500 is refused with InvalidLimitError', async () => {
    const id = await merchant();
    for (const limit of [0, 501, 2.5]) {
      await assert.rejects(ledger.listLedger(id, { limit }), InvalidLimitError);
    }
  });

  test('a cursor listLedger did not make is refused with InvalidCursorError', async () => {
    const id = await merchant();
    const forged = [
      '',
      'abc!',
      encodeCursor(12) + '=',
      Buffer.from('007').toString('base64url'),
      Buffer.from('-1').toString('base64url'),
    ];
    for (const cursor of forged) {
      await assert.rejects(ledger.listLedger(id, { cursor }), InvalidCursorError);
    }
  });
});

/**
 * What the ledger should answer, kept in memory: the balance, the first answer of each
 * debited event (its sequence number) and the credit ids already credited.
 */
class LedgerModel {
  readonly debited = new Map<string, number>();
  readonly credited = new Set<string>();
  constructor(public balance: number) {}

  expectDebit(eventId: string, amount: number): DebitResult['status'] {
    if (this.debited.has(eventId)) return 'duplicate';
    return this.balance >= amount ? 'debited' : 'insufficient_funds';
  }
}

type Step =
  | { op: 'debit'; event: number; amount: number }
  | { op: 'recharge' | 'manual'; credit: number; amount: number };

const steps = fc.array(
  fc.oneof(
    fc.record({
      op: fc.constant('debit' as const),
      event: fc.nat(6),
      amount: fc.integer({ min: 1, max: 3 * USD }),
    }),
    fc.record({
      op: fc.constantFrom('recharge' as const, 'manual' as const),
      credit: fc.nat(2),
      amount: fc.integer({ min: 1, max: 2 * USD }),
    }),
  ),
  { maxLength: 25 },
);

async function applyCredit(
  id: string,
  model: LedgerModel,
  step: Step & { op: 'recharge' | 'manual' },
) {
  // PaymentIntent ids are unique across merchants, as Stripe's are.
  const key = `${step.op}_${id}_${step.credit}`;
  const amount = micros(step.amount);
  const result =
    step.op === 'manual'
      ? await ledger.creditManual({ merchantId: id, creditId: key, amount, reason: 'property' })
      : await ledger.creditRecharge({
          merchantId: id,
          rechargeId: key,
          paymentIntentId: key,
          amount,
        });
  assert.equal(result.credited, !model.credited.has(key));
  if (result.credited) model.balance += step.amount;
  model.credited.add(key);
}

async function applyDebit(id: string, model: LedgerModel, step: Step & { op: 'debit' }) {
  const eventId = `evt_${step.event}`;
  const expected = model.expectDebit(eventId, step.amount);
  const result = await ledger.debitUsage(usage(id, step.amount, eventId));
  assert.equal(result.status, expected);
  if (result.status === 'merchant_not_found') return;

  if (result.status === 'debited') {
    model.balance -= step.amount;
    model.debited.set(eventId, result.ledgerSeq);
  }
  if (result.status === 'duplicate') assert.equal(result.ledgerSeq, model.debited.get(eventId));
  assert.ok(result.balance >= 0);
}

test('random debits, repeats and credits keep the balance equal to the ledger sum', async () => {
  const property = fc.asyncProperty(fc.nat(5 * USD), steps, async (opening, plan) => {
    const id = await merchant({ balance: micros(opening) });
    const model = new LedgerModel(opening);
    for (const step of plan) {
      if (step.op === 'debit') await applyDebit(id, model, step);
      else await applyCredit(id, model, step);
    }

    const report = await ledger.checkInvariants(id);
    assert.deepEqual(report.violations, []);
    assert.equal(report.balance, model.balance);
    assert.equal(await ledger.ledgerSum(id), model.balance);
    assert.equal(await usageEntries(id), model.debited.size);
  });
  await fc.assert(property, { numRuns: 30 });
});

test('every merchant the tests touched still satisfies the ledger invariants', async () => {
  assert.ok(merchantIds.length > 30);
  for (const id of merchantIds) {
    assert.deepEqual((await ledger.checkInvariants(id)).violations, [], `merchant ${id}`);
  }
});
