/**
 * Reads why a charge failed and what Auto Reload does about it. Sandbox-safe: pure
 * functions over the failures the charge activity throws (SPEC 3.6).
 */
import { ActivityFailure, ApplicationFailure, isCancellation } from '@temporalio/workflow';
import {
  CHARGE_FAILURE_TYPES,
  type ChargeFailureDetails,
  type ChargeFailureType,
  KEY_EXPIRED_FAILURE_TYPE,
} from '../activities/contract';
import type { PaymentProblem } from '../domain/recharge-rule';
import type { SettledRechargeStatus } from './state';

/**
 * A charge that ended without money. `unknown` means the activity ran out of retries on
 * transient errors (or timed out): the card may or may not have been charged.
 */
export interface ChargeFailure {
  readonly type: ChargeFailureType | 'unknown';
  readonly code: string | null;
  readonly declineCode: string | null;
  readonly paymentIntentId: string | null;
  readonly message: string;
  /** The retry schedule's wait after a soft decline, as the activity decided it. */
  readonly retryInMs?: number | null;
}

/** What a failure does: the status it leaves the merchant in and the recharge's status. */
export interface FailureResponse {
  readonly problem: PaymentProblem;
  readonly rechargeStatus: SettledRechargeStatus;
}

const KNOWN_TYPES: readonly string[] = Object.values(CHARGE_FAILURE_TYPES);

function isChargeFailureType(type: string | null | undefined): type is ChargeFailureType {
  return typeof type === 'string' && KNOWN_TYPES.includes(type);
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** details[0] crosses a process boundary, so each field is checked rather than trusted. */
function readDetails(failure: ApplicationFailure): Omit<ChargeFailure, 'type'> {
  const raw: unknown = failure.details?.[0];
  const details = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<
    Record<keyof ChargeFailureDetails, unknown>
  >;
  const retryInMs = details.retryInMs;
  return {
    code: stringOrNull(details.code),
    declineCode: stringOrNull(details.declineCode),
    paymentIntentId: stringOrNull(details.paymentIntentId),
    message: stringOrNull(details.message) ?? failure.message,
    ...((retryInMs === null || typeof retryInMs === 'number') && { retryInMs }),
  };
}

/**
 * Classifies an error thrown by the charge activity; undefined for anything that is not an
 * activity failure (a bug or a cancellation), which the caller must rethrow.
 */
export function chargeFailureOf(error: unknown): ChargeFailure | undefined {
  if (!(error instanceof ActivityFailure) || isCancellation(error)) return undefined;
  const cause = error.cause;
  if (cause instanceof ApplicationFailure && isChargeFailureType(cause.type)) {
    return { type: cause.type, ...readDetails(cause) };
  }
  if (cause instanceof ApplicationFailure && cause.type === KEY_EXPIRED_FAILURE_TYPE) {
    // Nothing found under the old key: as unclear as running out of retries, and handled
    // the same way, with a fresh key.
    const details = { code: 'idempotency_key_expired', declineCode: null, paymentIntentId: null };
    return { type: 'unknown', ...details, message: cause.message };
  }
  return {
    type: 'unknown',
    code: null,
    declineCode: null,
    paymentIntentId: null,
    message: cause?.message ?? error.message,
  };
}

/**
 * Maps a failure to its response: every failure stops charging for now. Soft declines go
 * through the dunning schedule instead (dunning.ts), in histories recorded with it.
 */
export function failureResponse(type: ChargeFailure['type']): FailureResponse {
  switch (type) {
    case CHARGE_FAILURE_TYPES.authenticationRequired:
      return { problem: 'action_required', rechargeStatus: 'action_required' };
    case CHARGE_FAILURE_TYPES.softDecline:
    case CHARGE_FAILURE_TYPES.hardDecline:
    case CHARGE_FAILURE_TYPES.configuration:
      return { problem: 'payment_failed', rechargeStatus: 'failed' };
    case 'unknown':
      // Stripe could not be asked even to look the PaymentIntent up (each retry of the
      // charge does): stop, and let a late webhook or the merchant's next card save move on.
      return { problem: 'payment_failed', rechargeStatus: 'failed' };
  }
}
