/**
 * Test merchants straight in Postgres, without the API or a workflow. Use it in any test
 * that needs a merchant row:
 *
 *   const merchantId = await createTestMerchant(handle, { balance: micros(5_000_000) });
 */
import { randomBytes } from 'node:crypto';
import type postgres from 'postgres';
import type { DatabaseHandle } from '../../src/db/client';
import type { AutoReloadSettings } from '../../src/domain/auto-reload';
import type { Currency } from '../../src/domain/currency';
import type { Micros } from '../../src/domain/money';

export interface TestMerchantOptions {
  /** Default 'usd'. */
  readonly currency?: Currency;
  /**
   * Opening balance in micros, written as one 'adjustment' ledger entry (seq 1) so the
   * balance still equals the ledger sum. Default 0: no entry, ledger_seq 0.
   */
  readonly balance?: Micros;
  /** billing_cycle_anchor; default now. */
  readonly anchor?: Date;
  /** When given, an auto_reload_settings row; mode defaults to 'fixed'. */
  readonly settings?: Omit<AutoReloadSettings, 'mode'> & Partial<Pick<AutoReloadSettings, 'mode'>>;
  /** Default 'Test merchant <id>'. */
  readonly name?: string;
}

/** A fresh merchant id, `mer_` and 16 random hex digits, so parallel tests never collide. */
export function testMerchantId(): string {
  return `mer_${randomBytes(8).toString('hex')}`;
}

/** Inserts a merchant (and its opening balance and settings) in one transaction; its id. */
export async function createTestMerchant(
  handle: DatabaseHandle | postgres.Sql,
  options: TestMerchantOptions = {},
): Promise<string> {
  const sql = typeof handle === 'function' ? handle : handle.sql;
  const id = testMerchantId();
  const balance = options.balance ?? 0;
  const seq = balance > 0 ? 1 : 0;

  await sql.begin(async (tx) => {
    await tx`
      insert into merchants (id, name, currency, billing_cycle_anchor, balance, ledger_seq)
      values (${id}, ${options.name ?? `Test merchant ${id}`}, ${options.currency ?? 'usd'},
        ${(options.anchor ?? new Date()).toISOString()}::timestamptz, ${balance}, ${seq})`;
    if (balance > 0) {
      await tx`
        insert into ledger_entries
          (merchant_id, seq, kind, amount, balance_after, external_id, description)
        values (${id}, 1, 'adjustment', ${balance}, ${balance}, 'opening-balance',
          'opening balance')`;
    }
    const { settings } = options;
    if (settings) {
      await tx`
        insert into auto_reload_settings
          (merchant_id, enabled, mode, threshold, amount, max_per_cycle)
        values (${id}, ${settings.enabled}, ${settings.mode ?? 'fixed'}, ${settings.threshold},
          ${settings.amount}, ${settings.maxPerCycle})`;
    }
  });
  return id;
}
