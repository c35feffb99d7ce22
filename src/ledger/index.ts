/**
 * The ledger of SPEC 3.2: the only code that writes balances. `createLedger` binds the
 * functions to a connection pool; the functions themselves live one concern per file.
 */
import type postgres from 'postgres';
import type { DatabaseHandle } from '../db/client';
import type { Micros } from '../domain/money';
import { creditManual, creditRecharge } from './credit';
import { debitUsage, debitUsageBatch } from './debit';
import { checkInvariants, ledgerSum } from './invariants';
import { listLedger, readBalance, readFunding } from './read';
import type {
  BalanceState,
  CreditResult,
  DebitResult,
  FundingState,
  InvariantReport,
  LedgerPage,
  LedgerPageRequest,
  ManualCredit,
  RechargeCredit,
  UsageEvent,
} from './types';

export interface Ledger {
  /** One usage debit in one round trip; see DebitResult for the four answers. */
  debitUsage(event: UsageEvent): Promise<DebitResult>;
  /** Many debits in one round trip, answered in the caller's order. */
  debitUsageBatch(events: readonly UsageEvent[]): Promise<DebitResult[]>;
  /** Credits a succeeded recharge once per PaymentIntent. */
  creditRecharge(request: RechargeCredit): Promise<CreditResult>;
  /** Credits an operator's manual credit once per credit id. */
  creditManual(request: ManualCredit): Promise<CreditResult>;
  readBalance(merchantId: string): Promise<BalanceState | null>;
  /** The balance and the usage debited after `afterSeq`, at one snapshot. */
  readFunding(merchantId: string, afterSeq: number): Promise<FundingState | null>;
  listLedger(merchantId: string, request?: LedgerPageRequest): Promise<LedgerPage>;
  /** For tests and audits: reads the merchant's whole ledger. */
  ledgerSum(merchantId: string): Promise<Micros>;
  /** For tests and audits: reads the merchant's whole ledger. */
  checkInvariants(merchantId: string): Promise<InvariantReport>;
}

/** Binds the ledger to a pool: the handle from `connect()`, or a bare postgres.js `Sql`. */
export function createLedger(source: DatabaseHandle | postgres.Sql): Ledger {
  const sql = typeof source === 'function' ? source : source.sql;
  return {
    debitUsage: (event) => debitUsage(sql, event),
    debitUsageBatch: (events) => debitUsageBatch(sql, events),
    creditRecharge: (request) => creditRecharge(sql, request),
    creditManual: (request) => creditManual(sql, request),
    readBalance: (merchantId) => readBalance(sql, merchantId),
    readFunding: (merchantId, afterSeq) => readFunding(sql, merchantId, afterSeq),
    listLedger: (merchantId, request) => listLedger(sql, merchantId, request),
    ledgerSum: (merchantId) => ledgerSum(sql, merchantId),
    checkInvariants: (merchantId) => checkInvariants(sql, merchantId),
  };
}
