/**
 * The activities the merchant workflow calls, as plain types. The workflow imports this
 * file as types only; `createActivities` implements it and test fakes implement it too.
 */
import type { AutoReloadSettings, AutoReloadStatus, SkipReason } from '../domain/auto-reload';
import type { Currency } from '../domain/currency';
import type { Micros } from '../domain/money';

/** Everything the workflow needs to start (or restart) a merchant from Postgres. */
export interface MerchantSnapshot {
  readonly merchantId: string;
  readonly currency: Currency;
  readonly billingCycleAnchor: string;
  readonly settings: AutoReloadSettings;
  readonly hasPaymentMethod: boolean;
  readonly balance: Micros;
  readonly ledgerSeq: number;
  /** Succeeded and pending recharge amounts of the cycle with this key, for a cold start. */
  readonly cycleKey: string;
  readonly cycleTotal: Micros;
}

export interface BalanceAfter {
  readonly balance: Micros;
  readonly ledgerSeq: number;
}

/** One attempt to charge the saved card, identified by durable workflow state. */
export interface ChargeRequest {
  readonly merchantId: string;
  readonly rechargeId: string;
  readonly cycleKey: string;
  readonly attempt: number;
  readonly amount: Micros;
  /** `auto-reload:<merchantId>:<cycleKey>:<attempt>` (SPEC 3.6). */
  readonly idempotencyKey: string;
  /**
   * When this key was first used (ISO 8601). Stripe may forget a key after 24 hours and
   * charge again under it, so the activity never sends a key older than 23 hours.
   * Absent in requests from histories before the check.
   */
  readonly keyMintedAt?: string;
  /** Soft declines in a row before this attempt, for the retry schedule (domain/dunning). */
  readonly softDeclinesInARow?: number;
}

/** Finds what became of a recharge whose charge ended with no clear answer. */
export interface ChargeLookupRequest {
  readonly merchantId: string;
  readonly rechargeId: string;
  readonly softDeclinesInARow: number;
}

/**
 * No PaymentIntent carries this recharge: nothing was charged, and a fresh key may be
 * minted. `retryInMs` is the wait the retry schedule gives if no fresh key is left.
 */
export interface ChargeNotFound {
  readonly paymentIntentId: null;
  readonly retryInMs: number | null;
}

export interface ChargeSucceeded {
  readonly paymentIntentId: string;
}

/**
 * Failure types the charge activity throws as non-retryable ApplicationFailures.
 * Transient errors are thrown as ordinary errors so that Temporal retries them.
 */
export const CHARGE_FAILURE_TYPES = {
  softDecline: 'SoftDeclineFailure',
  hardDecline: 'HardDeclineFailure',
  authenticationRequired: 'AuthenticationRequiredFailure',
  configuration: 'StripeConfigurationFailure',
} as const;

/**
 * Thrown instead of charging with a key older than 23 hours (after a lookup found no
 * PaymentIntent for the recharge): the workflow mints a fresh key and charges again.
 */
export const KEY_EXPIRED_FAILURE_TYPE = 'IdempotencyKeyExpiredFailure';
export type ChargeFailureType = (typeof CHARGE_FAILURE_TYPES)[keyof typeof CHARGE_FAILURE_TYPES];

/** Carried in the ApplicationFailure's details[0] so the workflow can record it. */
export interface ChargeFailureDetails {
  readonly code: string | null;
  readonly declineCode: string | null;
  readonly paymentIntentId: string | null;
  readonly message: string;
  /**
   * Soft declines only: the wait before the next attempt by the worker's retry schedule,
   * or null when the schedule is spent. Absent in failures recorded before the schedule
   * was configurable (the workflow then uses the default schedule).
   */
  readonly retryInMs?: number | null;
}

/** For the runaway guard: the ledger since the first recharge credit of the last 24 hours. */
export interface FundingRequest {
  readonly merchantId: string;
  /** The ledger sequence number of that first credit. */
  readonly afterSeq: number;
}

/** The balance and the usage debited after `afterSeq`, read from one snapshot. */
export interface FundingMeasure extends BalanceAfter {
  readonly usedAfterSeq: Micros;
}

export interface CreditRequest {
  readonly merchantId: string;
  readonly rechargeId: string;
  readonly paymentIntentId: string;
  readonly amount: Micros;
}

/**
 * What ends a payment problem (payment_failed, retry_scheduled, action_required): a card
 * saved, or the problem's charge succeeding after all (the merchant authenticated it).
 */
export type ResumeReason = 'payment_method_saved' | 'late_payment_succeeded';

