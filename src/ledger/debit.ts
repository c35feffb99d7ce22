/** Usage debits: the hot path. One round trip per debit, one per batch. */
import type postgres from 'postgres';
import type { Micros } from '../domain/money';
import { InvalidAmountError, InvalidUsageKindError } from './errors';
import { PREPARED, onlyRow, runLedgerWrite, toNumber } from './run';
import { DEBIT_USAGE_SQL } from './statements';
import { type DebitResult, type DebitStatus, USAGE_KINDS, type UsageEvent } from './types';

interface DebitRow {
  status: DebitStatus;
  balance: number | string | null;
  ledger_seq: number | string | null;
  enabled: boolean;
  threshold: number | string | null;
}

/**
 * Each lost race means another transaction committed one of the batch's events, so every
 * attempt makes progress; a few cover batches that overlap many concurrent ones.
 */
const BATCH_ATTEMPTS = 4;

const KNOWN_KINDS: ReadonlySet<string> = new Set(USAGE_KINDS);

/** Refuses amounts that are not positive safe integers before anything reaches Postgres. */
export function assertPositiveAmount(amount: number, externalId: string): void {
  if (!Number.isSafeInteger(amount) || amount <= 0) {
    throw new InvalidAmountError(amount, externalId);
  }
}

function assertValidEvent(event: UsageEvent): void {
  assertPositiveAmount(event.amount, event.eventId);
  if (!KNOWN_KINDS.has(event.kind)) throw new InvalidUsageKindError(event.kind, event.eventId);
}

function debitQuery(sql: postgres.Sql, event: UsageEvent): postgres.PendingQuery<DebitRow[]> {
  const params = [event.merchantId, event.eventId, event.amount, event.kind];
  return sql.unsafe<DebitRow[]>(DEBIT_USAGE_SQL, params, PREPARED);
}

function toDebitResult(row: DebitRow): DebitResult {
  if (row.status === 'merchant_not_found' || row.balance === null || row.ledger_seq === null) {
    return { status: 'merchant_not_found' };
  }
  const balance = toNumber(row.balance) as Micros;
  const threshold = row.threshold === null ? null : (toNumber(row.threshold) as Micros);
  return {
    status: row.status,
    balance,
    ledgerSeq: toNumber(row.ledger_seq),
    enabled: row.enabled,
    threshold,
    belowThreshold: row.enabled && threshold !== null && balance < threshold,
  };
}

/** Debits one usage event: `debited`, `duplicate`, `insufficient_funds` or not found. */
export async function debitUsage(sql: postgres.Sql, event: UsageEvent): Promise<DebitResult> {
  assertValidEvent(event);
  const rows = await runLedgerWrite('usage debit', event.merchantId, () => debitQuery(sql, event));
  return toDebitResult(onlyRow(rows, 'usage debit'));
}

/**
 * Positions of the events in the order they run: by merchant, and in the caller's order
 * within a merchant. Every batch then locks merchant rows in the same order, so two
 * batches never wait for each other in a cycle (a deadlock).
 */
function lockOrder(events: readonly UsageEvent[]): number[] {
  const positions = events.map((_, index) => index);
  // Array.prototype.sort is stable, which keeps each merchant's events in order.
  return positions.sort((a, b) => {
    const left = events[a]?.merchantId ?? '';
    const right = events[b]?.merchantId ?? '';
    return left < right ? -1 : left > right ? 1 : 0;
  });
}

/**
 * Debits many usage events in one round trip; answers one result per event, in the
 * caller's order. The events are the single-debit statement repeated in a postgres.js
 * `sql.batch`: sent together with one Sync, they run one after the other in one implicit
 * transaction, so a merchant's later events see its earlier ones (a repeated id in the
 * same batch is a duplicate) and everything commits with one WAL flush.
 *
 * Shortcomings, on purpose: merchant rows stay locked until the whole batch commits, and
 * the batch is all or nothing, so a lost race on an event id re-runs the whole batch (up to
 * BATCH_ATTEMPTS times). The batch is written in one go, so its locks wait on the server's
 * work only, never on a round trip to the client.
 */
export async function debitUsageBatch(
  sql: postgres.Sql,
  events: readonly UsageEvent[],
): Promise<DebitResult[]> {
  events.forEach(assertValidEvent);
  if (events.length === 0) return [];

  const order = lockOrder(events);
  const answers = await runLedgerWrite(
    `usage batch debit of ${events.length} events`,
    null,
    () => sql.batch(order.map((index) => debitQuery(sql, events[index] as UsageEvent))),
    BATCH_ATTEMPTS,
  );

  const results = new Array<DebitResult>(events.length);
  order.forEach((eventIndex, position) => {
    results[eventIndex] = toDebitResult(onlyRow(answers[position] ?? [], 'usage batch debit'));
  });
  return results;
}
