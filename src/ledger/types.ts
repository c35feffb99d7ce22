/** The shapes the ledger takes and answers. All money is in micros. */
import type { Micros } from '../domain/money';

/** What a usage event paid for (SPEC 5, `POST /usage`); stored as the entry's description. */
export const USAGE_KINDS = [
  'abandoned_cart',
  'order_confirmation',
  'campaign',
  'chat',
  'other',
] as const;
export type UsageKind = (typeof USAGE_KINDS)[number];

/** One message's cost, keyed by the pipeline's own event id. */
export interface UsageEvent {
  readonly merchantId: string;
  readonly eventId: string;
  readonly amount: Micros;
  readonly kind: UsageKind;
}

/** Balance and sequence after a ledger entry: what a `balanceChanged` signal carries. */
export interface BalanceState {
  readonly balance: Micros;
  readonly ledgerSeq: number;
}

/** The merchant's Auto Reload trigger, read in the same statement as the debit. */
export interface ThresholdState {
  /** False when the merchant has no settings row. */
  readonly enabled: boolean;
  /** Null when the merchant has no settings row. */
  readonly threshold: Micros | null;
  /** enabled && balance < threshold: the caller owes the workflow a signal (SPEC 3.4). */
  readonly belowThreshold: boolean;
}

/**
 * The answer to one debit. `duplicate` carries the first debit's balance and sequence, so a
 * retried event answers what it answered the first time. `insufficient_funds` changed
 * nothing and carries the balance the statement saw.
 */
export type DebitResult =
  | ({ readonly status: 'debited' } & BalanceState & ThresholdState)
  | ({ readonly status: 'duplicate' } & BalanceState & ThresholdState)
  | ({ readonly status: 'insufficient_funds' } & BalanceState & ThresholdState)
  | { readonly status: 'merchant_not_found' };

export type DebitStatus = DebitResult['status'];

/** The balance, and the usage debited after a given sequence number, at one snapshot. */
export interface FundingState extends BalanceState {
  readonly usedAfterSeq: Micros;
}

export interface RechargeCredit {
  readonly merchantId: string;
  readonly rechargeId: string;
  /** Keys the credit: the same PaymentIntent is credited once (SPEC 3.4). */
  readonly paymentIntentId: string;
  readonly amount: Micros;
}

export interface ManualCredit {
  readonly merchantId: string;
  /** The operator's id for this credit; the same id is credited once. */
  readonly creditId: string;
  readonly amount: Micros;
  readonly reason: string;
}

/** `credited` is false when the credit already existed; the state is then the original's. */
export interface CreditResult extends BalanceState {
  readonly credited: boolean;
}

/** A ledger entry as the merchant reads it. Debits have a negative amount. */
export interface LedgerEntry {
  readonly seq: number;
  readonly kind: string;
  readonly amount: Micros;
  readonly balanceAfter: Micros;
  readonly externalId: string;
  readonly description: string | null;
  readonly rechargeId: string | null;
  readonly createdAt: Date;
}

export interface LedgerPage {
  readonly data: readonly LedgerEntry[];
  /** Pass back as `cursor` for the next (older) page; null on the last page. */
  readonly nextCursor: string | null;
}

export interface LedgerPageRequest {
  readonly limit?: number;
  readonly cursor?: string | null;
}

/** What `checkInvariants` found; `violations` is empty when the ledger is sound. */
export interface InvariantReport {
  readonly balance: Micros;
  readonly ledgerSeq: number;
  readonly ledgerSum: Micros;
  readonly entries: number;
  readonly violations: readonly string[];
}
