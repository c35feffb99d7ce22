/**
 * Every class of decline (SPEC 3.6), charged for real against the sandbox's test cards
 * through the real worker: the status it leads to, the decision log, the notifications the
 * merchant gets, and recovery when the merchant saves a good card. The soft-decline
 * schedule is shortened to 1 s and 2 s so that its end is reached within the test.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { asc, eq } from 'drizzle-orm';
import { decisions } from '../src/db/schema';
import type { AutoReloadStatus } from '../src/domain/auto-reload';
import { parseMoney } from '../src/domain/money';
import { saveWebhookEndpoint } from '../src/notifications/endpoints';
import { merchantWorkflowId } from '../src/workflows/ids';
import type { AutoReloadStateView } from '../src/workflows/state';
import { currentDetails } from './support/merchant-workflow';
import { createTestMerchant } from './support/merchants';
import { startWebhookReceiver, type WebhookReceiver } from './support/sandbox';
import { BASE_SETTINGS } from './support/settings';
import {
  injectFault,
  spendCredit,
  startTestSystem,
  type TestSystem,
  waitForView,
} from './support/system';
import { control } from './support/sandbox';
import { waitFor } from './support/wait';

const RETRY_DELAYS_MS = [1_000, 2_000];

let system: TestSystem;
const receivers: WebhookReceiver[] = [];

before(async () => {
  system = await startTestSystem('declines', { softDeclineRetryDelaysMs: RETRY_DELAYS_MS });
});
after(async () => {
  await Promise.all(receivers.map((receiver) => receiver.stop()));
  await system.stop();
});

/** One row of the decision log, as the checks compare it. */
interface LoggedDecision {
  readonly outcome: string;
  readonly statusAfter: string;
  readonly declineCode?: string | null;
}

/** One notification the merchant received, as the checks compare it. */
interface Told {
  readonly type: string;
  readonly status?: unknown;
  readonly declineCode?: unknown;
  readonly retryAt?: unknown;
}

interface DeclineCase {
  readonly card: string;
  /** Where the declines leave the merchant. */
  readonly endsIn: AutoReloadStatus;
  /** The decision log from the first charge to that status. */
  readonly decisions: readonly LoggedDecision[];
  /** Notifications up to that status, in order, after `balance.low`. */
  readonly told: readonly Told[];
}

const charged = (statusAfter = 'recharging'): LoggedDecision => ({
  outcome: 'charged',
  statusAfter,
  declineCode: null,
});
const failed = (statusAfter: AutoReloadStatus, declineCode: string | null): LoggedDecision => ({
  outcome: 'failed',
  statusAfter,
  declineCode,
});
/** A retry_scheduled notification carries when (a string), a final one null. */
const toldFailed = (status: AutoReloadStatus, declineCode: string): Told => ({
  type: 'auto_reload.failed',
  status,
  declineCode,
  retryAt: status === 'retry_scheduled' ? 'string' : null,
});

/** A soft decline is tried again after each wait of the schedule, then fails for good. */
function softCase(card: string, declineCode: string): DeclineCase {
  return {
    card,
    endsIn: 'payment_failed',
    decisions: [
      charged(),
      failed('retry_scheduled', declineCode),
      charged(),
      failed('retry_scheduled', declineCode),
      charged(),
      failed('payment_failed', declineCode),
    ],
    told: [
      toldFailed('retry_scheduled', declineCode),
      toldFailed('retry_scheduled', declineCode),
      toldFailed('payment_failed', declineCode),
    ],
  };
}

/** A hard decline fails at once and waits for the merchant. */
function hardCase(card: string, declineCode: string): DeclineCase {
  return {
    card,
    endsIn: 'payment_failed',
    decisions: [charged(), failed('payment_failed', declineCode)],
    told: [toldFailed('payment_failed', declineCode)],
  };
}

