/** The off-session charge of SPEC 3.6, one attempt per call, safe to retry. */
import { ApplicationFailure } from '@temporalio/common';
import { eq } from 'drizzle-orm';
import type Stripe from 'stripe';
import { type Currency, toMinorUnits } from '../domain/currency';
import { retryDelayAfterSoftDecline } from '../domain/dunning';
import type { Database } from '../db/client';
import { recharges } from '../db/schema';
import {
  type ChargeLookupRequest,
  type ChargeNotFound,
  type ChargeRequest,
  type ChargeSucceeded,
  KEY_EXPIRED_FAILURE_TYPE,
} from './contract';
import { findMerchant } from './merchant-store';
import { chargeFailure, classifyStripeError, failureDetails } from './stripe-failures';

export interface ChargeDeps {
  readonly db: Database;
  readonly stripe: Stripe;
  /** Waits before each retry after a soft decline; the default schedule when absent. */
  readonly softDeclineRetryDelaysMs?: readonly number[];
  /** Milliseconds since the epoch; replaced in tests that need another "now". */
  readonly now?: () => number;
}

/**
 * Stripe may prune a key after 24 hours, and the same key then creates a new charge. An
 * hour of margin covers clock skew and a request that is slow to arrive.
 */
export const IDEMPOTENCY_KEY_MAX_AGE_MS = 23 * 60 * 60 * 1000;

/** What settling a recharge needs to know of the request that charged it. */
type SettleRequest = Pick<ChargeRequest, 'rechargeId' | 'softDeclinesInARow'>;

function keyTooOld(deps: ChargeDeps, request: ChargeRequest): boolean {
  if (request.keyMintedAt === undefined) return false;
  const now = (deps.now ?? Date.now)();
  return now - Date.parse(request.keyMintedAt) > IDEMPOTENCY_KEY_MAX_AGE_MS;
}

/**
 * Saves the attempt before Stripe hears of it, so a crash leaves a pending row to find. A
 * fresh key for the same recharge (after a lookup found nothing) replaces the old one on
 * the row: the recharge id, which Stripe holds as metadata, stays the same.
 */
async function recordPendingRecharge(deps: ChargeDeps, request: ChargeRequest, currency: Currency) {
  await deps.db
    .insert(recharges)
    .values({
      id: request.rechargeId,
      merchantId: request.merchantId,
      cycleKey: request.cycleKey,
      attempt: request.attempt,
      amount: request.amount,
      currency,
      idempotencyKey: request.idempotencyKey,
    })
    .onConflictDoUpdate({
      target: recharges.id,
      set: { idempotencyKey: request.idempotencyKey, attempt: request.attempt },
      setWhere: eq(recharges.status, 'pending'),
    });
}

async function updateRecharge(
  deps: ChargeDeps,
  rechargeId: string,
  change: Partial<typeof recharges.$inferInsert>,
): Promise<void> {
  await deps.db
    .update(recharges)
    .set({ ...change, updatedAt: new Date() })
    .where(eq(recharges.id, rechargeId));
}

async function createPaymentIntent(
  deps: ChargeDeps,
  request: ChargeRequest,
  merchant: { currency: Currency; stripeCustomerId: string; paymentMethodId: string },
): Promise<Stripe.PaymentIntent> {
  return deps.stripe.paymentIntents.create(
    {
      amount: toMinorUnits(request.amount, merchant.currency),
      currency: merchant.currency,
      customer: merchant.stripeCustomerId,
      payment_method: merchant.paymentMethodId,
      off_session: true,
      confirm: true,
      description: 'Auto Reload of prepaid SMS credit',
      metadata: { merchant_id: request.merchantId, recharge_id: request.rechargeId },
    },
    { idempotencyKey: request.idempotencyKey },
  );
}

/** Clocks of our database and of Stripe may differ; the listing starts this much earlier. */
const CLOCK_SKEW_SECONDS = 300;

/**
 * The PaymentIntent an earlier try of this recharge made, if any: by the id saved on the
 * recharge, else among the customer's PaymentIntents by the `recharge_id` metadata. Listing
 * by customer is strongly consistent, where Stripe's search can lag by a minute. Only
 * PaymentIntents created since the recharge began are listed, every page of them.
 */
async function findExistingIntent(
  deps: ChargeDeps,
  request: Pick<ChargeRequest, 'rechargeId'>,
  customerId: string,
): Promise<Stripe.PaymentIntent | null> {
  const [row] = await deps.db
    .select({ paymentIntentId: recharges.paymentIntentId, createdAt: recharges.createdAt })
    .from(recharges)
    .where(eq(recharges.id, request.rechargeId));
  if (row?.paymentIntentId) return deps.stripe.paymentIntents.retrieve(row.paymentIntentId);
  const since = row ? Math.floor(new Date(row.createdAt).getTime() / 1000) - CLOCK_SKEW_SECONDS : 0;
  const listing = deps.stripe.paymentIntents.list({
    customer: customerId,
    created: { gte: since },
    limit: 100,
  });
  for await (const intent of listing) {
    if (intent.metadata?.recharge_id === request.rechargeId) return intent;
  }
  return null;
}

