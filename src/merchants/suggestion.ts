/** SPEC 3.7 over the merchant's recharge history in Postgres. */
import { billingCycleAt, cycleStartMs } from '../domain/billing-cycle';
import type { Micros } from '../domain/money';
import { suggestMaxPerCycle } from '../domain/suggestion';
import type { Database } from '../db/client';
import { cycleTotals, hasRechargeHistory, readMerchant } from './reads';

/** How many cycles, the current one included, the suggestion looks back on. */
const CYCLES_CONSIDERED = 3;

/** Keys of the current cycle and the ones before it, newest first. */
function recentCycleKeys(anchor: Date, nowMs: number): string[] {
  const current = billingCycleAt(anchor.toISOString(), nowMs);
  return Array.from({ length: CYCLES_CONSIDERED }, (_, back) =>
    new Date(cycleStartMs(anchor, current.index - back)).toISOString().slice(0, 10),
  );
}

/** The suggested maxPerCycle for `amount`; throws UnknownMerchantError. */
export async function suggestionFor(
  db: Database,
  merchantId: string,
  amount: Micros,
  nowMs: number = Date.now(),
): Promise<Micros> {
  const merchant = await readMerchant(db, merchantId);
  if (!(await hasRechargeHistory(db, merchantId))) return suggestMaxPerCycle(amount, null);
  const keys = recentCycleKeys(merchant.billingCycleAnchor, nowMs);
  const totals = await cycleTotals(db, merchantId, keys);
  return suggestMaxPerCycle(
    amount,
    keys.map((key) => totals.get(key)?.total ?? (0 as Micros)),
  );
}
