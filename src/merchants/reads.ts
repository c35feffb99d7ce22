/**
 * What the merchant reads about itself, straight from Postgres: its record, its recharges,
 * its decision log and the figures of its billing cycles. No Temporal call: these answer
 * even while the worker is down.
 */
import { and, desc, eq, inArray, lt, or, sql } from 'drizzle-orm';
import { findMerchant, findSettings, UnknownMerchantError } from '../activities/merchant-store';
import type { AutoReloadSettings, AutoReloadStatus } from '../domain/auto-reload';
import { billingCycleAt, type BillingCycle } from '../domain/billing-cycle';
import type { Currency } from '../domain/currency';
import type { Micros } from '../domain/money';
import type { Database } from '../db/client';
import { autoReloadSettings, decisions, recharges } from '../db/schema';
import { InvalidLimitError } from '../ledger/errors';
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from '../ledger/read';
import { decodeRowCursor, encodeRowCursor } from './page-cursor';

export { UnknownMerchantError };

export type RechargeRow = typeof recharges.$inferSelect;
export type DecisionRow = typeof decisions.$inferSelect;

export interface Page<T> {
  readonly data: readonly T[];
  readonly nextCursor: string | null;
}

export interface PageRequest {
  readonly limit?: number;
  readonly cursor?: string;
}

/** The merchant as stored, with its currency checked; throws UnknownMerchantError. */
export const readMerchant = findMerchant;

/** Succeeded and pending amounts of one cycle: what the cap counts. */
export interface CycleFigures {
  readonly cycle: BillingCycle;
  readonly total: Micros;
  readonly inFlight: Micros;
}

/** Everything `GET /auto-reload` shows, as Postgres holds it. */
export interface AutoReloadRecord {
  readonly currency: Currency;
  readonly balance: Micros;
  readonly settings: AutoReloadSettings;
  readonly status: AutoReloadStatus;
  readonly hasPaymentMethod: boolean;
  readonly cycle: CycleFigures;
  readonly lastRecharge: RechargeRow | null;
}

function pageLimit(limit: number | undefined): number {
  const value = limit ?? DEFAULT_PAGE_LIMIT;
  if (!Number.isInteger(value) || value < 1 || value > MAX_PAGE_LIMIT) {
    throw new InvalidLimitError(limit, MAX_PAGE_LIMIT);
  }
  return value;
}

/** Newest first; one row more than asked tells whether another page follows. */
function toPage<T extends { createdAt: Date; id: string }>(rows: T[], limit: number): Page<T> {
  const data = rows.slice(0, limit);
  const last = data[data.length - 1];
  const more = rows.length > limit && last !== undefined;
  return { data, nextCursor: more ? encodeRowCursor(last) : null };
}

/** A merchant's rows of a table, newest first: what the lists below have in common. */
type MerchantHistoryTable = typeof recharges | typeof decisions;

/**
 * The filter and order of one page: the merchant's rows strictly older than the cursor's
 * position in (created_at, id) order, newest first.
 */
function pageQuery(table: MerchantHistoryTable, merchantId: string, request: PageRequest) {
  const ofMerchant = eq(table.merchantId, merchantId);
  const order = [desc(table.createdAt), desc(table.id)];
  if (request.cursor === undefined) return { where: ofMerchant, order };
  const { createdAt, id } = decodeRowCursor(request.cursor);
  const older = or(
    lt(table.createdAt, createdAt),
    and(eq(table.createdAt, createdAt), lt(table.id, id)),
  );
  return { where: and(ofMerchant, older), order };
}

export async function listRecharges(
  db: Database,
  merchantId: string,
  request: PageRequest = {},
): Promise<Page<RechargeRow>> {
  const limit = pageLimit(request.limit);
  const { where, order } = pageQuery(recharges, merchantId, request);
  const rows = await db
    .select()
    .from(recharges)
    .where(where)
    .orderBy(...order)
    .limit(limit + 1);
  return toPage(rows, limit);
}

