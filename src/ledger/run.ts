/** Running ledger statements: prepared, wrapped in context, retried on one known race. */
import type postgres from 'postgres';
import { LedgerWriteError } from './errors';

/** Prepared once per connection: the statement texts are constants (see statements.ts). */
export const PREPARED = { prepare: true } as const;

const UNIQUE_VIOLATION = '23505';
const ENTRY_KEY_INDEX = 'ledger_entries_external_idx';

/**
 * True for the error two concurrent writes of the same new entry key produce: both saw no
 * entry in their snapshot, and the unique index refused the second insert.
 */
export function isEntryKeyConflict(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, constraint_name: constraint } = error as Partial<postgres.PostgresError>;
  return code === UNIQUE_VIOLATION && constraint === ENTRY_KEY_INDEX;
}

/**
 * Runs a ledger write, and again if it lost the race on an entry key: nothing of the failed
 * attempt was committed, and the next attempt finds the winner's entry and answers it as a
 * repeat. One more attempt settles a single entry; a batch may meet a second race on another
 * of its keys, so it passes more attempts. Any other failure is rethrown with context.
 */
export async function runLedgerWrite<T>(
  operation: string,
  merchantId: string | null,
  write: () => Promise<T>,
  attempts = 2,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await write();
    } catch (error) {
      if (attempt >= attempts || !isEntryKeyConflict(error)) {
        throw new LedgerWriteError(operation, merchantId, { cause: error });
      }
    }
  }
}

/** The single row a ledger statement answers; its absence is a bug in the statement. */
export function onlyRow<T>(rows: readonly T[], operation: string): T {
  const row = rows[0];
  if (row === undefined) throw new Error(`Ledger ${operation} statement returned no row`);
  return row;
}

/** int8 as a JS number, whether the pool parses int8 (connect()) or leaves it as text. */
export function toNumber(value: number | string): number {
  return typeof value === 'number' ? value : Number(value);
}
