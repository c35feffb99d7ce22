/**
 * The reconciler, run by a Temporal Schedule so that no trigger is lost: finds
 * merchants below their threshold that no signal reached (the pipeline's signal failed
 * after the debit) and sends each workflow the `balanceChanged` it missed.
 */
import { ApplicationFailure, continueAsNew, log, proxyActivities } from '@temporalio/workflow';
import type { ReconcilerActivities, SignalOutcome } from '../reconciler/contract';

/** Merchants per page; a page is one search and one batch of signals. */
const PAGE_SIZE = 1_000;
/** Pages per run before continuing as new, which keeps each run's history short. */
const PAGES_PER_RUN = 10;

/**
 * A few attempts only: the schedule runs again within a minute, and a run that waits out an
 * outage would hold back the runs after it (overlap SKIP).
 */
const reconciler = proxyActivities<ReconcilerActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 },
});

export interface ReconcileSummary {
  readonly found: number;
  readonly signalled: number;
  readonly failed: number;
}

export interface ReconcileInput {
  /**
   * Only these merchants (at most one page); every merchant when absent. For an operator
   * who wants a few merchants looked at now.
   */
  readonly merchantIds?: readonly string[];
  /** Set by continue-as-new: where the previous run stopped, and what it counted. */
  readonly afterMerchantId?: string;
  readonly carried?: ReconcileSummary;
}

function add(summary: ReconcileSummary, found: number, outcome: SignalOutcome): ReconcileSummary {
  return {
    found: summary.found + found,
    signalled: summary.signalled + outcome.signalled,
    failed: summary.failed + outcome.failed,
  };
}

/** Signals every stranded merchant, a page at a time, and answers the counts. */
export async function reconcileStrandedMerchants(
  input: ReconcileInput = {},
): Promise<ReconcileSummary> {
  const merchantIds = input.merchantIds ?? null;
  if (merchantIds !== null && merchantIds.length > PAGE_SIZE) {
    throw ApplicationFailure.nonRetryable(
      `At most ${PAGE_SIZE} merchant ids, got ${merchantIds.length}`,
      'InvalidReconcileInput',
    );
  }

  let summary = input.carried ?? { found: 0, signalled: 0, failed: 0 };
  let afterMerchantId = input.afterMerchantId ?? null;
  for (let page = 0; page < PAGES_PER_RUN; page += 1) {
    const found = await reconciler.findStrandedMerchants({
      afterMerchantId,
      limit: PAGE_SIZE,
      merchantIds,
    });
    if (found.merchants.length === 0) break;
    const outcome = await reconciler.signalStranded(found.merchants);
    summary = add(summary, found.merchants.length, outcome);
    afterMerchantId = found.nextCursor;
    if (afterMerchantId === null) break;
  }

  if (afterMerchantId !== null) {
    log.info('Reconciler continuing as new', { afterMerchantId, ...summary });
    return continueAsNew<typeof reconcileStrandedMerchants>({
      ...input,
      afterMerchantId,
      carried: summary,
    });
  }
  if (summary.failed > 0) log.warn('Stranded merchants reconciled', { ...summary });
  else log.info('Stranded merchants reconciled', { ...summary });
  return summary;
}