export async function listDecisions(
  db: Database,
  merchantId: string,
  request: PageRequest = {},
): Promise<Page<DecisionRow>> {
  const limit = pageLimit(request.limit);
  const { where, order } = pageQuery(decisions, merchantId, request);
  const rows = await db
    .select()
    .from(decisions)
    .where(where)
    .orderBy(...order)
    .limit(limit + 1);
  return toPage(rows, limit);
}

/** The newest recharge waiting for the cardholder to authenticate, if there is one. */
export async function rechargeAwaitingAuthentication(
  db: Database,
  merchantId: string,
): Promise<RechargeRow | null> {
  const [row] = await db
    .select()
    .from(recharges)
    .where(and(eq(recharges.merchantId, merchantId), eq(recharges.status, 'action_required')))
    .orderBy(desc(recharges.createdAt), desc(recharges.id))
    .limit(1);
  return row ?? null;
}

/** Auto Reload's totals per cycle key, for the given keys (missing keys are zero). */
export async function cycleTotals(
  db: Database,
  merchantId: string,
  cycleKeys: readonly string[],
): Promise<Map<string, { total: Micros; inFlight: Micros }>> {
  const rows = await db
    .select({
      cycleKey: recharges.cycleKey,
      total: sql<string>`coalesce(sum(${recharges.amount}), 0)`,
      inFlight: sql<string>`coalesce(sum(${recharges.amount})
        filter (where ${recharges.status} = 'pending'), 0)`,
    })
    .from(recharges)
    .where(
      and(
        eq(recharges.merchantId, merchantId),
        inArray(recharges.cycleKey, [...cycleKeys]),
        inArray(recharges.status, ['pending', 'succeeded']),
      ),
    )
    .groupBy(recharges.cycleKey);
  const totals = new Map(cycleKeys.map((key) => [key, { total: 0, inFlight: 0 }]));
  for (const row of rows) {
    totals.set(row.cycleKey, { total: Number(row.total), inFlight: Number(row.inFlight) });
  }
  return totals as Map<string, { total: Micros; inFlight: Micros }>;
}

/** True once any recharge of this merchant has succeeded. */
export async function hasRechargeHistory(db: Database, merchantId: string): Promise<boolean> {
  const [row] = await db
    .select({ id: recharges.id })
    .from(recharges)
    .where(and(eq(recharges.merchantId, merchantId), eq(recharges.status, 'succeeded')))
    .limit(1);
  return row !== undefined;
}

async function readStatus(db: Database, merchantId: string): Promise<AutoReloadStatus> {
  const [row] = await db
    .select({ status: autoReloadSettings.status })
    .from(autoReloadSettings)
    .where(eq(autoReloadSettings.merchantId, merchantId));
  return (row?.status ?? 'disabled') as AutoReloadStatus;
}

/**
 * The merchant's Auto Reload as Postgres holds it. The workflow writes only settled
 * statuses there; a pending recharge is what `recharging` looks like from here.
 */
export async function readAutoReload(
  db: Database,
  merchantId: string,
  nowMs: number = Date.now(),
): Promise<AutoReloadRecord> {
  const merchant = await readMerchant(db, merchantId);
  const cycle = billingCycleAt(merchant.billingCycleAnchor.toISOString(), nowMs);
  const [settings, stored, totals, [lastRecharge]] = await Promise.all([
    findSettings(db, merchantId, merchant.currency),
    readStatus(db, merchantId),
    cycleTotals(db, merchantId, [cycle.key]),
    listRecharges(db, merchantId, { limit: 1 }).then((page) => page.data),
  ]);
  const figures = totals.get(cycle.key) ?? { total: 0 as Micros, inFlight: 0 as Micros };
  const recharging = settings.enabled && lastRecharge?.status === 'pending';
  return {
    currency: merchant.currency,
    balance: merchant.balance as Micros,
    settings,
    status: recharging ? 'recharging' : stored,
    hasPaymentMethod: merchant.paymentMethod !== null,
    cycle: { cycle, ...figures },
    lastRecharge: lastRecharge ?? null,
  };
}
