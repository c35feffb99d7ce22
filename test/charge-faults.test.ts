/**
 * Every fault the sandbox injects on the charge (`POST /v1/payment_intents`), repeated and
 * queued together, through the real worker: whatever goes wrong on the way, the merchant
 * is charged once, under one idempotency key, and credited once.
 *
 * Two layers retry a charge, and the cases are sized on both. The Stripe client retries a
 * dropped connection, a timeout, a 409 and a 5xx itself (2 retries, 0.5 to 1 s apart), so
 * up to three such faults are spent inside one activity attempt; it does not retry a 429.
 * Temporal retries the activity (after 1 s, then 2 s, 4 s...), and each attempt after the
 * first lists the customer's PaymentIntents before charging again. Queued faults apply in
 * the order they were added, each to its next `times` matching requests.
 *
 * The single error_after and drop_after faults are in charge-lost-answer.test.ts and
 * e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { findMerchant } from '../src/activities/merchant-store';
import { parseMoney } from '../src/domain/money';
import type { FaultSpec } from '../src/sandbox/faults';
import { control } from './support/sandbox';
import { BASE_SETTINGS } from './support/settings';
import {
  clearFaults,
  injectFault,
  persistedStatus,
  rechargesOf,
  sandboxRequests,
  spendCredit,
  startTestSystem,
  type TestSystem,
  waitForView,
} from './support/system';
import { waitFor } from './support/wait';

const CHARGE_PATH = '/v1/payment_intents';

/**
 * The client gives up on an answer after 2 s; a delayed charge sleeps 5 s, so the client's
 * own retries and the next activity attempt meet its key while it is still executing.
 */
const CLIENT_TIMEOUT_MS = 2_000;
const DELAY_MS = 5_000;

type ChargeFault = Pick<FaultSpec, 'mode'> & Partial<Pick<FaultSpec, 'times' | 'status'>>;

interface FaultCase {
  readonly name: string;
  /** Queued in this order before the merchant falls below its threshold. */
  readonly faults: readonly ChargeFault[];
  /** The sandbox's answers to the charge requests, in order; null: connection dropped. */
  readonly answers: readonly (number | null)[];
  /**
   * Activity attempts after the first (each looks the PaymentIntent up before charging).
   * Undefined where a delay makes the count a matter of timing: `answers` is then how the
   * log begins, and every later answer is 409 (key in use) or the saved 200.
   */
  readonly lookups?: number;
}

const CASES: readonly FaultCase[] = [
  {
    name: 'error_before once: the client retries within the activity',
    faults: [{ mode: 'error_before', status: 503 }],
    answers: [503, 200],
    lookups: 0,
  },
  {
    name: 'error_before three times: one activity attempt spent, the next charges',
    faults: [{ mode: 'error_before', times: 3 }],
    answers: [500, 500, 500, 200],
    lookups: 1,
  },
  {
    name: 'error_after three times: the charge made by the first is found by the lookup',
    faults: [{ mode: 'error_after', times: 3 }],
    answers: [500, 500, 500],
    lookups: 1,
  },
  {
    name: 'drop_after three times: the charge made by the first is found by the lookup',
    faults: [{ mode: 'drop_after', times: 3 }],
    answers: [null, null, null],
    lookups: 1,
  },
  {
    name: 'rate_limit once: the client does not retry a 429, Temporal does',
    faults: [{ mode: 'rate_limit' }],
    answers: [429, 200],
    lookups: 1,
  },
  {
    name: 'rate_limit twice: one activity attempt per 429',
    faults: [{ mode: 'rate_limit', times: 2 }],
    answers: [429, 429, 200],
    lookups: 2,
  },
  {
    name: 'rate_limit, error_before twice, then drop_after: the lookup finds the charge',
    faults: [{ mode: 'rate_limit' }, { mode: 'error_before', times: 2 }, { mode: 'drop_after' }],
    answers: [429, 500, 500, null],
    lookups: 2,
  },
  {
    name: 'drop_after then error_after: the client retries until the saved success',
    faults: [{ mode: 'drop_after' }, { mode: 'error_after' }],
    answers: [null, 500, 200],
    lookups: 0,
  },
  {
    name: 'delay past the client timeout: retries meet the key in use (409)',
    faults: [{ mode: 'delay' }],
    answers: [200, 409, 409],
  },
  {
    name: 'delay three times: the later delays land on 409s and never sleep',
    faults: [{ mode: 'delay', times: 3 }],
    answers: [200, 409, 409],
  },
  {
    name: 'delay, then error_before and rate_limit while the delayed charge sleeps',
    faults: [{ mode: 'delay' }, { mode: 'error_before' }, { mode: 'rate_limit' }],
    answers: [200, 500, 429],
  },
];

let system: TestSystem;

before(async () => {
  system = await startTestSystem('charge-faults', { stripe: { timeoutMs: CLIENT_TIMEOUT_MS } });
});
after(async () => {
  await system.stop();
});

