/**
 * The `data` of each notification a merchant receives (SPEC 3.8), built from workflow
 * state. Pure and sandbox-safe. Money is a decimal string in the merchant's currency
 * ("20.00", "0.0075", "3000" for yen), as everywhere in our JSON (SPEC 3.1).
 */
import { CHARGE_FAILURE_TYPES, type NotificationType } from '../activities/contract';
import type { AutoReloadSettings, AutoReloadStatus, RechargeMode } from '../domain/auto-reload';
import { type Currency, formatInCurrency } from '../domain/currency';
import type { Micros } from '../domain/money';
import { rechargeAmount } from '../domain/recharge-rule';
import type { ChargeFailure } from './charge-failure';
import type { MerchantState } from './state';

/** A decimal string in major units of the merchant's currency. */
export type MoneyString = string;

/** Fields every event's data starts with. */
type Common = { readonly merchantId: string; readonly currency: Currency };

/**
 * Why a charge failed, in the failure classes of SPEC 3.6. `unknown`: Stripe did not answer
 * under any key and holds no PaymentIntent for the recharge, so nothing was charged (code
 * `stripe_unavailable`; a new attempt follows on the retry schedule). Runs recorded before
 * the lookup sent it when the card may have been charged. `authentication_required` is
 * never sent here: it is `auto_reload.action_required`.
 */
export type NotifiedFailureType =
  'soft_decline' | 'hard_decline' | 'authentication_required' | 'configuration' | 'unknown';

/** A recharge was credited: by its charge, or later through a Stripe event. */
export type RechargeSucceededData = Common & {
  readonly rechargeId: string;
  readonly paymentIntentId: string;
  readonly amount: MoneyString;
  /** The balance right after the credit. */
  readonly balance: MoneyString;
  readonly cycleKey: string;
  /** Added by Auto Reload in the current cycle: succeeded plus in flight. */
  readonly cycleTotal: MoneyString;
  readonly maxPerCycle: MoneyString;
};

/** A charge failed for any reason but authentication; `status` is Auto Reload's after it. */
export type RechargeFailedData = Common & {
  readonly rechargeId: string;
  readonly paymentIntentId: string | null;
  readonly amount: MoneyString;
  readonly failureType: NotifiedFailureType;
  readonly code: string | null;
  readonly declineCode: string | null;
  readonly status: AutoReloadStatus;
  /** With `retry_scheduled`: when the next attempt is made (ISO 8601); else null. */
  readonly retryAt: string | null;
};

/**
 * The runaway guard paused Auto Reload: in the last 24 hours, recharges added far more than
 * the ledger shows for them (see domain/runaway.ts). It lifts by itself at `recheckAt`, or
 * sooner once the missing money is credited.
 */
export type RunawayPausedData = Common & {
  readonly reason: 'runaway';
  /** Recharges credited after the first of the last 24 hours. */
  readonly added: MoneyString;
  /** The balance, and the usage debited since that first recharge. */
  readonly balance: MoneyString;
  readonly used: MoneyString;
  readonly since: string;
  readonly recheckAt: string;
};

/** The bank asks the merchant to authenticate this PaymentIntent on-session. */
export type ActionRequiredData = Common & {
  readonly rechargeId: string;
  readonly paymentIntentId: string | null;
  readonly amount: MoneyString;
};

/** The cycle total reached `level` percent of maxPerCycle (80, 90, 100). */
export type CapWarningData = Common & {
  readonly level: number;
  readonly cycleKey: string;
  readonly cycleStart: string;
  readonly cycleEnd: string;
  readonly cycleTotal: MoneyString;
  readonly maxPerCycle: MoneyString;
};

/** A due recharge of `amount` was refused whole: it would pass maxPerCycle. */
export type CapReachedData = Common & {
  readonly amount: MoneyString;
  readonly cycleKey: string;
  readonly cycleTotal: MoneyString;
  readonly maxPerCycle: MoneyString;
  /** When charging resumes unless maxPerCycle is raised first: the cycle's end. */
  readonly resumesAt: string;
};

/** The settings an Update just applied. */
export type SettingsChangedData = Common & {
  readonly settings: {
    readonly enabled: boolean;
    readonly mode: RechargeMode;
    readonly threshold: MoneyString;
    readonly amount: MoneyString;
    readonly maxPerCycle: MoneyString;
  };
};

/** The balance went from at or above the threshold to below it. */
export type BalanceLowData = Common & {
  readonly balance: MoneyString;
  readonly threshold: MoneyString;
  readonly autoReloadEnabled: boolean;
};

/** The data each notification type carries; every type must have one (see `extends`). */
export interface NotificationDataByType extends Record<
  NotificationType,
  Readonly<Record<string, unknown>>
> {
  'auto_reload.succeeded': RechargeSucceededData;
  'auto_reload.failed': RechargeFailedData;
  'auto_reload.action_required': ActionRequiredData;
  'auto_reload.cap_warning': CapWarningData;
  'auto_reload.cap_reached': CapReachedData;
  'auto_reload.settings_changed': SettingsChangedData;
  'balance.low': BalanceLowData;
}

