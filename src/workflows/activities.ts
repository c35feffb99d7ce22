/**
 * Activity proxies of the merchant workflow, grouped by how each call must be retried.
 * Only the contract's types are imported: activity code never enters the sandbox.
 */
import { proxyActivities } from '@temporalio/workflow';
import { type AutoReloadActivities, CHARGE_FAILURE_TYPES } from '../activities/contract';

/** Postgres reads and writes that are safe to repeat: retried until they succeed. */
export const store = proxyActivities<
  Pick<AutoReloadActivities, 'loadMerchant' | 'saveStatus' | 'recordDecision' | 'measureFunding'>
>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * Saving settings runs inside an Update the merchant is waiting for, so it gives up after
 * a few tries and the Update fails instead of hanging.
 */
export const settingsStore = proxyActivities<Pick<AutoReloadActivities, 'saveSettings'>>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 5 },
});

/**
 * Charging retries transient errors with the same idempotency key; declines and
 * configuration errors come back at once as typed non-retryable failures.
 */
export const charges = proxyActivities<Pick<AutoReloadActivities, 'chargeCard'>>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 10,
    nonRetryableErrorTypes: Object.values(CHARGE_FAILURE_TYPES),
  },
});

/**
 * Finding out what became of a charge that ended with no clear answer: retried until Stripe
 * answers, because no fresh key may be minted before we know. Declines it finds come back
 * as the same typed failures as the charge's.
 */
export const chargeLookups = proxyActivities<Pick<AutoReloadActivities, 'lookUpCharge'>>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    nonRetryableErrorTypes: Object.values(CHARGE_FAILURE_TYPES),
  },
});

/**
 * Crediting follows money that was already taken from the card, so it never gives up;
 * the activity is idempotent by PaymentIntent id, which makes endless retries safe.
 */
export const credits = proxyActivities<
  Pick<AutoReloadActivities, 'creditRecharge' | 'settleLateRecharge'>
>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

/**
 * Notifications are delivered at least once: retried with backoff for up to three days,
 * so that a merchant's server that is down for a weekend still gets every event. Nobody
 * waits on them; only continue-as-new does (see MerchantNotifier).
 */
export const notifications = proxyActivities<Pick<AutoReloadActivities, 'notifyMerchant'>>({
  startToCloseTimeout: '15 seconds',
  scheduleToCloseTimeout: '3 days',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 minutes' },
});
