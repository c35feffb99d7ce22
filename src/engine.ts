/**
 * The engine as its callers (API, SMS pipeline, tests, benchmarks, the demo) use it: the
 * ledger, the merchants' workflows, the merchant service and the usage pipeline, wired
 * over one database, one Stripe client and one Temporal client. The worker is separate.
 */
import type { Client } from '@temporalio/client';
import type Stripe from 'stripe';
import type { DatabaseHandle } from './db/client';
import { createLedger, type Ledger } from './ledger';
import type { Logger } from './logger';
import { createMerchantService, type MerchantService } from './merchants/service';
import { createMerchantWorkflows, type MerchantWorkflows } from './merchants/workflow-client';
import { createUsagePipeline, type UsagePipeline } from './pipeline/usage-pipeline';

export interface EngineDeps {
  readonly database: DatabaseHandle;
  readonly stripe: Stripe;
  readonly temporal: Client;
  /** Task queue of the worker that runs the merchant workflows. */
  readonly taskQueue: string;
  readonly log: Logger;
  /** Called once per `balanceChanged` signal that could not be sent, for the metrics. */
  readonly onSignalFailure?: (merchantId: string) => void;
}

export interface Engine {
  readonly ledger: Ledger;
  readonly workflows: MerchantWorkflows;
  readonly merchants: MerchantService;
  readonly pipeline: UsagePipeline;
}

export function createEngine(deps: EngineDeps): Engine {
  const ledger = createLedger(deps.database);
  const workflows = createMerchantWorkflows(deps.temporal, deps.taskQueue);
  return {
    ledger,
    workflows,
    merchants: createMerchantService({
      db: deps.database.db,
      stripe: deps.stripe,
      workflows,
      log: deps.log,
    }),
    pipeline: createUsagePipeline({
      ledger,
      signaller: workflows,
      log: deps.log,
      ...(deps.onSignalFailure && { onSignalFailure: deps.onSignalFailure }),
    }),
  };
}
