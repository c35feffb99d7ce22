/** Reads: the balance and the ledger, newest first, with an opaque cursor. */
import type postgres from 'postgres';
import type { Micros } from '../domain/money';
import { InvalidCursorError, InvalidLimitError } from './errors';
import { PREPARED, toNumber } from './run';
import { LIST_LEDGER_SQL, READ_BALANCE_SQL, READ_FUNDING_SQL } from './statements';
import type {
  BalanceState,
  FundingState,
  LedgerEntry,
  LedgerPage,
  LedgerPageRequest,
} from './types';

export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 500;

type Int8 = number | string;

interface BalanceRow {
  balance: Int8;
  ledger_seq: Int8;
}

interface EntryRow {
  seq: Int8;
  kind: string;
  amount: Int8;
  balance_after: Int8;
  external_id: string;
  description: string | null;
  recharge_id: string | null;
  created_at: string;
}

/** The merchant's balance and newest sequence number; null when there is no such merchant. */
export async function readBalance(
  sql: postgres.Sql,
  merchantId: string,
): Promise<BalanceState | null> {
  const [row] = await sql.unsafe<BalanceRow[]>(READ_BALANCE_SQL, [merchantId], PREPARED);
  if (row === undefined) return null;
  return { balance: toNumber(row.balance) as Micros, ledgerSeq: toNumber(row.ledger_seq) };
}

/**
 * The balance with the usage debited after `afterSeq`, at one snapshot; null when there is
 * no such merchant. The runaway guard weighs recharges against it (domain/runaway.ts).
 */
export async function readFunding(
  sql: postgres.Sql,
  merchantId: string,
  afterSeq: number,
): Promise<FundingState | null> {
  const [row] = await sql.unsafe<(BalanceRow & { used: Int8 })[]>(
    READ_FUNDING_SQL,
    [merchantId, afterSeq],
    PREPARED,
  );
  if (row === undefined) return null;
  return {
    balance: toNumber(row.balance) as Micros,
    ledgerSeq: toNumber(row.ledger_seq),
    usedAfterSeq: toNumber(row.used) as Micros,
  };
}

/** The cursor for the page after the entry with this sequence number. */
export function encodeCursor(seq: number): string {
  return Buffer.from(String(seq), 'utf8').toString('base64url');
}

/** The sequence number a cursor stands for; refuses anything encodeCursor did not make. */
export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const seq = Number(text);
  // Re-encoding must give the same cursor back, which rules out padding, stray characters
  // and non-canonical numbers such as "007" that would otherwise decode to something.
  const canonical = /^[1-9][0-9]*$/.test(text) && Number.isSafeInteger(seq);
  if (!canonical || encodeCursor(seq) !== cursor) throw new InvalidCursorError(cursor);
  return seq;
}

function pageLimit(limit: number | undefined): number {
  const value = limit ?? DEFAULT_PAGE_LIMIT;
  if (!Number.isInteger(value) || value < 1 || value > MAX_PAGE_LIMIT) {
    throw new InvalidLimitError(limit, MAX_PAGE_LIMIT);
  }
  return value;
}

function toEntry(row: EntryRow): LedgerEntry {
  return {
    seq: toNumber(row.seq),
    kind: row.kind,
    amount: toNumber(row.amount) as Micros,
    balanceAfter: toNumber(row.balance_after) as Micros,
    externalId: row.external_id,
    description: row.description,
    rechargeId: row.recharge_id,
    // Drizzle sets the postgres.js client it shares with us to answer timestamps as text.
    createdAt: new Date(row.created_at),
  };
}

/**
 * One page of the merchant's ledger, newest first. The cursor holds the last sequence
 * number served, so entries appended meanwhile never shift the pages already read.
 */
export async function listLedger(
  sql: postgres.Sql,
  merchantId: string,
  request: LedgerPageRequest = {},
): Promise<LedgerPage> {
  const limit = pageLimit(request.limit);
  const { cursor } = request;
  const below = cursor == null ? Number.MAX_SAFE_INTEGER : decodeCursor(cursor);
  // One row more than asked tells whether another page follows without a count query.
  const rows = await sql.unsafe<EntryRow[]>(
    LIST_LEDGER_SQL,
    [merchantId, below, limit + 1],
    PREPARED,
  );

  const data = rows.slice(0, limit).map(toEntry);
  const last = data[data.length - 1];
  const nextCursor = rows.length > limit && last !== undefined ? encodeCursor(last.seq) : null;
  return { data, nextCursor };
}