/** Settles the recharge from a PaymentIntent found after a lost answer. */
async function settleFoundIntent(
  deps: ChargeDeps,
  request: SettleRequest,
  intent: Stripe.PaymentIntent,
): Promise<ChargeSucceeded> {
  const failure = intent.last_payment_error;
  if (intent.status !== 'requires_payment_method' || failure == null) {
    return acceptIntent(deps, request, intent);
  }
  // Declined: classified exactly as if the create call had answered with the decline.
  const declined = Object.assign(new Error(failure.message ?? 'The card was declined'), {
    type: 'StripeCardError',
    code: failure.code,
    decline_code: failure.decline_code,
    payment_intent: { id: intent.id },
  });
  return rejectCharge(deps, request, declined);
}

/**
 * Charges the merchant's saved card. Transient failures are rethrown so that Temporal
 * retries with the same idempotency key; declines, authentication and configuration
 * problems are recorded on the recharge and thrown as non-retryable failures.
 */
export async function chargeCard(
  deps: ChargeDeps,
  request: ChargeRequest,
  activityAttempt = 1,
): Promise<ChargeSucceeded> {
  const merchant = await findMerchant(deps.db, request.merchantId);
  if (!merchant.stripeCustomerId || !merchant.paymentMethod) {
    throw chargeFailure('configuration', {
      code: 'no_payment_method',
      declineCode: null,
      paymentIntentId: null,
      message: `Merchant ${request.merchantId} has no saved payment method`,
    });
  }
  await recordPendingRecharge(deps, request, merchant.currency);

  // A retry may follow a charge that happened although its answer was lost or saved as an
  // error (Stripe replays a saved 500 for the same key): look before charging again. A key
  // too old to trust is never sent again; the workflow mints a fresh one.
  const expired = keyTooOld(deps, request);
  if (activityAttempt > 1 || expired) {
    const found = await findExistingIntent(deps, request, merchant.stripeCustomerId);
    if (found !== null) return settleFoundIntent(deps, request, found);
  }
  if (expired) throw keyExpired(request);

  let intent: Stripe.PaymentIntent;
  try {
    intent = await createPaymentIntent(deps, request, {
      currency: merchant.currency,
      stripeCustomerId: merchant.stripeCustomerId,
      paymentMethodId: merchant.paymentMethod.id,
    });
  } catch (error) {
    return rejectCharge(deps, request, error);
  }
  return acceptIntent(deps, request, intent);
}

async function acceptIntent(
  deps: ChargeDeps,
  request: SettleRequest,
  intent: Stripe.PaymentIntent,
): Promise<ChargeSucceeded> {
  if (intent.status === 'succeeded') {
    await updateRecharge(deps, request.rechargeId, { paymentIntentId: intent.id });
    return { paymentIntentId: intent.id };
  }
  if (intent.status === 'requires_action') {
    const details = {
      code: 'authentication_required',
      declineCode: null,
      paymentIntentId: intent.id,
      message: 'The card issuer asks the cardholder to authenticate this payment',
    };
    await updateRecharge(deps, request.rechargeId, {
      status: 'action_required',
      paymentIntentId: intent.id,
      failureCode: details.code,
      failureMessage: details.message,
    });
    throw chargeFailure('authentication_required', details);
  }
  // processing or another in-between state: ask again with the same key later.
  throw new Error(`PaymentIntent ${intent.id} is ${intent.status}; will check again`);
}

async function rejectCharge(
  deps: ChargeDeps,
  request: SettleRequest,
  error: unknown,
): Promise<never> {
  const failureClass = classifyStripeError(error);
  if (failureClass === 'transient') throw error;

  const found = failureDetails(error);
  const details =
    failureClass === 'soft_decline'
      ? { ...found, retryInMs: softDeclineRetry(deps, found.declineCode, request) }
      : found;
  await updateRecharge(deps, request.rechargeId, {
    status: failureClass === 'authentication_required' ? 'action_required' : 'failed',
    paymentIntentId: details.paymentIntentId,
    failureCode: details.code,
    declineCode: details.declineCode,
    failureMessage: details.message,
  });
  throw chargeFailure(failureClass, details, error instanceof Error ? error : undefined);
}

function softDeclineRetry(
  deps: ChargeDeps,
  declineCode: string | null,
  request: SettleRequest,
): number | null {
  const before = request.softDeclinesInARow ?? 0;
  return retryDelayAfterSoftDecline(declineCode, before, deps.softDeclineRetryDelaysMs);
}

function keyExpired(request: ChargeRequest): ApplicationFailure {
  return ApplicationFailure.create({
    type: KEY_EXPIRED_FAILURE_TYPE,
    message: `Idempotency key ${request.idempotencyKey} is older than 23 hours and no PaymentIntent carries recharge ${request.rechargeId}`,
    nonRetryable: true,
  });
}

/**
 * After a charge ended with no clear answer (its retries ran out): the PaymentIntent it
 * made, settled as chargeCard would settle it, or ChargeNotFound when there is none, so
 * that the workflow may mint a fresh key. Listing by customer is strongly consistent, so
 * "none" means no request with an earlier key reached Stripe's records.
 */
export async function lookUpCharge(
  deps: ChargeDeps,
  request: ChargeLookupRequest,
): Promise<ChargeSucceeded | ChargeNotFound> {
  const merchant = await findMerchant(deps.db, request.merchantId);
  const found = merchant.stripeCustomerId
    ? await findExistingIntent(deps, request, merchant.stripeCustomerId)
    : null;
  if (found !== null) return settleFoundIntent(deps, request, found);
  return { paymentIntentId: null, retryInMs: softDeclineRetry(deps, null, request) };
}
