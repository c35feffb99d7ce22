/**
 * The merchant workflow's messages. Clients (API, pipeline, tests) import these
 * definitions so that names and argument types cannot drift from the handlers.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { BalanceAfter } from '../activities/contract';
import type { AutoReloadSettings } from '../domain/auto-reload';
import type { Micros } from '../domain/money';
import type { AutoReloadStateView, MerchantState } from './state';

/** First start carries only the merchant id; continue-as-new carries the state as well. */
export interface MerchantAutoReloadInput {
  readonly merchantId: string;
  readonly state?: MerchantState;
}

export interface PaymentMethodChange {
  readonly hasPaymentMethod: boolean;
}

/**
 * The ledger changed. A signal, not an Update: the debit path must never wait on the
 * workflow, and a stale or repeated one is harmless because `ledgerSeq` orders them.
 */
export const balanceChangedSignal = defineSignal<[BalanceAfter]>('balanceChanged');

/** A card was saved or removed; saving one clears `payment_failed` and `action_required`. */
export const paymentMethodChangedSignal =
  defineSignal<[PaymentMethodChange]>('paymentMethodChanged');

/** A Stripe webhook event about one of our PaymentIntents, verified and deduplicated. */
export interface PaymentIntentEvent {
  /** Stripe's event id (`evt_...`). */
  readonly eventId: string;
  readonly type: 'payment_intent.succeeded' | 'payment_intent.payment_failed';
  readonly paymentIntentId: string;
  /** From the PaymentIntent's `recharge_id` metadata. */
  readonly rechargeId: string;
  /** The PaymentIntent's amount, converted from the currency's minor unit. */
  readonly amount: Micros;
  /** `last_payment_error.code` and `.decline_code` of a failed PaymentIntent. */
  readonly code: string | null;
  readonly declineCode: string | null;
}

/**
 * Stripe told us how a PaymentIntent ended. It matters when the charge activity could not
 * (the merchant authenticated later, or the answer was lost): a late success is credited
 * once, keyed by the PaymentIntent id.
 */
export const paymentIntentEventSignal = defineSignal<[PaymentIntentEvent]>('paymentIntentEvent');

/**
 * Replaces the settings. An Update, not a signal, because the merchant waits for the
 * answer: invalid settings are refused by the validator before anything reaches history,
 * and accepted ones answer the state after the workflow has decided on them.
 */
export const updateSettingsUpdate = defineUpdate<AutoReloadStateView, [AutoReloadSettings]>(
  'updateSettings',
);

/** The merchant's Auto Reload state, as the API and operators read it. */
export const getStateQuery = defineQuery<AutoReloadStateView>('getState');

/** ApplicationFailure type of a refused `updateSettings`; details are SettingsViolations. */
export const INVALID_SETTINGS_FAILURE_TYPE = 'InvalidSettings';

/** ApplicationFailure type of `getState` sent in the moment before the merchant is loaded. */
export const MERCHANT_LOADING_FAILURE_TYPE = 'MerchantLoading';