const CASES: readonly DeclineCase[] = [
  softCase('pm_card_visa_chargeDeclinedInsufficientFunds', 'insufficient_funds'),
  softCase('pm_card_chargeDeclinedProcessingError', 'processing_error'),
  {
    // A decline without a reason may pass on a second try, so it gets exactly one.
    card: 'pm_card_visa_chargeDeclined',
    endsIn: 'payment_failed',
    decisions: [
      charged(),
      failed('retry_scheduled', 'generic_decline'),
      charged(),
      failed('payment_failed', 'generic_decline'),
    ],
    told: [
      toldFailed('retry_scheduled', 'generic_decline'),
      toldFailed('payment_failed', 'generic_decline'),
    ],
  },
  hardCase('pm_card_visa_chargeDeclinedLostCard', 'lost_card'),
  hardCase('pm_card_visa_chargeDeclinedStolenCard', 'stolen_card'),
  hardCase('pm_card_visa_chargeDeclinedFraudulent', 'fraudulent'),
  hardCase('pm_card_chargeDeclinedExpiredCard', 'expired_card'),
  hardCase('pm_card_chargeDeclinedIncorrectCvc', 'incorrect_cvc'),
  {
    card: 'pm_card_authenticationRequired',
    endsIn: 'action_required',
    decisions: [charged(), failed('action_required', 'authentication_required')],
    told: [{ type: 'auto_reload.action_required' }],
  },
];

async function loggedDecisions(merchantId: string): Promise<LoggedDecision[]> {
  const rows = await system.database.db
    .select()
    .from(decisions)
    .where(eq(decisions.merchantId, merchantId))
    .orderBy(asc(decisions.createdAt));
  return rows.map(({ outcome, statusAfter, declineCode }) => ({
    outcome,
    statusAfter,
    declineCode,
  }));
}

/** What the merchant was told, oldest first; `balance.low` and settings changes left out. */
function toldOf(receiver: WebhookReceiver): Told[] {
  return receiver.received
    .map((delivery) => JSON.parse(delivery.body) as { type: string; data: Told })
    .filter(
      ({ type }) => type.startsWith('auto_reload.') && type !== 'auto_reload.settings_changed',
    )
    .map(({ type, data }) =>
      type === 'auto_reload.failed'
        ? {
            type,
            status: data.status,
            declineCode: data.declineCode,
            retryAt: data.status === 'retry_scheduled' ? typeof data.retryAt : data.retryAt,
          }
        : { type },
    );
}

function lastDeclineCode(declineCase: DeclineCase): string {
  return declineCase.decisions.at(-1)?.declineCode ?? '';
}

/** A merchant at 15.00 (threshold 10, amount 20) with `card` and a notification endpoint. */
async function merchantWithEndpoint(card: string) {
  const merchantId = await createTestMerchant(system.database, {
    balance: parseMoney('15.00'),
    settings: BASE_SETTINGS,
  });
  const receiver = await startWebhookReceiver();
  receivers.push(receiver);
  await saveWebhookEndpoint(system.database.db, merchantId, receiver.url);
  await system.merchants.savePaymentMethod(merchantId, card);
  return { merchantId, receiver };
}

function idleIn(status: AutoReloadStatus) {
  return (state: AutoReloadStateView) => state.status === status && state.inFlight === null;
}

/** Succeeded and other PaymentIntents of the merchant's customer. */
async function intentsOf(merchantId: string): Promise<{ succeeded: number; other: number }> {
  const [row] = await system.database.sql<{ customer: string }[]>`
    select stripe_customer_id as customer from merchants where id = ${merchantId}`;
  const listing = await system.stripe.paymentIntents.list({ customer: row?.customer ?? '' });
  const succeeded = listing.data.filter((intent) => intent.status === 'succeeded').length;
  return { succeeded, other: listing.data.length - succeeded };
}

