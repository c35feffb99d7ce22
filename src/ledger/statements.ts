/**
 * The ledger's SQL, as constant texts with numbered parameters. They are sent with
 * `sql.unsafe(text, params, { prepare: true })`: the text never contains a value, so this
 * is as safe as a tagged template, and one fixed text per statement means each connection
 * prepares it once and the bench can run the very same text through the bare driver.
 *
 * Every write locks the merchant row with its UPDATE, so entries of one merchant are
 * serialized: `ledger_seq + 1` is the next sequence number and `balance` the running sum.
 * Under READ COMMITTED a debit that waited for the lock re-checks `balance >= amount`
 * against the row as the other transaction left it, so concurrent debits never overdraw.
 */

/**
 * One usage debit in one statement. Parameters: $1 merchant id, $2 event id, $3 amount
 * (positive micros), $4 usage kind. Answers one row: status, balance, ledger_seq, enabled,
 * threshold.
 *
 * `existing` finds an earlier debit of the same event; the UPDATE only runs without one
 * and with enough balance; the INSERT appends the entry from the UPDATE's result; the
 * final SELECT tells which case happened. Two concurrent debits of the same new event
 * both pass `existing` (same snapshot), so the second fails on ledger_entries_external_idx
 * and the caller re-runs it, when it finds the first one's entry.
 *
 * A refused debit answers the balance it was refused on. The statement's snapshot can be
 * older than that: when the UPDATE waited for a concurrent debit and then found too little,
 * the snapshot still shows enough. Only then `raced` reads the row again FOR SHARE, which
 * in READ COMMITTED returns the newest version; a refusal without a race takes no lock.
 * Not FOR KEY SHARE: that lock does not conflict with the UPDATE, so Postgres locks the
 * version the snapshot saw instead of following the row to the newest one.
 */
export const DEBIT_USAGE_SQL = `
with existing as (
  select seq, balance_after
  from ledger_entries
  where merchant_id = $1::text and kind = 'usage' and external_id = $2::text
),
debited as (
  update merchants
  set balance = balance - $3::int8, ledger_seq = ledger_seq + 1
  where id = $1::text and balance >= $3::int8 and not exists (select 1 from existing)
  returning balance, ledger_seq
),
entry as (
  insert into ledger_entries
    (merchant_id, seq, kind, amount, balance_after, external_id, description)
  select $1::text, ledger_seq, 'usage', -$3::int8, balance, $2::text, $4::text
  from debited
),
seen as (
  select balance, ledger_seq from merchants where id = $1::text
),
raced as (
  select balance, ledger_seq
  from merchants
  where id = $1::text
    and not exists (select 1 from debited)
    and not exists (select 1 from existing)
    and (select balance from seen) >= $3::int8
  for share
)
select
  case
    when d.ledger_seq is not null then 'debited'
    when e.seq is not null then 'duplicate'
    when m.balance is null then 'merchant_not_found'
    else 'insufficient_funds'
  end as status,
  coalesce(d.balance, e.balance_after, r.balance, m.balance) as balance,
  coalesce(d.ledger_seq, e.seq, r.ledger_seq, m.ledger_seq) as ledger_seq,
  coalesce(s.enabled, false) as enabled,
  s.threshold
from (select) as one
left join debited d on true
left join existing e on true
left join seen m on true
left join raced r on true
left join auto_reload_settings s on s.merchant_id = $1::text
`;

/**
 * One idempotent credit. Parameters: $1 merchant id, $2 ledger kind ('recharge' or
 * 'manual_credit'), $3 external id (PaymentIntent id or credit id), $4 amount (positive
 * micros), $5 description, $6 recharge id or null. Answers credited, balance, ledger_seq;
 * balance is null when the merchant does not exist.
 *
 * With a recharge id, the recharge row is marked succeeded in the same statement, on the
 * first credit and on repeats alike, so a late success still completes the recharge.
 */
export const CREDIT_SQL = `
with existing as (
  select seq, balance_after
  from ledger_entries
  where merchant_id = $1::text and kind = $2::text and external_id = $3::text
),
credited as (
  update merchants
  set balance = balance + $4::int8, ledger_seq = ledger_seq + 1
  where id = $1::text and not exists (select 1 from existing)
  returning balance, ledger_seq
),
entry as (
  insert into ledger_entries
    (merchant_id, seq, kind, amount, balance_after, external_id, description, recharge_id)
  select $1::text, ledger_seq, $2::text, $4::int8, balance, $3::text, $5::text, $6::text
  from credited
),
recharge as (
  update recharges
  set status = 'succeeded', payment_intent_id = $3::text, updated_at = now()
  where id = $6::text and merchant_id = $1::text
    and (status <> 'succeeded' or payment_intent_id is distinct from $3::text)
)
select
  c.ledger_seq is not null as credited,
  coalesce(c.balance, e.balance_after) as balance,
  coalesce(c.ledger_seq, e.seq) as ledger_seq
from (select) as one
left join credited c on true
left join existing e on true
`;

/** Parameters: $1 merchant id. */
export const READ_BALANCE_SQL = `
select balance, ledger_seq from merchants where id = $1::text
`;

/**
 * The balance and the usage debited after a sequence number, from one snapshot (one
 * statement), for the runaway guard. Parameters: $1 merchant id, $2 the exclusive lower
 * bound on seq. Walks the (merchant_id, seq) primary key from that point on.
 */
export const READ_FUNDING_SQL = `
select m.balance, m.ledger_seq,
  coalesce((
    select -sum(e.amount) from ledger_entries e
    where e.merchant_id = m.id and e.seq > $2::int8 and e.kind = 'usage'
  ), 0) as used
from merchants m
where m.id = $1::text
`;

/**
 * Newest first, strictly below a sequence number. Parameters: $1 merchant id, $2 the
 * exclusive upper bound on seq (use the largest int8 for the first page), $3 row limit.
 * Walks the (merchant_id, seq) primary key backwards, so a page costs its own rows only.
 */
export const LIST_LEDGER_SQL = `
select seq, kind, amount, balance_after, external_id, description, recharge_id, created_at
from ledger_entries
where merchant_id = $1::text and seq < $2::int8
order by seq desc
limit $3::int4
`;
