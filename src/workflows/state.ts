/**
 * The merchant workflow's durable state. Plain JSON only (no Map, Date or class instances)
 * because it travels through continue-as-new as a workflow argument and must arrive intact.
 */
import type { MerchantSnapshot, DecisionRecord, ResumeReason } from '../activities/contract';
import type { AutoReloadSettings, AutoReloadStatus } from '../domain/auto-reload';
import { billingCycleAt } from '../domain/billing-cycle';
import type { Currency } from '../domain/currency';
import { type Micros, ZERO } from '../domain/money';
import {
  MAX_RECHARGES_PER_DAY,
  type PaymentProblem,
  RECHARGE_WINDOW_MS,
} from '../domain/recharge-rule';

/** The billing cycle in progress and what Auto Reload added in it. */
export interface CycleState {
  readonly key: string;
  /** ISO 8601 UTC, inclusive. */
  readonly start: string;
  /** ISO 8601 UTC, exclusive; the durable timer that rolls the cycle fires here. */
  readonly end: string;
  /** Succeeded plus in flight in this cycle: what the cap is checked against. */
  total: Micros;
  /** The part of `total` that is still being charged. */
  inFlight: Micros;
}

/** A charge that has been decided and not yet settled. */
export interface InFlightRecharge {
  readonly rechargeId: string;
  readonly amount: Micros;
  readonly attempt: number;
  /** The cycle it counts in, even if the cycle rolls before it settles. */
  readonly cycleKey: string;
  readonly idempotencyKey: string;
  readonly startedAt: string;
  /**
   * When `idempotencyKey` was minted, if later than `startedAt` (a fresh key after a lookup
   * found nothing); absent when the recharge still uses its first key.
   */
  readonly keyMintedAt?: string;
  /**
   * `paymentMethodsSaved` when the charge started: a card saved after it makes a decline
   * of this charge one of the old card. Absent in recharges started before it was kept.
   */
  readonly paymentMethodsSavedBefore?: number;
}

/** Same words as the recharges table: `pending` is never stored here (see `inFlight`). */
export type SettledRechargeStatus = 'succeeded' | 'failed' | 'action_required';

/** The most recent recharge that settled, as the merchant reads it. */
export interface RechargeSummary {
  readonly id: string;
  readonly amount: Micros;
  readonly status: SettledRechargeStatus;
  readonly paymentIntentId: string | null;
  readonly at: string;
}

/** A recharge credit the runaway guard counts (funding-check.ts). */
export interface CreditRecord {
  readonly at: string;
  readonly amount: Micros;
  /** The credit's own ledger sequence number. */
  readonly ledgerSeq: number;
}

/** The ledger as the runaway guard last read it, at one snapshot. */
export interface FundingSnapshot {
  /** Usage is counted after this sequence number: the first credit of the window. */
  readonly afterSeq: number;
  readonly ledgerSeq: number;
  readonly balance: Micros;
  readonly used: Micros;
  readonly at: string;
}

/** Why the runaway guard holds charging back, with the figures it found. */
export interface RunawayPause {
  readonly since: string;
  /** Recharges credited after the first of the last 24 hours. */
  readonly added: Micros;
  /** Where the ledger shows money: the balance and the usage since that first credit. */
  readonly balance: Micros;
  readonly used: Micros;
  /** When that first credit leaves the window and the figures are weighed afresh. */
  readonly recheckAt: string;
}

/** The last decision recorded in the decision log, with where and when it was made. */
export type DecisionSummary = DecisionRecord & {
  readonly decisionId: string;
  readonly cycleKey: string;
  readonly at: string;
};

export interface MerchantState {
  readonly merchantId: string;
  readonly currency: Currency;
  readonly billingCycleAnchor: string;
  settings: AutoReloadSettings;
  hasPaymentMethod: boolean;
  balance: Micros;
  ledgerSeq: number;
  cycle: CycleState;
  inFlight: InFlightRecharge | null;
  lastRecharge: RechargeSummary | null;
  lastDecision: DecisionSummary | null;
  /** Durable attempt counter: part of every idempotency key, so it never goes back. */
  attemptsMade: number;
  /**
   * When each recharge of the last 24 hours started (ISO 8601), for the runaway guard.
   * Absent in state carried over from runs without the guard.
   */
  recentRechargeStarts?: string[];
  /**
   * Recharges credited in the last 24 hours, oldest first, for the runaway guard's check of
   * money added against usage. Absent in state carried over from runs without the check.
   */
  recentCredits?: CreditRecord[];
  fundingSnapshot?: FundingSnapshot | null;
  /** Set while the runaway guard holds charging back for money added beyond usage. */
  runawayPause?: RunawayPause | null;
  /**
   * Soft declines in a row and the scheduled retry, if any (see dunning.ts). Absent when
   * there are none, and in state carried over from runs without dunning.
   */
  dunning?: { softDeclines: number; retryAt: string | null };
  /**
   * A payment problem that just ended, for the decision log: written by the next
   * evaluation, then removed. Absent otherwise.
   */
  resumed?: { reason: ResumeReason; rechargeId: string | null };
  /** Cards saved so far (see InFlightRecharge.paymentMethodsSavedBefore); absent before any. */
  paymentMethodsSaved?: number;
  /** Blocks charging until the merchant saves a card (or authenticates). */
  paymentProblem: PaymentProblem | null;
  /** Set when the cap refused a charge; `cap_reached` lasts while this is the cycle key. */
  capReachedCycleKey: string | null;
  /** Last status written to search attributes and Postgres, to publish changes only. */
  publishedStatus: AutoReloadStatus | null;
  /**
   * Last status written to Postgres. It skips the transient `recharging` (a pending row in
   * `recharges` says the same), which saves two activities per recharge. Absent in state
   * carried over from runs that wrote every status.
   */
  persistedStatus?: AutoReloadStatus | null;
  /**
   * Cap warning levels (percent of maxPerCycle) already sent in the cycle `cycleKey`, so
   * each is sent once per cycle. Absent in state carried over from runs before notifications.
   */
  capWarnings?: CapWarningsSent;
  /**
   * True once `balance.low` was sent for the balance's current stay below the threshold;
   * false (or absent, in state from runs before notifications) while it is at or above it.
   */
  balanceLow?: boolean;
}

