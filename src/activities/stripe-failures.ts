/**
 * Sorts Stripe errors into the failure classes of SPEC 3.6. This is where the outside
 * world meets the workflow: transient errors are rethrown so Temporal retries them with
 * the same idempotency key; everything else becomes a non-retryable ApplicationFailure
 * whose type tells the workflow which status to take.
 */
import { ApplicationFailure } from '@temporalio/common';
import type Stripe from 'stripe';
import { isRetriedOnce } from '../domain/dunning';
import {
  CHARGE_FAILURE_TYPES,
  type ChargeFailureDetails,
  type ChargeFailureType,
} from './contract';

export type FailureClass =
  'transient' | 'soft_decline' | 'hard_decline' | 'authentication_required' | 'configuration';

/** Declines that may succeed later on the same card with a new attempt. */
const SOFT_DECLINE_CODES = new Set([
  'insufficient_funds',
  'try_again_later',
  'processing_error',
  'approve_with_id',
  'issuer_not_available',
  'reenter_transaction',
  'withdrawal_count_limit_exceeded',
  'card_velocity_exceeded',
]);

/** Errors that mean "nothing was decided yet, ask again with the same key". */
const TRANSIENT_CODES = new Set(['lock_timeout', 'idempotency_key_in_use', 'rate_limit']);

const FAILURE_TYPE_BY_CLASS: Record<Exclude<FailureClass, 'transient'>, ChargeFailureType> = {
  soft_decline: CHARGE_FAILURE_TYPES.softDecline,
  hard_decline: CHARGE_FAILURE_TYPES.hardDecline,
  authentication_required: CHARGE_FAILURE_TYPES.authenticationRequired,
  configuration: CHARGE_FAILURE_TYPES.configuration,
};

type StripeErrorLike = Partial<
  Pick<Stripe.errors.StripeError, 'type' | 'code' | 'decline_code' | 'statusCode' | 'message'>
> & { payment_intent?: { id?: string } | undefined };

function asStripeError(error: unknown): StripeErrorLike | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const type = (error as { type?: unknown }).type;
  return typeof type === 'string' && type.startsWith('Stripe') ? error : undefined;
}

function classifyCardError(
  code: string | undefined,
  declineCode: string | undefined,
): FailureClass {
  if (code === 'authentication_required' || declineCode === 'authentication_required') {
    return 'authentication_required';
  }
  const reason = declineCode || code || '';
  if (SOFT_DECLINE_CODES.has(reason) || SOFT_DECLINE_CODES.has(code ?? '')) return 'soft_decline';
  // Retried once on the soft schedule; the schedule itself ends it after one retry.
  if (isRetriedOnce(reason)) return 'soft_decline';
  return 'hard_decline';
}

/** The failure class of an error thrown by the Stripe client while charging. */
export function classifyStripeError(error: unknown): FailureClass {
  const stripeError = asStripeError(error);
  if (!stripeError) return 'transient';
  const { type, code, decline_code: declineCode, statusCode } = stripeError;
  if (code && TRANSIENT_CODES.has(code)) return 'transient';
  switch (type) {
    case 'StripeCardError':
      return classifyCardError(code, declineCode);
    case 'StripeConnectionError':
    case 'StripeRateLimitError':
    case 'StripeAPIError':
      return 'transient';
    case 'StripeAuthenticationError':
    case 'StripePermissionError':
    case 'StripeInvalidRequestError':
    case 'StripeIdempotencyError':
      return 'configuration';
    default:
      return statusCode !== undefined && statusCode < 500 && statusCode !== 429
        ? 'configuration'
        : 'transient';
  }
}

/** What the workflow records about a failed charge; never contains card data. */
export function failureDetails(error: unknown): ChargeFailureDetails {
  const stripeError = asStripeError(error);
  return {
    code: stripeError?.code ?? null,
    declineCode: stripeError?.decline_code || null,
    paymentIntentId: stripeError?.payment_intent?.id ?? null,
    message: error instanceof Error ? error.message : String(error),
  };
}

/** Builds the non-retryable failure the workflow turns into a status. */
export function chargeFailure(
  failureClass: Exclude<FailureClass, 'transient'>,
  details: ChargeFailureDetails,
  cause?: Error,
): ApplicationFailure {
  return ApplicationFailure.create({
    type: FAILURE_TYPE_BY_CLASS[failureClass],
    message: details.message,
    nonRetryable: true,
    details: [details],
    ...(cause ? { cause } : {}),
  });
}
