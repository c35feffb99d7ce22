/**
 * Credits a recharge whose PaymentIntent succeeded after the charge activity had given up
 * on it (SPEC 3.6: "a late success is credited once"). The Stripe event names the
 * recharge; the recharges row decides whether the event is believed.
 */
import { and, eq } from 'drizzle-orm';
import type { Database } from '../db/client';
import { recharges } from '../db/schema';
import type { Micros } from '../domain/money';
import type {
  BalanceAfter,
  CreditRequest,
  LateRechargeRefusal,
  LateRechargeRequest,
  LateRechargeSettlement,
} from './contract';

export interface LateRechargeDeps {
  readonly db: Database;
  readonly ledger: {
    creditRecharge(request: CreditRequest): Promise<BalanceAfter & { readonly credited: boolean }>;
  };
}

interface RechargeRow {
  readonly amount: number;
  readonly cycleKey: string;
  readonly paymentIntentId: string | null;
}

async function findRecharge(
  db: Database,
  request: LateRechargeRequest,
): Promise<RechargeRow | undefined> {
  const [row] = await db
    .select({
      amount: recharges.amount,
      cycleKey: recharges.cycleKey,
      paymentIntentId: recharges.paymentIntentId,
    })
    .from(recharges)
    .where(and(eq(recharges.id, request.rechargeId), eq(recharges.merchantId, request.merchantId)));
  return row;
}

/**
 * Refuses what does not match our own record: metadata can be edited at Stripe, and a
 * recharge has exactly one PaymentIntent (its idempotency key makes sure of that).
 */
function mismatch(row: RechargeRow, request: LateRechargeRequest): LateRechargeRefusal | null {
  if (row.paymentIntentId !== null && row.paymentIntentId !== request.paymentIntentId) {
    return 'payment_intent_mismatch';
  }
  return row.amount === request.amount ? null : 'amount_mismatch';
}

/**
 * Credits the recharge's amount once, keyed by the PaymentIntent id; the ledger marks the
 * recharges row succeeded in the same statement. A repeat answers `already_credited` with
 * the first credit's balance, so retries and repeated Stripe events change nothing.
 */
export async function settleLateRecharge(
  deps: LateRechargeDeps,
  request: LateRechargeRequest,
): Promise<LateRechargeSettlement> {
  const row = await findRecharge(deps.db, request);
  if (row === undefined) return { outcome: 'refused', reason: 'unknown_recharge' };
  const reason = mismatch(row, request);
  if (reason !== null) return { outcome: 'refused', reason };

  const amount = row.amount as Micros;
  const { credited, balance, ledgerSeq } = await deps.ledger.creditRecharge({
    merchantId: request.merchantId,
    rechargeId: request.rechargeId,
    paymentIntentId: request.paymentIntentId,
    amount,
  });
  return {
    outcome: credited ? 'credited' : 'already_credited',
    amount,
    cycleKey: row.cycleKey,
    balanceAfter: { balance, ledgerSeq },
  };
}
