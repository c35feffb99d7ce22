/** Postgres reads and writes the merchant workflow's activities need, beside the ledger. */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { AutoReloadSettings, AutoReloadStatus, RechargeMode } from '../domain/auto-reload';
import { defaultSettings } from '../domain/auto-reload';
import { isCurrency } from '../domain/currency';
import type { Micros } from '../domain/money';
import type { Database } from '../db/client';
import { autoReloadSettings, decisions, merchants, recharges } from '../db/schema';
import type { DecisionInput } from './contract';

/** Thrown when an activity is asked about a merchant that Postgres does not know. */
export class UnknownMerchantError extends Error {
  override readonly name = 'UnknownMerchantError';
  constructor(readonly merchantId: string) {
    super(`Merchant ${merchantId} does not exist`);
  }
}

export async function findMerchant(db: Database, merchantId: string) {
  const [row] = await db.select().from(merchants).where(eq(merchants.id, merchantId));
  if (!row) throw new UnknownMerchantError(merchantId);
  if (!isCurrency(row.currency))
    throw new Error(`Merchant ${merchantId} has currency ${row.currency}`);
  return { ...row, currency: row.currency };
}

export async function findSettings(
  db: Database,
  merchantId: string,
  currency: Parameters<typeof defaultSettings>[0],
): Promise<AutoReloadSettings> {
  const [row] = await db
    .select()
    .from(autoReloadSettings)
    .where(eq(autoReloadSettings.merchantId, merchantId));
  if (!row) return defaultSettings(currency);
  return {
    enabled: row.enabled,
    mode: row.mode as RechargeMode,
    threshold: row.threshold as Micros,
    amount: row.amount as Micros,
    maxPerCycle: row.maxPerCycle as Micros,
  };
}

/** Money added or being added by Auto Reload in one cycle: succeeded plus pending. */
export async function cycleTotal(
  db: Database,
  merchantId: string,
  cycleKey: string,
): Promise<Micros> {
  const [row] = await db
    .select({ total: sql<string>`coalesce(sum(${recharges.amount}), 0)` })
    .from(recharges)
    .where(
      and(
        eq(recharges.merchantId, merchantId),
        eq(recharges.cycleKey, cycleKey),
        inArray(recharges.status, ['pending', 'succeeded']),
      ),
    );
  return Number(row?.total ?? 0) as Micros;
}

export async function upsertSettings(
  db: Database,
  merchantId: string,
  settings: AutoReloadSettings,
): Promise<void> {
  const values = { ...settings, updatedAt: new Date() };
  await db
    .insert(autoReloadSettings)
    .values({ merchantId, ...values })
    .onConflictDoUpdate({ target: autoReloadSettings.merchantId, set: values });
}

/**
 * Records the workflow's status for Postgres readers. A merchant who never saved settings
 * has no row yet: it gets one with the default settings of its currency.
 */
export async function saveStatus(
  db: Database,
  merchantId: string,
  status: AutoReloadStatus,
): Promise<void> {
  const updated = await db
    .update(autoReloadSettings)
    .set({ status, updatedAt: new Date() })
    .where(eq(autoReloadSettings.merchantId, merchantId))
    .returning({ merchantId: autoReloadSettings.merchantId });
  if (updated.length > 0) return;

  const { currency } = await findMerchant(db, merchantId);
  await db
    .insert(autoReloadSettings)
    .values({ merchantId, ...defaultSettings(currency), status })
    .onConflictDoUpdate({
      target: autoReloadSettings.merchantId,
      set: { status, updatedAt: new Date() },
    });
}

/** Inserts a decision once: the id comes from workflow state, so a retry is a no-op. */
export async function insertDecision(db: Database, input: DecisionInput): Promise<void> {
  const { decision } = input;
  const failed = decision.outcome === 'failed' ? decision : undefined;
  await db
    .insert(decisions)
    .values({
      id: input.decisionId,
      merchantId: input.merchantId,
      outcome: decision.outcome,
      reason: failed ? failed.failureType : 'reason' in decision ? decision.reason : null,
      rechargeId: decision.outcome === 'skipped' ? null : decision.rechargeId,
      amount: 'amount' in decision ? decision.amount : null,
      balance: input.balance,
      threshold: input.threshold,
      cycleKey: input.cycleKey,
      cycleTotal: input.cycleTotal,
      maxPerCycle: input.maxPerCycle,
      statusAfter: input.statusAfter,
      failureCode: failed?.code ?? null,
      declineCode: failed?.declineCode ?? null,
    })
    .onConflictDoNothing({ target: decisions.id });
}
