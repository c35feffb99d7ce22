/**
 * Domain values as the API shows them: money as decimal strings in the merchant's
 * currency, instants as ISO 8601. One place, so every route formats the same way.
 */
import { CHARGE_FAILURE_TYPES } from '../activities/contract';
import type { AutoReloadSettings, AutoReloadStatus } from '../domain/auto-reload';
import { type Currency, formatInCurrency } from '../domain/currency';
import { type Micros, micros } from '../domain/money';
import { rechargeAmount } from '../domain/recharge-rule';
import type { MerchantRecord } from '../merchants/service';
import type { DecisionRow, RechargeRow } from '../merchants/reads';
import type { LedgerEntry } from '../ledger/types';

export type Money = string;

export const money = (value: number, currency: Currency): Money =>
  formatInCurrency(value as Micros, currency);

export function presentMerchant(merchant: MerchantRecord, currency: Currency) {
  return {
    id: merchant.id,
    name: merchant.name,
    currency,
    billingCycleAnchor: merchant.billingCycleAnchor.toISOString(),
    balance: money(merchant.balance, currency),
    ledgerSeq: merchant.ledgerSeq,
    stripeCustomerId: merchant.stripeCustomerId,
    paymentMethod: merchant.paymentMethod,
    createdAt: merchant.createdAt.toISOString(),
  };
}

export function presentLedgerEntry(entry: LedgerEntry, currency: Currency) {
  return {
    seq: entry.seq,
    kind: entry.kind,
    amount: money(entry.amount, currency),
    balanceAfter: money(entry.balanceAfter, currency),
    id: entry.externalId,
    description: entry.description,
    rechargeId: entry.rechargeId,
    createdAt: entry.createdAt.toISOString(),
  };
}

export function presentRecharge(row: RechargeRow, currency: Currency) {
  const failed = row.failureCode !== null || row.failureMessage !== null;
  return {
    id: row.id,
    amount: money(row.amount, currency),
    status: row.status,
    createdAt: row.createdAt.toISOString(),
    paymentIntentId: row.paymentIntentId,
    failure: failed
      ? { code: row.failureCode, declineCode: row.declineCode, message: row.failureMessage }
      : null,
  };
}

/**
 * The decision log stores a failure's class under the workflow's failure type; merchants
 * read it in the same snake_case words as skip reasons.
 */
const FAILURE_REASONS: Record<string, string> = {
  [CHARGE_FAILURE_TYPES.softDecline]: 'soft_decline',
  [CHARGE_FAILURE_TYPES.hardDecline]: 'hard_decline',
  [CHARGE_FAILURE_TYPES.authenticationRequired]: 'authentication_required',
  [CHARGE_FAILURE_TYPES.configuration]: 'configuration_error',
  unknown: 'outcome_unknown',
};

function decisionReason(row: DecisionRow): string | null {
  if (row.outcome !== 'failed' || row.reason === null) return row.reason;
  return FAILURE_REASONS[row.reason] ?? row.reason;
}

export function presentDecision(row: DecisionRow, currency: Currency) {
  const optionalMoney = (value: number | null) => (value === null ? null : money(value, currency));
  return {
    id: row.id,
    outcome: row.outcome,
    reason: decisionReason(row),
    rechargeId: row.rechargeId,
    amount: optionalMoney(row.amount),
    balance: money(row.balance, currency),
    threshold: money(row.threshold, currency),
    cycleKey: row.cycleKey,
    cycleTotal: money(row.cycleTotal, currency),
    maxPerCycle: money(row.maxPerCycle, currency),
    status: row.statusAfter,
    failure:
      row.failureCode === null ? null : { code: row.failureCode, declineCode: row.declineCode },
    createdAt: row.createdAt.toISOString(),
  };
}

/** The parts of an Auto Reload answer, from the workflow's view or from Postgres. */
export interface AutoReloadFacts {
  readonly currency: Currency;
  readonly balance: Micros;
  readonly settings: AutoReloadSettings;
  readonly status: AutoReloadStatus;
  readonly cycle: { start: string; end: string; total: Micros; inFlight: Micros };
  /** The runaway guard holds charging back until `until`; null when it does not (or unknown). */
  readonly heldBack: {
    readonly reason: 'rate_limited' | 'runaway_paused';
    readonly until: string;
  } | null;
  readonly lastRecharge: {
    id: string;
    amount: Micros;
    status: string;
    paymentIntentId: string | null;
    at: string;
  } | null;
}

/**
 * `nextCharge` previews the rule of SPEC 3.4 at the current balance: what one recharge
 * would charge, whether the balance is low enough for one to be due, and whether the cap
 * leaves room for it in this cycle.
 */
function nextCharge(facts: AutoReloadFacts) {
  const { settings, balance, currency, cycle } = facts;
  // At or above a target there is nothing to top up: zero, not a negative charge.
  const amount = micros(Math.max(rechargeAmount(settings, balance, currency), 0));
  return {
    amount: money(amount, currency),
    due: settings.enabled && balance < settings.threshold,
    withinCap: cycle.total + amount <= settings.maxPerCycle,
  };
}

export function presentAutoReload(facts: AutoReloadFacts) {
  const { settings, currency, cycle, lastRecharge } = facts;
  const remaining = Math.max(settings.maxPerCycle - cycle.total, 0);
  return {
    enabled: settings.enabled,
    mode: settings.mode,
    threshold: money(settings.threshold, currency),
    amount: money(settings.amount, currency),
    maxPerCycle: money(settings.maxPerCycle, currency),
    status: facts.status,
    balance: money(facts.balance, currency),
    cycle: {
      start: cycle.start,
      end: cycle.end,
      total: money(cycle.total, currency),
      inFlight: money(cycle.inFlight, currency),
      remaining: money(micros(remaining), currency),
    },
    heldBack: facts.heldBack,
    lastRecharge: lastRecharge && {
      id: lastRecharge.id,
      amount: money(lastRecharge.amount, currency),
      status: lastRecharge.status,
      paymentIntentId: lastRecharge.paymentIntentId,
      at: lastRecharge.at,
    },
    nextCharge: nextCharge(facts),
  };
}