/** Merchants read failure classes, not our ApplicationFailure type names. */
const FAILURE_TYPES: Record<ChargeFailure['type'], NotifiedFailureType> = {
  [CHARGE_FAILURE_TYPES.softDecline]: 'soft_decline',
  [CHARGE_FAILURE_TYPES.hardDecline]: 'hard_decline',
  [CHARGE_FAILURE_TYPES.authenticationRequired]: 'authentication_required',
  [CHARGE_FAILURE_TYPES.configuration]: 'configuration',
  unknown: 'unknown',
};

function common(state: MerchantState): Common {
  return { merchantId: state.merchantId, currency: state.currency };
}

function formatterOf(state: MerchantState): (value: Micros) => MoneyString {
  return (value) => formatInCurrency(value, state.currency);
}

/** What a recharge notification says about the recharge itself. */
export interface RechargeFacts {
  readonly rechargeId: string;
  readonly amount: Micros;
}

/** `auto_reload.succeeded`; call after the credit is applied to the cycle and balance. */
export function rechargeSucceededData(
  state: MerchantState,
  recharge: RechargeFacts,
  paymentIntentId: string,
  balance: Micros,
): RechargeSucceededData {
  const money = formatterOf(state);
  return {
    ...common(state),
    rechargeId: recharge.rechargeId,
    paymentIntentId,
    amount: money(recharge.amount),
    balance: money(balance),
    cycleKey: state.cycle.key,
    cycleTotal: money(state.cycle.total),
    maxPerCycle: money(state.settings.maxPerCycle),
  };
}

/** `auto_reload.failed`; `status` is Auto Reload's status after the failure. */
export function rechargeFailedData(
  state: MerchantState,
  recharge: RechargeFacts,
  failure: ChargeFailure,
  status: AutoReloadStatus,
): RechargeFailedData {
  const money = formatterOf(state);
  return {
    ...common(state),
    rechargeId: recharge.rechargeId,
    paymentIntentId: failure.paymentIntentId,
    amount: money(recharge.amount),
    failureType: FAILURE_TYPES[failure.type],
    code: failure.code,
    declineCode: failure.declineCode,
    status,
    retryAt: status === 'retry_scheduled' ? (state.dunning?.retryAt ?? null) : null,
  };
}

/** `auto_reload.action_required`: the PaymentIntent the merchant must authenticate. */
export function actionRequiredData(
  state: MerchantState,
  recharge: RechargeFacts,
  paymentIntentId: string | null,
): ActionRequiredData {
  const money = formatterOf(state);
  const { rechargeId } = recharge;
  return { ...common(state), rechargeId, paymentIntentId, amount: money(recharge.amount) };
}

/** `auto_reload.paused`, with the figures that made the runaway guard pause. */
export function runawayPausedData(state: MerchantState): RunawayPausedData | null {
  const pause = state.runawayPause;
  if (!pause) return null;
  const money = formatterOf(state);
  return {
    ...common(state),
    reason: 'runaway',
    added: money(pause.added),
    balance: money(pause.balance),
    used: money(pause.used),
    since: pause.since,
    recheckAt: pause.recheckAt,
  };
}

/** `auto_reload.cap_warning` for one level of the current cycle. */
export function capWarningData(state: MerchantState, level: number): CapWarningData {
  const money = formatterOf(state);
  const { key, start, end, total } = state.cycle;
  return {
    ...common(state),
    level,
    cycleKey: key,
    cycleStart: start,
    cycleEnd: end,
    cycleTotal: money(total),
    maxPerCycle: money(state.settings.maxPerCycle),
  };
}

/** `auto_reload.cap_reached`, with the charge the cap refused. */
export function capReachedData(state: MerchantState): CapReachedData {
  const money = formatterOf(state);
  const amount = rechargeAmount(state.settings, state.balance, state.currency);
  return {
    ...common(state),
    amount: money(amount),
    cycleKey: state.cycle.key,
    cycleTotal: money(state.cycle.total),
    maxPerCycle: money(state.settings.maxPerCycle),
    resumesAt: state.cycle.end,
  };
}

/** `auto_reload.settings_changed`, with the settings just applied. */
export function settingsChangedData(
  state: MerchantState,
  settings: AutoReloadSettings,
): SettingsChangedData {
  const money = formatterOf(state);
  const { enabled, mode, threshold, amount, maxPerCycle } = settings;
  return {
    ...common(state),
    settings: {
      enabled,
      mode,
      threshold: money(threshold),
      amount: money(amount),
      maxPerCycle: money(maxPerCycle),
    },
  };
}

/** `balance.low`, with the balance and threshold that make it low. */
export function balanceLowData(state: MerchantState): BalanceLowData {
  const money = formatterOf(state);
  return {
    ...common(state),
    balance: money(state.balance),
    threshold: money(state.settings.threshold),
    autoReloadEnabled: state.settings.enabled,
  };
}
