/**
 * The reconciler's activities as plain types. The
 * reconciler workflow imports this file as types only; `createReconcilerActivities`
 * implements it.
 */
import type { Micros } from '../domain/money';

/** A merchant below its threshold whose workflow may never have heard of it. */
export interface StrandedMerchant {
  readonly merchantId: string;
  readonly balance: Micros;
  readonly ledgerSeq: number;
}

/** One page of the search, in merchant id order. */
export interface StrandedPageRequest {
  /** Only merchants with a greater id; null for the first page. */
  readonly afterMerchantId: string | null;
  readonly limit: number;
  /** Only these merchants; null for every merchant. */
  readonly merchantIds: readonly string[] | null;
}

export interface StrandedPage {
  readonly merchants: readonly StrandedMerchant[];
  /** The last merchant id of a full page, to pass as `afterMerchantId`; null on the last. */
  readonly nextCursor: string | null;
}

/** How many `balanceChanged` signals went out; failures are logged by merchant id. */
export interface SignalOutcome {
  readonly signalled: number;
  readonly failed: number;
}

export interface ReconcilerActivities {
  findStrandedMerchants(request: StrandedPageRequest): Promise<StrandedPage>;
  /** Signals each merchant's workflow; a failed signal is counted, never thrown. */
  signalStranded(batch: readonly StrandedMerchant[]): Promise<SignalOutcome>;
}
