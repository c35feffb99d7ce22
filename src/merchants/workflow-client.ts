/**
 * Talks to merchants' workflows from Node (API, pipeline, tests). Every call that could
 * reach a merchant whose workflow does not run yet uses signal-with-start, so a message
 * is never lost to a missing workflow.
 */
import {
  type Client,
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
} from '@temporalio/client';
import type { AutoReloadSettings } from '../domain/auto-reload';
import type { BalanceState } from '../ledger/types';
import {
  balanceChangedSignal,
  getStateQuery,
  type PaymentIntentEvent,
  paymentIntentEventSignal,
  paymentMethodChangedSignal,
  updateSettingsUpdate,
} from '../workflows/definitions';
import { merchantWorkflowId } from '../workflows/ids';
import type { merchantAutoReload } from '../workflows/merchant-auto-reload';
import type { AutoReloadStateView } from '../workflows/state';
import type { BalanceSignaller } from '../pipeline/usage-pipeline';

export interface MerchantWorkflows extends BalanceSignaller {
  /** Starts the merchant's workflow; a no-op when it already runs. */
  ensureStarted(merchantId: string): Promise<void>;
  signalPaymentMethodChanged(merchantId: string, hasPaymentMethod: boolean): Promise<void>;
  /** Hands a verified Stripe event about one of the merchant's PaymentIntents over. */
  signalPaymentIntentEvent(merchantId: string, event: PaymentIntentEvent): Promise<void>;
  /** Applies settings through the validated Update; rejects with the workflow's failure. */
  updateSettings(merchantId: string, settings: AutoReloadSettings): Promise<AutoReloadStateView>;
  getState(merchantId: string): Promise<AutoReloadStateView>;
}

/**
 * How long a start or a signal may take before it fails. They sit on request paths (a
 * usage debit, a saved card, a Stripe event): with Temporal unreachable, failing fast lets
 * the caller answer, where the client's own retries would hold the request for 20 s.
 */
export const SIGNAL_DEADLINE_MS = 3_000;

export function createMerchantWorkflows(client: Client, taskQueue: string): MerchantWorkflows {
  const soon = <T>(call: () => Promise<T>): Promise<T> =>
    client.withDeadline(Date.now() + SIGNAL_DEADLINE_MS, call);

  const startOptions = (merchantId: string) => ({
    workflowId: merchantWorkflowId(merchantId),
    taskQueue,
    args: [{ merchantId }] as Parameters<typeof merchantAutoReload>,
  });

  return {
    async ensureStarted(merchantId) {
      try {
        await soon(() =>
          client.workflow.start<typeof merchantAutoReload>(
            'merchantAutoReload',
            startOptions(merchantId),
          ),
        );
      } catch (error) {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      }
    },

    async signalBalanceChanged(merchantId, { balance, ledgerSeq }) {
      await soon(() =>
        client.workflow.signalWithStart<typeof merchantAutoReload, [BalanceState]>(
          'merchantAutoReload',
          {
            ...startOptions(merchantId),
            signal: balanceChangedSignal,
            signalArgs: [{ balance, ledgerSeq }],
          },
        ),
      );
    },

    async signalPaymentMethodChanged(merchantId, hasPaymentMethod) {
      await soon(() =>
        client.workflow.signalWithStart('merchantAutoReload', {
          ...startOptions(merchantId),
          signal: paymentMethodChangedSignal,
          signalArgs: [{ hasPaymentMethod }],
        }),
      );
    },

    async signalPaymentIntentEvent(merchantId, event) {
      await soon(() =>
        client.workflow.signalWithStart('merchantAutoReload', {
          ...startOptions(merchantId),
          signal: paymentIntentEventSignal,
          signalArgs: [event],
        }),
      );
    },

    async updateSettings(merchantId, settings) {
      const startOperation = new WithStartWorkflowOperation<typeof merchantAutoReload>(
        'merchantAutoReload',
        {
          ...startOptions(merchantId),
          workflowIdConflictPolicy: 'USE_EXISTING',
        },
      );
      return client.workflow.executeUpdateWithStart(updateSettingsUpdate, {
        args: [settings],
        startWorkflowOperation: startOperation,
      });
    },

    async getState(merchantId) {
      return client.workflow.getHandle(merchantWorkflowId(merchantId)).query(getStateQuery);
    },
  };
}