/** The cap warning levels sent in one cycle; see MerchantState.capWarnings. */
export interface CapWarningsSent {
  readonly cycleKey: string;
  readonly levels: number[];
}

/** What `getState` and the `updateSettings` Update answer. */
export interface AutoReloadStateView {
  readonly merchantId: string;
  readonly currency: Currency;
  readonly billingCycleAnchor: string;
  readonly settings: AutoReloadSettings;
  readonly status: AutoReloadStatus;
  readonly hasPaymentMethod: boolean;
  readonly balance: Micros;
  readonly ledgerSeq: number;
  readonly cycle: Readonly<CycleState>;
  readonly inFlight: InFlightRecharge | null;
  readonly lastRecharge: RechargeSummary | null;
  readonly lastDecision: DecisionSummary | null;
  readonly attemptsMade: number;
  /** Recharges started in the last 24 hours; at most MAX_RECHARGES_PER_DAY. */
  readonly rechargesInLastDay: number;
  /** While the runaway guard holds charging back: when the oldest of them leaves the window. */
  readonly rateLimitedUntil: string | null;
  /** While money added far exceeds what the ledger shows for it: the figures, and until when. */
  readonly runawayPause: RunawayPause | null;
}

/** Workflow time as ISO 8601; Date.now() in a workflow is the deterministic task time. */
export function nowIso(): string {
  return new Date(Date.now()).toISOString();
}

/** A fresh cycle with nothing added yet. */
export function emptyCycle(anchorIso: string, nowMs: number): CycleState {
  const { key, start, end } = billingCycleAt(anchorIso, nowMs);
  return { key, start, end, total: ZERO, inFlight: ZERO };
}

/** State of a merchant seen for the first time, from its Postgres snapshot. */
export function initialState(snapshot: MerchantSnapshot, nowMs: number): MerchantState {
  const cycle = emptyCycle(snapshot.billingCycleAnchor, nowMs);
  // The snapshot's total belongs to the cycle the activity computed; across a boundary
  // it is last cycle's and must not count against this one.
  if (snapshot.cycleKey === cycle.key) cycle.total = snapshot.cycleTotal;
  return {
    merchantId: snapshot.merchantId,
    currency: snapshot.currency,
    billingCycleAnchor: snapshot.billingCycleAnchor,
    settings: { ...snapshot.settings },
    hasPaymentMethod: snapshot.hasPaymentMethod,
    balance: snapshot.balance,
    ledgerSeq: snapshot.ledgerSeq,
    cycle,
    inFlight: null,
    lastRecharge: null,
    lastDecision: null,
    attemptsMade: 0,
    paymentProblem: null,
    capReachedCycleKey: null,
    publishedStatus: null,
    persistedStatus: null,
  };
}

/**
 * The status follows from the state, in order of what the merchant must know first:
 * switched off, charging now, blocked by a payment problem, capped for this cycle.
 */
export function deriveStatus(state: MerchantState): AutoReloadStatus {
  if (!state.settings.enabled) return 'disabled';
  if (state.inFlight !== null) return 'recharging';
  if (state.paymentProblem !== null) return state.paymentProblem;
  if (state.capReachedCycleKey === state.cycle.key) return 'cap_reached';
  return 'active';
}

/** Starts of recharges within the last 24 hours before `nowMs`, oldest first. */
export function recentStarts(state: MerchantState, nowMs: number): string[] {
  return (state.recentRechargeStarts ?? []).filter(
    (start) => Date.parse(start) > nowMs - RECHARGE_WINDOW_MS,
  );
}

/** When the guard lets charging resume, or null when it does not hold it back now. */
export function rateLimitedUntil(state: MerchantState, nowMs: number): string | null {
  const starts = recentStarts(state, nowMs);
  if (starts.length < MAX_RECHARGES_PER_DAY) return null;
  const oldest = starts[starts.length - MAX_RECHARGES_PER_DAY] ?? starts[0] ?? '';
  return new Date(Date.parse(oldest) + RECHARGE_WINDOW_MS).toISOString();
}

/** The runaway pause, or null when there is none or its window has passed. */
export function activePause(state: MerchantState, nowMs: number): RunawayPause | null {
  const pause = state.runawayPause ?? null;
  return pause !== null && Date.parse(pause.recheckAt) > nowMs ? pause : null;
}

/** A detached copy of the state for readers; internal bookkeeping is left out. */
export function stateView(state: MerchantState): AutoReloadStateView {
  return {
    merchantId: state.merchantId,
    currency: state.currency,
    billingCycleAnchor: state.billingCycleAnchor,
    settings: { ...state.settings },
    status: deriveStatus(state),
    hasPaymentMethod: state.hasPaymentMethod,
    balance: state.balance,
    ledgerSeq: state.ledgerSeq,
    cycle: { ...state.cycle },
    inFlight: state.inFlight && { ...state.inFlight },
    lastRecharge: state.lastRecharge && { ...state.lastRecharge },
    lastDecision: state.lastDecision && { ...state.lastDecision },
    attemptsMade: state.attemptsMade,
    rechargesInLastDay: recentStarts(state, Date.now()).length,
    rateLimitedUntil: rateLimitedUntil(state, Date.now()),
    runawayPause: activePause(state, Date.now()),
  };
}
