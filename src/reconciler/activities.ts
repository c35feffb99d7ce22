/**
 * The reconciler's activities, built over their dependencies like the merchant workflow's
 * (`createActivities`); the worker registers both sets side by side.
 */
import { Context } from '@temporalio/activity';
import type { Database } from '../db/client';
import type { MerchantWorkflows } from '../merchants/workflow-client';
import type { ReconcilerActivities, SignalOutcome, StrandedMerchant } from './contract';
import { findStrandedMerchants } from './stranded';

/** Signals in flight at once: enough to clear a page in about a second, gentle on Temporal. */
const SIGNAL_CONCURRENCY = 20;

export interface ReconcilerDeps {
  readonly db: Database;
  readonly workflows: Pick<MerchantWorkflows, 'signalBalanceChanged'>;
}

async function signalOne(deps: ReconcilerDeps, merchant: StrandedMerchant): Promise<boolean> {
  const { merchantId, balance, ledgerSeq } = merchant;
  try {
    await deps.workflows.signalBalanceChanged(merchantId, { balance, ledgerSeq });
    return true;
  } catch (error) {
    // Counted and left for the next run, which finds the merchant again.
    const message = error instanceof Error ? error.message : String(error);
    Context.current().log.warn('Reconciler signal failed', { merchantId, ledgerSeq, message });
    return false;
  }
}

/** The reconciler workflow's activities over these dependencies; the worker registers them. */
export function createReconcilerActivities(deps: ReconcilerDeps): ReconcilerActivities {
  return {
    findStrandedMerchants: (request) => findStrandedMerchants(deps.db, request),

    // The workflow ignores a balanceChanged whose ledgerSeq it knows: re-signalling is harmless.
    async signalStranded(batch): Promise<SignalOutcome> {
      let signalled = 0;
      for (let start = 0; start < batch.length; start += SIGNAL_CONCURRENCY) {
        const chunk = batch.slice(start, start + SIGNAL_CONCURRENCY);
        const results = await Promise.all(chunk.map((merchant) => signalOne(deps, merchant)));
        signalled += results.filter(Boolean).length;
      }
      return { signalled, failed: batch.length - signalled };
    },
  };
}
