/**
 * Finds merchants whose balance is below their threshold with Auto Reload enabled and no
 * recharge in flight: the merchants a lost `balanceChanged` signal leaves waiting.
 */
import { and, asc, eq, gt, inArray, lt, notExists, notInArray, sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { autoReloadSettings, merchants, recharges } from '../db/schema';
import type { AutoReloadStatus } from '../domain/auto-reload';
import type { Micros } from '../domain/money';
import type { StrandedPage, StrandedPageRequest } from './contract';

/**
 * Statuses that wait for the merchant (a new card, an authentication) or for settings, not
 * for a signal. `cap_reached` is not among them: it may be stale after a cycle rolled over,
 * and the workflow decides.
 */
export const WAITING_FOR_MERCHANT: readonly AutoReloadStatus[] = [
  'payment_failed',
  'action_required',
  'disabled',
];

/** One page of stranded merchants, ordered by merchant id. */
export async function findStrandedMerchants(
  db: Database,
  request: StrandedPageRequest,
): Promise<StrandedPage> {
  const { afterMerchantId, limit, merchantIds } = request;
  const pending = db
    .select({ one: sql`1` })
    .from(recharges)
    .where(and(eq(recharges.merchantId, merchants.id), eq(recharges.status, 'pending')));
  const rows = await db
    .select({
      merchantId: merchants.id,
      balance: merchants.balance,
      ledgerSeq: merchants.ledgerSeq,
    })
    .from(merchants)
    .innerJoin(autoReloadSettings, eq(autoReloadSettings.merchantId, merchants.id))
    .where(
      and(
        eq(autoReloadSettings.enabled, true),
        lt(merchants.balance, autoReloadSettings.threshold),
        notInArray(autoReloadSettings.status, [...WAITING_FOR_MERCHANT]),
        notExists(pending),
        afterMerchantId === null ? undefined : gt(merchants.id, afterMerchantId),
        merchantIds === null ? undefined : inArray(merchants.id, [...merchantIds]),
      ),
    )
    .orderBy(asc(merchants.id))
    .limit(limit);

  const last = rows.at(-1);
  return {
    merchants: rows.map((row) => ({ ...row, balance: row.balance as Micros })),
    nextCursor: rows.length === limit && last ? last.merchantId : null,
  };
}
