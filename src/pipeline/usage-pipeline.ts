/**
 * The SMS pipeline's way in (SPEC 2): debit a usage event from the ledger and, when the
 * debit leaves the balance below the merchant's threshold, tell the merchant's workflow.
 * The debit is one round trip to Postgres; the signal is the only Temporal call.
 */
import type { Ledger } from '../ledger';
import type { BalanceState, DebitResult, UsageEvent } from '../ledger/types';
import type { Logger } from '../logger';

/** Sends `balanceChanged` to a merchant's workflow, starting the workflow if needed. */
export interface BalanceSignaller {
  signalBalanceChanged(merchantId: string, balance: BalanceState): Promise<void>;
}

export type UsageResult = DebitResult & {
  /** False when a signal was owed but could not be sent; the debit stands either way. */
  readonly signalled?: boolean;
};

export interface UsagePipelineDeps {
  readonly ledger: Ledger;
  readonly signaller: BalanceSignaller;
  readonly log: Logger;
  /** Called once per failed signal, for the metrics. */
  readonly onSignalFailure?: (merchantId: string) => void;
}

export interface UsagePipeline {
  recordUsage(event: UsageEvent): Promise<UsageResult>;
  /** Debits in order with one round trip, then one signal per merchant left below threshold. */
  recordUsageBatch(events: readonly UsageEvent[]): Promise<UsageResult[]>;
}

function owesSignal(result: DebitResult): result is Extract<DebitResult, { status: 'debited' }> {
  return result.status === 'debited' && result.belowThreshold;
}

export function createUsagePipeline(deps: UsagePipelineDeps): UsagePipeline {
  /**
   * A signal failure never fails the debit: the money moved and the pipeline may send.
   * It is logged and counted; the merchant is caught again by the next debit.
   */
  async function signal(merchantId: string, balance: BalanceState): Promise<boolean> {
    try {
      await deps.signaller.signalBalanceChanged(merchantId, balance);
      return true;
    } catch (error) {
      deps.log.error(
        { err: error, merchantId, ledgerSeq: balance.ledgerSeq },
        'Balance signal failed',
      );
      deps.onSignalFailure?.(merchantId);
      return false;
    }
  }

  return {
    async recordUsage(event) {
      const result = await deps.ledger.debitUsage(event);
      if (!owesSignal(result)) return result;
      const signalled = await signal(event.merchantId, result);
      return { ...result, signalled };
    },

    async recordUsageBatch(events) {
      const results = await deps.ledger.debitUsageBatch(events);
      // Coalesce: only the newest below-threshold state of each merchant is worth a signal.
      const newest = new Map<string, BalanceState>();
      results.forEach((result, index) => {
        const merchantId = events[index]?.merchantId;
        if (merchantId === undefined || !owesSignal(result)) return;
        const known = newest.get(merchantId);
        if (!known || known.ledgerSeq < result.ledgerSeq) newest.set(merchantId, result);
      });
      const outcomes = new Map<string, boolean>();
      await Promise.all(
        [...newest].map(async ([merchantId, balance]) => {
          outcomes.set(merchantId, await signal(merchantId, balance));
        }),
      );
      return results.map((result, index) => {
        const merchantId = events[index]?.merchantId ?? '';
        return owesSignal(result)
          ? { ...result, signalled: outcomes.get(merchantId) ?? false }
          : result;
      });
    },
  };
}