/** A merchant at 15.00 with a card and Auto Reload at 10 / 20 / 100: 6.00 spent charges 20.00. */
async function rechargeReadyMerchant(name: string): Promise<string> {
  const merchant = await system.merchants.createMerchant({ name });
  await system.ledger.creditManual({
    merchantId: merchant.id,
    creditId: 'opening',
    amount: parseMoney('15.00'),
    reason: 'opening credit',
  });
  await system.merchants.savePaymentMethod(merchant.id, 'pm_card_visa');
  await system.merchants.updateAutoReload(merchant.id, BASE_SETTINGS);
  return merchant.id;
}

async function queueFaults(faults: readonly ChargeFault[]): Promise<void> {
  for (const fault of faults) {
    await injectFault(system.sandbox, {
      method: 'POST',
      path: CHARGE_PATH,
      delayMs: DELAY_MS,
      ...fault,
    });
  }
}

async function unusedFaults(): Promise<unknown[]> {
  const { body } = await control(system.sandbox.url, 'GET', '/_sandbox/faults');
  return body as unknown[];
}

/** The customer's PaymentIntents, whatever their metadata: listing is strongly consistent. */
async function paymentIntentsOf(merchantId: string) {
  const { stripeCustomerId } = await findMerchant(system.database.db, merchantId);
  assert.ok(stripeCustomerId, 'the merchant has a Stripe customer');
  const page = await system.stripe.paymentIntents.list({ customer: stripeCustomerId, limit: 100 });
  return page.data;
}

async function rechargeCredits(merchantId: string) {
  const page = await system.ledger.listLedger(merchantId, { limit: 100 });
  return page.data.filter((entry) => entry.kind === 'recharge');
}

/** Charges and lookups the sandbox served from the `since`-th logged request on. */
async function chargeTraffic(since: number) {
  const served = (await sandboxRequests(system.sandbox)).slice(since);
  return {
    charges: served.filter((r) => r.method === 'POST' && r.path === CHARGE_PATH),
    lookups: served.filter((r) => r.method === 'GET' && r.path === CHARGE_PATH).length,
  };
}

async function assertChargedOnce(merchantId: string, faultCase: FaultCase, since: number) {
  const traffic = await chargeTraffic(since);
  const [recharge, ...otherRecharges] = await rechargesOf(system, merchantId);
  assert.ok(recharge, 'one recharge row');
  assert.deepEqual(otherRecharges, []);

  const intents = await paymentIntentsOf(merchantId);
  assert.deepEqual(
    intents.map((intent) => [intent.id, intent.status, intent.amount]),
    [[recharge.paymentIntentId, 'succeeded', 2_000]],
  );
  assert.equal(intents[0]?.metadata.recharge_id, recharge.id);
  assert.equal(recharge.status, 'succeeded');

  const credits = await rechargeCredits(merchantId);
  assert.deepEqual(
    credits.map((entry) => [entry.amount, entry.externalId, entry.rechargeId]),
    [[parseMoney('20.00'), recharge.paymentIntentId, recharge.id]],
  );
  assert.equal((await system.ledger.readBalance(merchantId))?.balance, parseMoney('29.00'));
  assert.deepEqual((await system.ledger.checkInvariants(merchantId)).violations, []);

  // Every charge request of the case, whoever sent it, carried the recharge's one key.
  assert.deepEqual(
    traffic.charges.map((r) => r.idempotencyKey),
    traffic.charges.map(() => recharge.idempotencyKey),
  );
  const answers = traffic.charges.map((r) => r.status);
  if (faultCase.lookups === undefined) {
    assert.deepEqual(answers.slice(0, faultCase.answers.length), faultCase.answers);
    assert.ok(
      answers.slice(faultCase.answers.length).every((s) => s === 409 || s === 200),
      `later answers: ${JSON.stringify(answers)}`,
    );
  } else {
    assert.deepEqual(answers, faultCase.answers);
    assert.equal(traffic.lookups, faultCase.lookups);
  }
  assert.deepEqual(await unusedFaults(), [], 'every injected fault met a charge request');
}

describe('faults on the charge', () => {
  for (const faultCase of CASES) {
    test(`${faultCase.name}; one charge, one credit`, async (t) => {
      const merchantId = await rechargeReadyMerchant(faultCase.name);
      t.after(() => clearFaults(system.sandbox));
      const since = (await sandboxRequests(system.sandbox)).length;
      await queueFaults(faultCase.faults);

      await spendCredit(system, merchantId, '6.00');
      const state = await waitForView(system, merchantId, 'the recharge settled', (view) => {
        return view.lastRecharge !== null && view.inFlight === null;
      });
      assert.equal(state.lastRecharge?.status, 'succeeded');
      assert.equal(state.status, 'active');
      assert.equal(state.balance, parseMoney('29.00'));
      assert.equal(state.cycle.total, parseMoney('20.00'));

      await assertChargedOnce(merchantId, faultCase, since);
      await waitFor('active in Postgres', async () =>
        (await persistedStatus(system, merchantId)) === 'active' ? true : undefined,
      );
    });
  }
});