/** A decision of SPEC 3.4, as the merchant reads it in the decision log. */
export type DecisionRecord =
  | { readonly outcome: 'charged'; readonly rechargeId: string; readonly amount: Micros }
  | { readonly outcome: 'skipped'; readonly reason: SkipReason }
  /** A payment problem ended; the status after it says what follows. */
  | {
      readonly outcome: 'resumed';
      readonly reason: ResumeReason;
      /** The recharge whose failure had stopped charging. */
      readonly rechargeId: string | null;
    }
  | {
      readonly outcome: 'failed';
      readonly rechargeId: string;
      readonly amount: Micros;
      /** 'unknown': retries ran out on transient errors, so the charge's outcome is unknown. */
      readonly failureType: ChargeFailureType | 'unknown';
      readonly code: string | null;
      readonly declineCode: string | null;
    };

export interface DecisionInput {
  readonly merchantId: string;
  readonly decision: DecisionRecord;
  readonly balance: Micros;
  readonly threshold: Micros;
  readonly cycleKey: string;
  readonly cycleTotal: Micros;
  readonly maxPerCycle: Micros;
  readonly statusAfter: AutoReloadStatus;
  /** Deterministic id from the workflow so that a retried activity records once. */
  readonly decisionId: string;
}

export interface SaveSettingsRequest {
  readonly merchantId: string;
  readonly settings: AutoReloadSettings;
}

/**
 * A recharge whose PaymentIntent succeeded after the charge activity gave up on it (the
 * merchant authenticated later, or the answer was lost). Keyed by the PaymentIntent id.
 */
export interface LateRechargeRequest {
  readonly merchantId: string;
  readonly rechargeId: string;
  readonly paymentIntentId: string;
  /** The PaymentIntent's amount: it must match the recharge, or nothing is credited. */
  readonly amount: Micros;
}

/** Why a late success was not credited: it does not match a recharge of this merchant. */
export type LateRechargeRefusal =
  'unknown_recharge' | 'payment_intent_mismatch' | 'amount_mismatch';

/**
 * `credited` is the first credit of this PaymentIntent; `already_credited` a repeat, which
 * changed nothing. Both carry the recharge's amount and cycle, and the balance after the
 * (first) credit.
 */
export type LateRechargeSettlement =
  | {
      readonly outcome: 'credited' | 'already_credited';
      readonly amount: Micros;
      readonly cycleKey: string;
      readonly balanceAfter: BalanceAfter;
    }
  | { readonly outcome: 'refused'; readonly reason: LateRechargeRefusal };

/** Events a merchant's webhook endpoint receives (SPEC 3.8). */
export const NOTIFICATION_TYPES = [
  'auto_reload.succeeded',
  'auto_reload.failed',
  'auto_reload.action_required',
  'auto_reload.cap_warning',
  'auto_reload.cap_reached',
  'auto_reload.paused',
  'auto_reload.settings_changed',
  'balance.low',
] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

/**
 * One notification to deliver. Every field comes from the workflow, so a retried activity
 * sends the very same event: `notificationId` is what the merchant deduplicates on.
 */
export interface NotificationRequest {
  readonly notificationId: string;
  readonly merchantId: string;
  readonly type: NotificationType;
  /** The event's own fields; money as decimal strings in major units. */
  readonly data: Readonly<Record<string, unknown>>;
  /** ISO 8601 UTC, workflow time. */
  readonly createdAt: string;
}

/** Delivered (now or by an earlier attempt), or dropped because there is nowhere to send. */
/** `refused_url`: the endpoint points inside our network and was not called. */
export type NotificationOutcome =
  | { readonly delivered: true }
  | { readonly delivered: false; readonly reason: 'no_endpoint' | 'refused_url' };

export interface AutoReloadActivities {
  loadMerchant(merchantId: string): Promise<MerchantSnapshot>;
  /** Persists accepted settings and answers the balance read after the write. */
  saveSettings(request: SaveSettingsRequest): Promise<BalanceAfter>;
  /** Records the status for readers of Postgres (API, reconciler). */
  saveStatus(request: { merchantId: string; status: AutoReloadStatus }): Promise<void>;
  chargeCard(request: ChargeRequest): Promise<ChargeSucceeded>;
  /**
   * Looks the recharge's PaymentIntent up (by saved id, else by customer and metadata) and
   * settles it like chargeCard would; answers ChargeNotFound when there is none.
   */
  lookUpCharge(request: ChargeLookupRequest): Promise<ChargeSucceeded | ChargeNotFound>;
  creditRecharge(request: CreditRequest): Promise<BalanceAfter>;
  /** Reads what the runaway guard weighs recharges against (domain/runaway.ts). */
  measureFunding(request: FundingRequest): Promise<FundingMeasure>;
  recordDecision(input: DecisionInput): Promise<void>;
  /** Credits a late PaymentIntent success once and marks its recharge succeeded. */
  settleLateRecharge(request: LateRechargeRequest): Promise<LateRechargeSettlement>;
  /**
   * Stores the notification and POSTs it, signed, to the merchant's endpoint. Throws an
   * ordinary (retryable) error when the endpoint does not answer 2xx.
   */
  notifyMerchant(request: NotificationRequest): Promise<NotificationOutcome>;
}
