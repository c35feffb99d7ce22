/** Credits: recharges keyed by PaymentIntent, manual credits keyed by the operator's id. */
import type postgres from 'postgres';
import type { Micros } from '../domain/money';
import { assertPositiveAmount } from './debit';
import { MerchantNotFoundError } from './errors';
import { PREPARED, onlyRow, runLedgerWrite, toNumber } from './run';
import { CREDIT_SQL } from './statements';
import type { CreditResult, ManualCredit, RechargeCredit } from './types';

interface CreditRow {
  credited: boolean;
  balance: number | string | null;
  ledger_seq: number | string | null;
}

interface CreditEntry {
  readonly merchantId: string;
  readonly kind: 'recharge' | 'manual_credit';
  readonly externalId: string;
  readonly amount: Micros;
  readonly description: string | null;
  readonly rechargeId: string | null;
}

async function credit(sql: postgres.Sql, entry: CreditEntry): Promise<CreditResult> {
  assertPositiveAmount(entry.amount, entry.externalId);
  const params = [
    entry.merchantId,
    entry.kind,
    entry.externalId,
    entry.amount,
    entry.description,
    entry.rechargeId,
  ];
  const operation = `${entry.kind} credit`;
  const rows = await runLedgerWrite(operation, entry.merchantId, () =>
    sql.unsafe<CreditRow[]>(CREDIT_SQL, params, PREPARED),
  );

  const row = onlyRow(rows, operation);
  if (row.balance === null || row.ledger_seq === null) {
    throw new MerchantNotFoundError(entry.merchantId);
  }
  return {
    credited: row.credited,
    balance: toNumber(row.balance) as Micros,
    ledgerSeq: toNumber(row.ledger_seq),
  };
}

/**
 * Credits a succeeded recharge once per PaymentIntent and marks the recharge succeeded.
 * Safe to call from both the charge activity and the webhook: the second call answers the
 * first credit's balance and sequence with `credited: false`.
 */
export function creditRecharge(sql: postgres.Sql, request: RechargeCredit): Promise<CreditResult> {
  return credit(sql, {
    merchantId: request.merchantId,
    kind: 'recharge',
    externalId: request.paymentIntentId,
    amount: request.amount,
    description: null,
    rechargeId: request.rechargeId,
  });
}

/** Credits an operator's manual credit once per credit id; the reason is kept on the entry. */
export function creditManual(sql: postgres.Sql, request: ManualCredit): Promise<CreditResult> {
  return credit(sql, {
    merchantId: request.merchantId,
    kind: 'manual_credit',
    externalId: request.creditId,
    amount: request.amount,
    description: request.reason,
    rechargeId: null,
  });
}
