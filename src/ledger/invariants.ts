/**
 * Checks of SPEC 3.2 over one merchant's ledger, for tests and for an operator's audit.
 * They read the whole ledger of the merchant: never call them on the request path.
 */
import type postgres from 'postgres';
import type { Micros } from '../domain/money';
import { MerchantNotFoundError } from './errors';
import { toNumber } from './run';
import type { InvariantReport } from './types';

type Int8 = number | string;

const LEDGER_SUM_SQL = `
select coalesce(sum(amount), 0)::int8 as sum from ledger_entries where merchant_id = $1::text
`;

/**
 * Counts of each kind of violation in one pass. `position` is the entry's rank by seq, so
 * seq = position for every entry means the sequence is exactly 1..N.
 */
const INVARIANTS_SQL = `
with entries as (
  select seq, kind, amount, balance_after, external_id,
    sum(amount) over (order by seq) as running,
    row_number() over (order by seq) as position
  from ledger_entries
  where merchant_id = $1::text
)
select
  m.balance,
  m.ledger_seq,
  (select coalesce(sum(amount), 0) from entries)::int8 as ledger_sum,
  (select count(*) from entries)::int8 as entries,
  (select count(*) from entries where seq <> position)::int8 as out_of_sequence,
  (select count(*) from entries where balance_after <> running)::int8 as wrong_balance_after,
  (select count(*) from entries where balance_after < 0)::int8 as negative_balance_after,
  (select count(*) from entries where case kind
    when 'usage' then amount >= 0
    when 'adjustment' then amount = 0
    else amount <= 0 end)::int8 as wrong_sign,
  (select count(*) - count(distinct (kind, external_id)) from entries)::int8 as repeated_keys,
  (select count(*) from ledger_entries other
    join entries e on e.kind = 'recharge' and e.external_id = other.external_id
    where other.kind = 'recharge' and other.merchant_id <> $1::text)::int8 as shared_credits
from merchants m
where m.id = $1::text
`;

interface InvariantRow {
  balance: Int8;
  ledger_seq: Int8;
  ledger_sum: Int8;
  entries: Int8;
  out_of_sequence: Int8;
  wrong_balance_after: Int8;
  negative_balance_after: Int8;
  wrong_sign: Int8;
  repeated_keys: Int8;
  shared_credits: Int8;
}

/** Sum of the amounts of the merchant's ledger entries (0 with no entries). */
export async function ledgerSum(sql: postgres.Sql, merchantId: string): Promise<Micros> {
  const [row] = await sql.unsafe<{ sum: Int8 }[]>(LEDGER_SUM_SQL, [merchantId]);
  return toNumber(row?.sum ?? 0) as Micros;
}

function violations(row: InvariantRow): string[] {
  const found: string[] = [];
  const count = (value: Int8): number => toNumber(value);
  const balance = count(row.balance);
  const entries = count(row.entries);

  if (balance !== count(row.ledger_sum)) {
    found.push(`balance ${balance} differs from the ledger sum ${count(row.ledger_sum)}`);
  }
  if (balance < 0) found.push(`balance ${balance} is negative`);
  if (count(row.ledger_seq) !== entries) {
    found.push(`ledger_seq ${count(row.ledger_seq)} differs from the ${entries} entries`);
  }
  const counted: [keyof InvariantRow, string][] = [
    ['out_of_sequence', 'entries break the sequence 1..N'],
    ['wrong_balance_after', 'entries have a balance_after other than the running sum'],
    ['negative_balance_after', 'entries have a negative balance_after'],
    ['wrong_sign', 'entries have the wrong sign for their kind'],
    ['repeated_keys', 'entries repeat a (kind, external id) key'],
    ['shared_credits', 'recharge credits reuse a PaymentIntent of another merchant'],
  ];
  for (const [column, message] of counted) {
    const n = count(row[column]);
    if (n > 0) found.push(`${n} ${message}`);
  }
  return found;
}

/**
 * Checks that the balance equals the ledger sum, the sequence is 1..N with N = ledger_seq,
 * every balance_after is the running sum, and no key (event id, PaymentIntent) repeats.
 */
export async function checkInvariants(
  sql: postgres.Sql,
  merchantId: string,
): Promise<InvariantReport> {
  const [row] = await sql.unsafe<InvariantRow[]>(INVARIANTS_SQL, [merchantId]);
  if (row === undefined) throw new MerchantNotFoundError(merchantId);
  return {
    balance: toNumber(row.balance) as Micros,
    ledgerSeq: toNumber(row.ledger_seq),
    ledgerSum: toNumber(row.ledger_sum) as Micros,
    entries: toNumber(row.entries),
    violations: violations(row),
  };
}
