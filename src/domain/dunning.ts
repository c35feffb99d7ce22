/**
 * When a declined recharge is tried again (SPEC 3.6). Pure, so that the worker's charge
 * activity, which knows the configured schedule, decides it once and the workflow only
 * follows what the activity answered (recorded in history, hence replay-safe).
 */

const HOUR_MS = 60 * 60 * 1000;

/** The default waits before each new attempt after a soft decline: 1 h, 6 h, 24 h. */
export const DEFAULT_SOFT_DECLINE_RETRY_DELAYS_MS: readonly number[] = [
  HOUR_MS,
  6 * HOUR_MS,
  24 * HOUR_MS,
];

/**
 * Declines the issuer gives without a reason. One may pass on a second try, so it is
 * retried once like a soft decline; a second one in a row is taken as a hard decline.
 */
const DECLINES_RETRIED_ONCE: ReadonlySet<string> = new Set(['generic_decline']);

export function isRetriedOnce(declineCode: string | null): boolean {
  return declineCode !== null && DECLINES_RETRIED_ONCE.has(declineCode);
}

/**
 * The wait before the next attempt after a soft decline, or null when the schedule is
 * spent and the merchant must act (payment_failed).
 * @param softDeclinesBefore soft declines in a row before this one
 */
export function retryDelayAfterSoftDecline(
  declineCode: string | null,
  softDeclinesBefore: number,
  delaysMs: readonly number[] = DEFAULT_SOFT_DECLINE_RETRY_DELAYS_MS,
): number | null {
  const retries = isRetriedOnce(declineCode) ? Math.min(1, delaysMs.length) : delaysMs.length;
  if (softDeclinesBefore >= retries) return null;
  return delaysMs[softDeclinesBefore] ?? null;
}