describe('declines by class, through to recovery by a new card', () => {
  for (const declineCase of CASES) {
    test(`${declineCase.card}: ${declineCase.endsIn}, logged, told, recovered`, async () => {
      const { merchantId, receiver } = await merchantWithEndpoint(declineCase.card);

      await spendCredit(system, merchantId, '10.00');
      await waitForView(system, merchantId, declineCase.endsIn, idleIn(declineCase.endsIn));
      assert.deepEqual(await loggedDecisions(merchantId), declineCase.decisions);
      const details = await currentDetails(
        system.env.client.workflow.getHandle(merchantWorkflowId(merchantId)),
      );
      assert.match(details, new RegExp(`Auto Reload: ${declineCase.endsIn}`));
      assert.match(
        details,
        new RegExp(`Last decision: failed \\(rch_.*${lastDeclineCode(declineCase)}`),
      );
      assert.match(details, /Not recharging: /);
      await waitFor('the notifications of the declines', () =>
        toldOf(receiver).length >= declineCase.told.length ? true : undefined,
      );
      assert.deepEqual(toldOf(receiver), declineCase.told);
      assert.equal((await system.ledger.readBalance(merchantId))?.balance, parseMoney('5.00'));

      // Saving a good card ends the problem (logged) and charges at once.
      await system.merchants.savePaymentMethod(merchantId, 'pm_card_visa');
      await waitFor('the balance to be credited', async () => {
        const balance = await system.ledger.readBalance(merchantId);
        return balance?.balance === parseMoney('25.00') ? true : undefined;
      });
      await waitForView(system, merchantId, 'active again', idleIn('active'));
      assert.deepEqual((await loggedDecisions(merchantId)).slice(declineCase.decisions.length), [
        { outcome: 'resumed', statusAfter: 'active', declineCode: null },
        charged(),
      ]);
      await waitFor('the success to be told', () =>
        toldOf(receiver).length > declineCase.told.length ? true : undefined,
      );
      assert.deepEqual(toldOf(receiver).slice(declineCase.told.length), [
        { type: 'auto_reload.succeeded' },
      ]);
      assert.deepEqual(await intentsOf(merchantId), {
        succeeded: 1,
        other: declineCase.decisions.length / 2,
      });
    });
  }
});

test('a decline of a card replaced while its charge was at Stripe leaves no problem: the new card is charged', async () => {
  const { merchantId, receiver } = await merchantWithEndpoint(
    'pm_card_visa_chargeDeclinedLostCard',
  );
  // The charge with the old card waits 1.5 s at Stripe; the new card is saved meanwhile.
  await injectFault(system.sandbox, {
    method: 'POST',
    path: '/v1/payment_intents',
    mode: 'delay',
    delayMs: 1_500,
  });
  await spendCredit(system, merchantId, '10.00');
  await waitFor('the charge to reach Stripe', async () => {
    const { body } = await control(system.sandbox.url, 'GET', '/_sandbox/faults');
    return (body as unknown[]).length === 0 ? true : undefined;
  });
  await system.merchants.savePaymentMethod(merchantId, 'pm_card_visa');

  await waitFor('the new card to be charged and credited', async () => {
    const balance = await system.ledger.readBalance(merchantId);
    return balance?.balance === parseMoney('25.00') ? true : undefined;
  });
  const state = await waitForView(system, merchantId, 'active', idleIn('active'));
  assert.equal(state.attemptsMade, 2);
  assert.deepEqual(await loggedDecisions(merchantId), [
    charged(),
    // The card saved mid-charge is evaluated at once and finds the charge in flight.
    { outcome: 'skipped', statusAfter: 'recharging', declineCode: null },
    failed('active', 'lost_card'),
    charged(),
  ]);
  await waitFor('both outcomes to be told', () =>
    toldOf(receiver).length >= 2 ? true : undefined,
  );
  assert.deepEqual(toldOf(receiver), [
    { type: 'auto_reload.failed', status: 'active', declineCode: 'lost_card', retryAt: null },
    { type: 'auto_reload.succeeded' },
  ]);
  assert.deepEqual(await intentsOf(merchantId), { succeeded: 1, other: 1 });
});
